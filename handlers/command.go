package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/web/mattermost"
)

// kindCache remembers integration kinds (they never change), so that the
// intake endpoint tells slash commands from webhooks without a query per
// request.
type kindCache struct {
	mu    sync.Mutex
	kinds map[string]string
}

func (k *kindCache) get(ctx context.Context, db *models.DB, publicID string) (string, error) {
	k.mu.Lock()
	kind, ok := k.kinds[publicID]
	k.mu.Unlock()
	if ok {
		return kind, nil
	}
	kind, err := db.IntegrationKind(ctx, publicID)
	if err != nil {
		return "", err
	}
	k.mu.Lock()
	if k.kinds == nil || len(k.kinds) >= maxKeys {
		k.kinds = map[string]string{}
	}
	k.kinds[publicID] = kind
	k.mu.Unlock()
	return kind, nil
}

// slashCommand answers a Mattermost slash command sent to a slash-command
// integration's endpoint. Every answer, refusals included, is 200 with
// JSON (Mattermost shows anything else as an error instead of the text),
// and every request is written to the integration's request log.
func (h *Handler) slashCommand(c echo.Context, publicID string) error {
	r := c.Request()
	ctx := r.Context()
	integ, err := h.DB.IntegrationByPublicID(ctx, publicID)
	if errors.Is(err, models.ErrNotFound) {
		return c.JSON(http.StatusOK, mattermost.Ephemeral("No Klaxon integration has this URL. Copy the endpoint URL again from the integration's page in Klaxon."))
	}
	if err != nil {
		return err
	}
	AddLogAttrs(c, "integration", publicID)
	body, tooLarge, readErr := readAtMost(r, MaxIntakeBody)
	logRow := models.IntegrationLog{IntegrationID: integ.ID, Source: c.RealIP(), ContentType: r.Header.Get(echo.HeaderContentType), Body: models.MaskToken(string(body))}
	answer := func(outcome models.Outcome, alert string, ans mattermost.CommandAnswer) error {
		logRow.Outcome, logRow.Status, logRow.Message, logRow.AlertPublicID = outcome, http.StatusOK, ans.Text, alert
		AddLogAttrs(c, "outcome", string(outcome))
		if err := h.DB.AddIntegrationLog(context.WithoutCancel(ctx), logRow); err != nil {
			h.Logger(c).Warn("slash command: request log", "err", err)
		}
		return c.JSON(http.StatusOK, ans)
	}
	if h.Actions != nil {
		if delay := h.Actions.Take("command " + publicID); delay > 0 {
			return answer(models.OutcomeRateLimited, "", mattermost.Ephemeral("Too many Klaxon commands at once; try again in a few seconds."))
		}
	}
	if tooLarge || readErr != nil {
		return answer(models.OutcomeTooLarge, "", mattermost.Ephemeral("Klaxon could not read this command."))
	}
	cmd, err := mattermost.ParseCommand(body, r.Header.Get(echo.HeaderAuthorization))
	if err != nil {
		return answer(models.OutcomeInvalid, "", mattermost.Ephemeral("Klaxon refused this request: "+err.Error()+"."))
	}
	switch {
	case !integ.Enabled:
		return answer(models.OutcomeDisabled, "", mattermost.Ephemeral("This Klaxon integration is disabled; enable it on its page in Klaxon."))
	case integ.Token == "":
		return answer(models.OutcomeBadToken, "", mattermost.Ephemeral("Klaxon does not know this command's token yet, so it does nothing. In Klaxon, open the integration, click Edit, paste the token Mattermost shows for this slash command into Token and click Update."))
	case subtle.ConstantTimeCompare([]byte(integ.Token), []byte(cmd.Token)) != 1:
		return answer(models.OutcomeBadToken, "", mattermost.Ephemeral("This command's token does not match the one saved in Klaxon; nothing was done. Copy the token from Mattermost into the integration's Token field in Klaxon."))
	}
	verb, rest := cmd.Verb()
	switch verb {
	case "list":
		page, err := h.DB.Alerts(ctx, integ.AccountID, models.AlertFilter{Statuses: []models.Status{models.StatusOpen, models.StatusAcknowledged}, Limit: 10})
		if err != nil {
			return err
		}
		return answer(models.OutcomeCommand, "", mattermost.Ephemeral(mattermost.AlertList(page.Alerts, page.Older != 0, time.Now(), h.BaseURL)))
	case "ack", "acknowledge", "resolve":
		t := models.Acknowledge
		if verb == "resolve" {
			t = models.Resolve
		}
		return h.commandTransition(c, integ, cmd, t, rest, answer)
	case "page":
		if rest == "" {
			return answer(models.OutcomeInvalid, "", mattermost.Ephemeral("Say what is wrong: `"+cmd.Command+" page db-1 is down, critical`."))
		}
		req := &models.IntakeRequest{IntegrationPublicID: publicID, Draft: cmd.PageDraft(rest), Token: cmd.Token,
			Source: c.RealIP(), ContentType: logRow.ContentType, Body: logRow.Body}
		res, err := h.Writer.Submit(ctx, req)
		if err != nil || !res.Outcome.OK() {
			// The writer has logged the request.
			AddLogAttrs(c, "outcome", string(res.Outcome))
			return c.JSON(http.StatusOK, mattermost.Ephemeral("Klaxon did not open the alert: "+orText(res.Message, "it is shutting down or busy; try again")+"."))
		}
		AddLogAttrs(c, "outcome", string(res.Outcome), "alert", res.AlertPublicID)
		return c.JSON(http.StatusOK, h.Buttons.Paged(res, cmd.ActorName(), h.BaseURL, publicID))
	}
	return answer(models.OutcomeCommand, "", mattermost.Ephemeral(mattermost.Help(cmd.Command)))
}

