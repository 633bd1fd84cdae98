package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/views"
)

// Notifier posts alert events to notification channels.
type Notifier interface {
	// Wake makes pending posts go out now.
	Wake()
	// PostTest sends the channel's test message at once, without the
	// outbox.
	PostTest(ctx context.Context, ch *models.NotificationChannel, by string) models.Delivery
	// CheckWebhook says why Klaxon would refuse to post to the webhook's
	// host, or returns nil.
	CheckWebhook(ctx context.Context, rawURL string) error
}

// refusedWebhook adds to a channel form's errors that Klaxon would refuse to
// post to the webhook's host, so that the user learns it when saving
// rather than when the first alert's post fails. It reports whether it did.
func (h *Handler) refusedWebhook(c echo.Context, in models.ChannelInput, keepURL bool) (views.FormErrors, bool) {
	if h.Notifier == nil || in.WebhookURL == "" {
		return nil, false
	}
	err := h.Notifier.CheckWebhook(c.Request().Context(), strings.TrimSpace(in.WebhookURL))
	if err == nil {
		return nil, false
	}
	errs := views.FormErrors{}
	var verr models.ValidationErrors
	if errors.As(in.Validate(keepURL), &verr) {
		errs = views.FormErrors(verr)
	}
	if _, bad := errs["webhook_url"]; !bad {
		errs["webhook_url"] = "Klaxon will not post to this webhook: " + strings.TrimPrefix(err.Error(), "refused: ") + "."
	}
	return errs, true
}

// wakeNotifier makes new alert events go out without waiting for the poll.
func (h *Handler) wakeNotifier() {
	if h.Notifier != nil {
		h.Notifier.Wake()
	}
}

func channelInput(c echo.Context) (models.ChannelInput, error) {
	form, err := c.FormParams()
	if err != nil {
		return models.ChannelInput{}, echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	in := models.ChannelInput{
		Name: form.Get("name"), WebhookURL: form.Get("webhook_url"), Events: form["events"],
		Urgencies: form["urgencies"], MattermostChannel: form.Get("mattermost_channel"),
		AllowedUsers: form.Get("allowed_users"),
	}
	for _, s := range form["integrations"] {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			in.IntegrationIDs = append(in.IntegrationIDs, uint(n))
		}
	}
	return in, nil
}

func (h *Handler) channel(c echo.Context) (*models.NotificationChannel, error) {
	return h.DB.Channel(c.Request().Context(), CurrentUser(c).AccountID, c.Param("id"))
}

func (h *Handler) channelForm(c echo.Context, status int, ch *models.NotificationChannel, f models.ChannelInput, errs views.FormErrors) error {
	integrations, err := h.DB.AllIntegrations(c.Request().Context(), CurrentUser(c).AccountID)
	if err != nil {
		return err
	}
	live := integrations[:0]
	for _, i := range integrations {
		if !i.DeletedAt.Valid {
			live = append(live, i)
		}
	}
	var p views.Page
	switch {
	case ch != nil:
		p = h.page(c, "Edit "+ch.Name, "channels")
	case errs != nil: // the form's own error says it
		p = h.page(c, "New notification channel", "channels")
	default:
		if p, err = h.limitPage(c, "New notification channel", "channels", h.DB.ChannelLimitReached); err != nil {
			return err
		}
	}
	return render(c, status, views.ChannelFormPage(p, ch, f, live, errs))
}

func (h *Handler) Channels(c echo.Context) error {
	list, err := h.DB.Channels(c.Request().Context(), CurrentUser(c).AccountID)
	if err != nil {
		return err
	}
	p, err := h.limitPage(c, "Notification channels", "channels", h.DB.ChannelLimitReached)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ChannelsPage(p, list))
}

func (h *Handler) NewChannel(c echo.Context) error {
	f := models.ChannelInput{Events: models.NotifyEvents}
	return h.channelForm(c, http.StatusOK, nil, f, nil)
}

func (h *Handler) CreateChannel(c echo.Context) error {
	in, err := channelInput(c)
	if err != nil {
		return err
	}
	if errs, refused := h.refusedWebhook(c, in, false); refused {
		return h.channelForm(c, http.StatusUnprocessableEntity, nil, in, errs)
	}
	ch, err := h.DB.CreateChannel(c.Request().Context(), CurrentUser(c).AccountID, in)
	var verr models.ValidationErrors
	if errors.As(err, &verr) {
		return h.channelForm(c, http.StatusUnprocessableEntity, nil, in, views.FormErrors(verr))
	}
	var limit *models.LimitError
	if errors.As(err, &limit) {
		return h.channelForm(c, http.StatusConflict, nil, in, views.FormErrors{"form": limit.Error()})
	}
	if err != nil {
		return err
	}
	h.Sessions.Flash(c, "success", "Channel created. Send a test message to check the webhook.")
	return redirect(c, "/channels/"+ch.PublicID)
}

