package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/views"
)

// integrationForm reads the integration form. Checkboxes are absent when
// unticked, so the form carries reply_in_channel_present to tell "unticked"
// from "not on this form".
func integrationForm(c echo.Context) models.IntegrationInput {
	return models.IntegrationInput{
		Name:           c.FormValue("name"),
		DefaultUrgency: c.FormValue("default_urgency"),
		Token:          c.FormValue("token"),
		RemoveToken:    c.FormValue("remove_token") == "1",
		ReplyInChannel: c.FormValue("reply_in_channel") == "1",
		SiteURL:        c.FormValue("site_url"),
		AllowedUsers:   c.FormValue("allowed_users"),
		Kind:           c.FormValue("kind"),
	}
}

func formView(in models.IntegrationInput) views.IntegrationForm {
	return views.IntegrationForm{Name: in.Name, DefaultUrgency: in.DefaultUrgency, ReplyInChannel: in.ReplyInChannel, SiteURL: in.SiteURL, RemoveToken: in.RemoveToken, AllowedUsers: in.AllowedUsers, Kind: in.Kind}
}

func (h *Handler) endpointURL(i *models.Integration) string {
	return h.BaseURL + "/integration/" + i.PublicID
}

// integration loads the signed-in account's integration named in the URL.
func (h *Handler) integration(c echo.Context) (*models.Integration, error) {
	return h.DB.Integration(c.Request().Context(), CurrentUser(c).AccountID, c.Param("id"))
}

func (h *Handler) Integrations(c echo.Context) error {
	list, err := h.DB.Integrations(c.Request().Context(), CurrentUser(c).AccountID)
	if err != nil {
		return err
	}
	p, err := h.limitPage(c, "Integrations", "integrations", h.DB.IntegrationLimitReached)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.IntegrationsPage(p, list, time.Now()))
}

func (h *Handler) NewIntegrationCatalog(c echo.Context) error {
	p, err := h.limitPage(c, "New integration", "integrations", h.DB.IntegrationLimitReached)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.CatalogPage(p))
}

func (h *Handler) NewIntegration(c echo.Context) error {
	f := views.IntegrationForm{Name: "Mattermost", DefaultUrgency: string(models.UrgencyHigh), ReplyInChannel: true, Kind: models.KindMattermostOutgoing}
	p, err := h.limitPage(c, "New Mattermost integration", "integrations", h.DB.IntegrationLimitReached)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.NewIntegrationPage(p, f, nil))
}

// NewSlashIntegration is the form of a Mattermost slash command.
func (h *Handler) NewSlashIntegration(c echo.Context) error {
	f := views.IntegrationForm{Name: "Mattermost /klaxon", DefaultUrgency: string(models.UrgencyHigh), ReplyInChannel: true, Kind: models.KindMattermostSlash}
	p, err := h.limitPage(c, "New Mattermost slash command", "integrations", h.DB.IntegrationLimitReached)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.NewIntegrationPage(p, f, nil))
}

func (h *Handler) CreateIntegration(c echo.Context) error {
	in := integrationForm(c)
	in.Token = "" // the token is pasted later, via Edit
	i, err := h.DB.CreateIntegration(c.Request().Context(), CurrentUser(c).AccountID, in)
	var verr models.ValidationErrors
	if errors.As(err, &verr) {
		return render(c, http.StatusUnprocessableEntity, views.NewIntegrationPage(h.page(c, "New Mattermost integration", "integrations"), formView(in), views.FormErrors(verr)))
	}
	var limit *models.LimitError
	if errors.As(err, &limit) {
		return render(c, http.StatusConflict, views.NewIntegrationPage(h.page(c, "New Mattermost integration", "integrations"), formView(in), views.FormErrors{"form": limit.Error()}))
	}
	if err != nil {
		return err
	}
	h.Logger(c).Info("integration created", "integration", i.PublicID, "account", i.AccountID)
	if i.Kind == models.KindMattermostSlash {
		h.Sessions.Flash(c, "success", "Integration created. Copy its endpoint URL into a Mattermost slash command, then paste the command's token here.")
	} else {
		h.Sessions.Flash(c, "success", "Integration created. Copy its endpoint URL into a Mattermost outgoing webhook.")
	}
	return redirect(c, "/integrations/"+i.PublicID)
}

