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
)

// MaxIntakeBody is the largest intake body Klaxon reads (Mattermost itself
// never sends more than a post, far below this).
const MaxIntakeBody = 1 << 20

// failedRetryAfter is the Retry-After, in seconds, of a 503: enough for a
// restart or a database fail-over to finish.
const failedRetryAfter = 5

// intakeAnswer is the JSON body of the intake endpoint. Text is what
// Mattermost posts back in the channel; it is set only for new alerts on
// integrations that reply in channel, never for errors.
type intakeAnswer struct {
	AlertID      string `json:"alert_id,omitempty"`
	Deduplicated *bool  `json:"deduplicated,omitempty"`
	Urgency      string `json:"urgency,omitempty"`
	URL          string `json:"url,omitempty"`
	Text         string `json:"text,omitempty"`
	ResponseType string `json:"response_type,omitempty"`
	Error        string `json:"error,omitempty"`
}

// Intake is POST /integration/:id, where Mattermost's outgoing webhook
// delivers messages.
func (h *Handler) Intake(c echo.Context) error {
	r := c.Request()
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
	return c.JSON(http.StatusMethodNotAllowed, intakeAnswer{Error: "Send messages with POST: this is the endpoint of a Mattermost outgoing webhook."})
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
	switch {
	case tooLarge:
		req.Refused, req.Message = models.OutcomeTooLarge, "The body is larger than 1 MiB; Klaxon refuses it."
	case readErr != nil:
		req.Refused, req.Message = models.OutcomeInvalid, "The body could not be read completely: "+readProblem(readErr)
	case mediaType == "application/json":
		req.Payload, readErr = models.ParseMattermostJSON(data)
	case mediaType == "application/x-www-form-urlencoded":
		req.Payload, readErr = models.ParseMattermostForm(data)
	default:
		req.Refused = models.OutcomeUnsupported
		req.Message = "Content type " + strconv.Quote(contentType) + " is not supported: send application/json or application/x-www-form-urlencoded, as Mattermost does."
	}
	if req.Refused == "" && readErr != nil {
		req.Refused, req.Message = models.OutcomeInvalid, readErr.Error()
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
		return c.JSON(status, intakeAnswer{Error: res.Message})
	}
	dedup := res.Outcome == models.OutcomeDeduplicated
	ans := intakeAnswer{AlertID: res.AlertPublicID, Deduplicated: &dedup}
	AddLogAttrs(c, "alert", res.AlertPublicID)
	if !dedup {
		ans.Urgency = string(res.Urgency)
		ans.URL = h.BaseURL + "/alerts/" + res.AlertPublicID
		if res.ReplyInChannel {
			ans.Text = "Klaxon alert " + res.AlertPublicID + " opened (" + string(res.Urgency) + "): " + ans.URL
			ans.ResponseType = "comment"
		}
	}
	return c.JSON(status, ans)
}