func (h *Handler) ShowChannel(c echo.Context) error {
	ch, err := h.channel(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	deliveries, err := h.DB.Deliveries(ctx, ch.ID, 50)
	if err != nil {
		return err
	}
	pending, err := h.DB.PendingCount(ctx, ch.ID)
	if err != nil {
		return err
	}
	integrations, err := h.DB.AllIntegrations(ctx, ch.AccountID)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ChannelPage(h.page(c, ch.Name, "channels"), ch, integrations, deliveries, pending, time.Now()))
}

func (h *Handler) EditChannel(c echo.Context) error {
	ch, err := h.channel(c)
	if err != nil {
		return err
	}
	f := models.ChannelInput{Name: ch.Name, Events: ch.EventList(), IntegrationIDs: ch.IntegrationIDs(), Urgencies: ch.UrgencyList(), MattermostChannel: ch.MattermostChannel, AllowedUsers: ch.AllowedUsers}
	return h.channelForm(c, http.StatusOK, ch, f, nil)
}

func (h *Handler) UpdateChannel(c echo.Context) error {
	ch, err := h.channel(c)
	if err != nil {
		return err
	}
	in, err := channelInput(c)
	if err != nil {
		return err
	}
	if errs, refused := h.refusedWebhook(c, in, true); refused {
		return h.channelForm(c, http.StatusUnprocessableEntity, ch, in, errs)
	}
	_, err = h.DB.UpdateChannel(c.Request().Context(), ch.AccountID, ch.PublicID, in)
	var verr models.ValidationErrors
	if errors.As(err, &verr) {
		return h.channelForm(c, http.StatusUnprocessableEntity, ch, in, views.FormErrors(verr))
	}
	if err != nil {
		return err
	}
	h.Sessions.Flash(c, "success", "Channel updated.")
	return redirect(c, "/channels/"+ch.PublicID)
}

func (h *Handler) setChannelEnabled(c echo.Context, enabled bool) error {
	ch, err := h.channel(c)
	if err != nil {
		return err
	}
	if err := h.DB.SetChannelEnabled(c.Request().Context(), ch.AccountID, ch.PublicID, enabled); err != nil {
		return err
	}
	if enabled {
		h.Sessions.Flash(c, "success", "Channel enabled: new alert events will be posted.")
	} else {
		h.Sessions.Flash(c, "success", "Channel disabled: nothing new will be posted until you enable it.")
	}
	return redirect(c, "/channels/"+ch.PublicID)
}

func (h *Handler) EnableChannel(c echo.Context) error  { return h.setChannelEnabled(c, true) }
func (h *Handler) DisableChannel(c echo.Context) error { return h.setChannelEnabled(c, false) }

func (h *Handler) ConfirmDeleteChannel(c echo.Context) error {
	ch, err := h.channel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfirmDeleteChannelPage(h.page(c, "Delete "+ch.Name, "channels"), ch))
}

func (h *Handler) DeleteChannel(c echo.Context) error {
	ch, err := h.channel(c)
	if err != nil {
		return err
	}
	if err := h.DB.DeleteChannel(c.Request().Context(), ch.AccountID, ch.PublicID); err != nil {
		return err
	}
	h.Sessions.Flash(c, "success", "Channel “"+ch.Name+"” deleted.")
	return redirect(c, "/channels")
}

// SendTestMessage posts a test message to the channel at once and records
// the attempt in its delivery log.
func (h *Handler) SendTestMessage(c echo.Context) error {
	ch, err := h.channel(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 15*time.Second)
	defer cancel()
	del := h.Notifier.PostTest(ctx, ch, CurrentUser(c).Email)
	if err := h.DB.FinishAttempt(c.Request().Context(), &models.OutboxItem{}, del, "", time.Now()); err != nil {
		return err
	}
	if del.Status >= 200 && del.Status < 300 {
		h.Sessions.Flash(c, "success", "Test message posted: check the channel in Mattermost.")
	} else {
		why := del.Error
		if del.Status != 0 {
			why = "Mattermost answered " + strconv.Itoa(del.Status) + ": " + del.Excerpt
		}
		h.Sessions.Flash(c, "error", "The test message was not posted: "+why)
	}
	return redirect(c, "/channels/"+ch.PublicID)
}
