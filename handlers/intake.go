package handlers

import (
	"context"
	"errors"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/web/mattermost"
)

// MaxIntakeBody is the largest intake body Klaxon reads (Mattermost itself
// never sends more than a post, far below this).
const MaxIntakeBody = 1 << 20

// failedRetryAfter is the Retry-After, in seconds, of a 503: enough for a
// restart or a database fail-over to finish.
const failedRetryAfter = 5

// Intake is POST /integration/:id, where Mattermost's outgoing webhook
// delivers messages.
func (h *Handler) Intake(c echo.Context) error {
	r := c.Request()
	if models.LooksLikePublicID(c.Param("id"), "int_") {
		// Unknown ids go on to the writer, which answers them.
		if kind, err := h.kinds.get(r.Context(), h.DB, c.Param("id")); err == nil && kind == models.KindMattermostSlash {
			return h.slashCommand(c, c.Param("id"))
		}
	}
	res, err := h.ingest(c, c.Param("id"), r.Header.Get(echo.HeaderContentType), r.ContentLength, r.Body)
	if err != nil {
		return err
	}
	return h.answerIntake(c, res)
}

// IntakeWrongMethod answers other methods on the endpoint in JSON, as
// Mattermost and curl users expect there.
func (h *Handler) IntakeWrongMethod(c echo.Context) error {
	c.Response().Header().Set("Allow", http.MethodPost)
	return c.JSON(http.StatusMethodNotAllowed, mattermost.WrongMethod())
}

// ingest reads and parses one delivery and hands it to the writer. It is
// shared by the endpoint and the "Send test alert" button.
func (h *Handler) ingest(c echo.Context, publicID, contentType string, length int64, body io.Reader) (models.IntakeResult, error) {
	if !models.LooksLikePublicID(publicID, "int_") {
		return models.IntakeResult{Outcome: models.OutcomeUnknown, Message: "No integration has this URL. Copy the endpoint URL again from the integration's page in Klaxon."}, nil
	}
	req := &models.IntakeRequest{IntegrationPublicID: publicID, Source: c.RealIP(), ContentType: models.CleanText(contentType)}
	data, tooLarge, readErr := readLimited(body, length)
	req.Body = models.MaskToken(string(data))
	mediaType, _, _ := mime.ParseMediaType(contentType)
	var msg *mattermost.Outgoing
	switch {
	case tooLarge:
		req.Refused, req.Message = models.OutcomeTooLarge, "The body is larger than 1 MiB; Klaxon refuses it."
	case readErr != nil:
		req.Refused, req.Message = models.OutcomeInvalid, "The body could not be read completely: "+readProblem(readErr)
	case mediaType == "application/json":
		msg, readErr = mattermost.ParseJSON(data)
	case mediaType == "application/x-www-form-urlencoded":
		msg, readErr = mattermost.ParseForm(data)
	default:
		req.Refused = models.OutcomeUnsupported
		req.Message = "Content type " + strconv.Quote(contentType) + " is not supported: send application/json or application/x-www-form-urlencoded, as Mattermost does."
	}
	if req.Refused == "" && readErr != nil {
		req.Refused, req.Message = models.OutcomeInvalid, readErr.Error()
	}
	if req.Refused == "" {
		req.Draft, req.Token = msg.Draft(), msg.Token
	}
	ctx := c.Request().Context()
	if req.Refused != "" {
		// A body that could not be read (too slow) has cancelled the
		// request's context; the refusal must still reach the request log.
		ctx = context.WithoutCancel(ctx)
	}
	res, err := h.Writer.Submit(ctx, req)
	if err != nil {
		// Not queued (shutting down) or given up in the queue (the sender
		// went away): nothing was stored, and the request log says so, as
		// long as such rows come at a modest rate (senders that flood and
		// hang up must not turn this into a write of their own).
		var logErr error
		if h.UnstoredLogs == nil || h.UnstoredLogs.Allow() {
			logErr = h.DB.LogUnstored([]*models.IntakeRequest{req}, "Klaxon was shutting down or too busy and did not store this request. Send it again.")
		}
		res = models.IntakeResult{Outcome: models.OutcomeFailed, Message: "Klaxon is shutting down or busy; the alert was not stored. Send it again.", Err: errors.Join(err, logErr)}
	}
	if res.Err != nil {
		AddLogAttrs(c, "err", res.Err.Error())
	}
	return res, nil
}

// readLimited reads at most MaxIntakeBody bytes and says whether there was
// more.
func readLimited(body io.Reader, length int64) (data []byte, tooLarge bool, err error) {
	if length > MaxIntakeBody {
		return nil, true, nil
	}
	data, err = io.ReadAll(io.LimitReader(body, MaxIntakeBody+1))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) || len(data) > MaxIntakeBody {
		return data[:min(len(data), 4096)], true, nil
	}
	return data, false, err
}

// readProblem says why a body could not be read without quoting the error,
// which names Klaxon's own socket address.
func readProblem(err error) string {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return "it did not arrive in time."
	}
	return "the connection broke off before its end."
}

func (h *Handler) answerIntake(c echo.Context, res models.IntakeResult) error {
	status := res.Outcome.Status()
	// One line per request: the request line gets the outcome.
	AddLogAttrs(c, "integration", c.Param("id"), "outcome", string(res.Outcome))
	if !res.Outcome.OK() {
		switch res.Outcome {
		case models.OutcomeRateLimited:
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(res.RetryAfter.Seconds(), 1)))))
		case models.OutcomeFailed:
			c.Response().Header().Set("Retry-After", strconv.Itoa(failedRetryAfter))
		}
	}
	if res.Outcome.OK() {
		AddLogAttrs(c, "alert", res.AlertPublicID)
	}
	return c.JSON(status, mattermost.IntakeReply(res, h.BaseURL, h.Buttons, c.Param("id")))
}