func (h *Handler) ShowIntegration(c echo.Context) error {
	i, err := h.integration(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	recent, err := h.DB.RecentAlerts(ctx, i.AccountID, i.ID, 10)
	if err != nil {
		return err
	}
	logs, err := h.DB.IntegrationLogs(ctx, i.AccountID, i.ID, 50)
	if err != nil {
		return err
	}
	v := views.IntegrationView{Integration: i, EndpointURL: h.endpointURL(i), RecentAlerts: recent, Logs: logs, Now: time.Now()}
	return render(c, http.StatusOK, views.IntegrationPage(h.page(c, i.Name, "integrations"), v))
}

func (h *Handler) EditIntegration(c echo.Context) error {
	i, err := h.integration(c)
	if err != nil {
		return err
	}
	f := views.IntegrationForm{Name: i.Name, DefaultUrgency: string(i.DefaultUrgency), ReplyInChannel: i.ReplyInChannel, SiteURL: i.SiteURL, AllowedUsers: i.AllowedUsers, Kind: i.Kind}
	return render(c, http.StatusOK, views.EditIntegrationPage(h.page(c, "Edit "+i.Name, "integrations"), i, f, nil))
}

func (h *Handler) UpdateIntegration(c echo.Context) error {
	i, err := h.integration(c)
	if err != nil {
		return err
	}
	in := integrationForm(c)
	in.Kind = i.Kind // kept as created
	updated, err := h.DB.UpdateIntegration(c.Request().Context(), i.AccountID, i.PublicID, in)
	var verr models.ValidationErrors
	if errors.As(err, &verr) {
		return render(c, http.StatusUnprocessableEntity, views.EditIntegrationPage(h.page(c, "Edit "+i.Name, "integrations"), i, formView(in), views.FormErrors(verr)))
	}
	if err != nil {
		return err
	}
	msg := "Integration updated."
	switch {
	case in.RemoveToken && i.Token != "":
		msg = "Integration updated. The token was removed: requests no longer need one."
	case in.Token != "" && in.Token != i.Token:
		msg = "Integration updated. From now on only requests with this token create alerts."
	}
	h.Logger(c).Info("integration updated", "integration", updated.PublicID, "token_set", updated.Token != "")
	h.Sessions.Flash(c, "success", msg)
	return redirect(c, "/integrations/"+updated.PublicID)
}

func (h *Handler) setEnabled(c echo.Context, enabled bool) error {
	i, err := h.integration(c)
	if err != nil {
		return err
	}
	if err := h.DB.SetIntegrationEnabled(c.Request().Context(), i.AccountID, i.PublicID, enabled); err != nil {
		return err
	}
	if enabled {
		h.Sessions.Flash(c, "success", "Integration enabled: Mattermost's requests create alerts again.")
	} else {
		h.Sessions.Flash(c, "success", "Integration disabled: Mattermost's requests are refused (409) until you enable it.")
	}
	return redirect(c, "/integrations/"+i.PublicID)
}

func (h *Handler) EnableIntegration(c echo.Context) error  { return h.setEnabled(c, true) }
func (h *Handler) DisableIntegration(c echo.Context) error { return h.setEnabled(c, false) }

func (h *Handler) ConfirmDeleteIntegration(c echo.Context) error {
	i, err := h.integration(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfirmDeletePage(h.page(c, "Delete "+i.Name, "integrations"), i))
}

func (h *Handler) DeleteIntegration(c echo.Context) error {
	i, err := h.integration(c)
	if err != nil {
		return err
	}
	if err := h.DB.DeleteIntegration(c.Request().Context(), i.AccountID, i.PublicID); err != nil {
		return err
	}
	h.Logger(c).Info("integration deleted", "integration", i.PublicID)
	h.Sessions.Flash(c, "success", "Integration “"+i.Name+"” deleted. Its alerts are still in the alert list.")
	return redirect(c, "/integrations")
}

// SendTestAlert runs a Mattermost-shaped request, token included, through
// the same intake path as real deliveries and shows the resulting alert.
func (h *Handler) SendTestAlert(c echo.Context) error {
	i, err := h.integration(c)
	if err != nil {
		return err
	}
	now := time.Now()
	u := CurrentUser(c)
	body, err := json.Marshal(map[string]any{
		"token": i.Token, "team_id": "klaxon-test", "team_domain": "klaxon-test",
		"channel_id": "klaxon-test", "channel_name": "klaxon-test", "timestamp": now.UnixMilli(),
		"user_id": "klaxon-test", "user_name": u.Email, "post_id": "test-" + models.RandomToken(10),
		"text":         "Test alert from Klaxon, sent by " + u.Email + " at " + now.UTC().Format("15:04:05 UTC"),
		"trigger_word": "", "file_ids": "",
	})
	if err != nil {
		return err
	}
	res, err := h.ingest(c, i.PublicID, "application/json", int64(len(body)), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if !res.Outcome.OK() {
		h.Sessions.Flash(c, "error", "The test alert was refused ("+strconv.Itoa(res.Outcome.Status())+"): "+res.Message)
		return redirect(c, "/integrations/"+i.PublicID)
	}
	h.Sessions.Flash(c, "success", "Test alert created through the endpoint. This is what Mattermost's messages will look like.")
	return redirect(c, "/alerts/"+res.AlertPublicID)
}

// ShowIntegrationLog shows one request of the log, body included.
func (h *Handler) ShowIntegrationLog(c echo.Context) error {
	i, err := h.integration(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(c.Param("log"), 10, 64)
	if err != nil {
		return models.ErrNotFound
	}
	l, err := h.DB.IntegrationLog(c.Request().Context(), i.ID, uint(id))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.LogPage(h.page(c, "Request", "integrations"), i, l, prettyBody(l.Body, l.ContentType)))
}