// commandTransition is `ack ID` and `resolve ID`.
func (h *Handler) commandTransition(c echo.Context, integ *models.Integration, cmd *mattermost.Command, t models.Transition, ref string,
	answer func(models.Outcome, string, mattermost.CommandAnswer) error) error {
	ctx := c.Request().Context()
	if ref == "" || strings.ContainsAny(ref, " \t") {
		return answer(models.OutcomeInvalid, "", mattermost.Ephemeral("Name one alert: `"+cmd.Command+" "+string(t)+" alt_…` (or the last characters of its id)."))
	}
	if !models.UserAllowed(integ.AllowedUsers, cmd.UserName) {
		return answer(models.OutcomeCommand, "", mattermost.Ephemeral("You are not allowed to change Klaxon alerts with this command; nothing was changed."))
	}
	id, matches, err := h.DB.AlertByTail(ctx, integ.AccountID, ref)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return answer(models.OutcomeCommand, "", mattermost.Ephemeral("Klaxon has no alert `"+ref+"` in this team. `"+cmd.Command+" list` shows the open ones."))
	case errors.Is(err, models.ErrAmbiguous):
		return answer(models.OutcomeCommand, "", mattermost.Ephemeral("`"+ref+"` matches several alerts ("+strings.Join(matches, ", ")+"); give more of the id."))
	case err != nil:
		return err
	}
	actor := models.Actor{Name: cmd.ActorName(), ExternalID: cmd.UserID, Via: "mattermost"}
	err = h.DB.ApplyTransitionAs(ctx, integ.AccountID, actor, id, t)
	var conflict *models.ConflictError
	if err != nil && !errors.As(err, &conflict) {
		return err
	}
	det, err := h.DB.Alert(ctx, integ.AccountID, id)
	if err != nil {
		return err
	}
	a := &det.Alert
	if conflict != nil {
		return answer(models.OutcomeCommand, id, mattermost.Ephemeral("Nothing to do: "+id+" is already "+string(a.Status)+alreadyBy(a)+"."))
	}
	return answer(models.OutcomeCommand, id, mattermost.Ephemeral("You "+pastTense(t)+" "+mattermost.StatusLine(a, h.BaseURL)))
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
