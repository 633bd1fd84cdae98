package models

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gorm.io/gorm"
)

// Outcome is what became of an intake request.
type Outcome string

const (
	OutcomeAccepted     Outcome = "accepted"
	OutcomeDeduplicated Outcome = "deduplicated"
	OutcomeBadToken     Outcome = "bad_token"
	OutcomeUnknown      Outcome = "unknown_integration"
	OutcomeDisabled     Outcome = "disabled"
	OutcomeInvalid      Outcome = "invalid"
	OutcomeTooLarge     Outcome = "too_large"
	OutcomeUnsupported  Outcome = "unsupported_type"
	OutcomeRateLimited  Outcome = "rate_limited"
	OutcomeFailed       Outcome = "failed"
	// OutcomeCommand is a slash command that was answered.
	OutcomeCommand Outcome = "command"
)

// Status is the HTTP status the intake endpoint answers with for o.
func (o Outcome) Status() int {
	switch o {
	case OutcomeAccepted, OutcomeDeduplicated, OutcomeCommand:
		return http.StatusOK
	case OutcomeBadToken:
		return http.StatusForbidden
	case OutcomeUnknown:
		return http.StatusNotFound
	case OutcomeDisabled:
		return http.StatusConflict
	case OutcomeInvalid:
		return http.StatusBadRequest
	case OutcomeTooLarge:
		return http.StatusRequestEntityTooLarge
	case OutcomeUnsupported:
		return http.StatusUnsupportedMediaType
	case OutcomeRateLimited:
		return http.StatusTooManyRequests
	default:
		return http.StatusServiceUnavailable
	}
}

// Label is the outcome in words for the request log.
func (o Outcome) Label() string {
	switch o {
	case OutcomeAccepted:
		return "Alert created"
	case OutcomeDeduplicated:
		return "Redelivery"
	case OutcomeBadToken:
		return "Wrong token"
	case OutcomeDisabled:
		return "Integration disabled"
	case OutcomeInvalid:
		return "Bad request"
	case OutcomeTooLarge:
		return "Body too large"
	case OutcomeUnsupported:
		return "Unsupported content type"
	case OutcomeRateLimited:
		return "Rate limited"
	case OutcomeUnknown:
		return "Unknown integration"
	case OutcomeCommand:
		return "Command"
	default:
		return "Failed"
	}
}

// OK reports whether the request made or updated an alert.
func (o Outcome) OK() bool { return o == OutcomeAccepted || o == OutcomeDeduplicated }

// IntegrationLog is one intake request, accepted or not.
type IntegrationLog struct {
	ID            uint      `gorm:"primaryKey;index:idx_logs_integration_id,priority:2"`
	IntegrationID uint      `gorm:"not null;index:idx_logs_integration_id,priority:1"`
	CreatedAt     time.Time `gorm:"not null"`
	Source        string    `gorm:"size:100;not null;default:''"`
	Outcome       Outcome   `gorm:"size:30;not null"`
	Status        int       `gorm:"not null"`
	Message       string    `gorm:"size:500;not null;default:''"`
	AlertPublicID string    `gorm:"size:40;not null;default:''"`
	ContentType   string    `gorm:"size:100;not null;default:''"`
	Body          string    `gorm:"not null;default:''"`
}

// IntegrationLogs returns the newest limit requests of account's integration.
func (d *DB) IntegrationLogs(ctx context.Context, accountID, integrationID uint, limit int) ([]IntegrationLog, error) {
	var logs []IntegrationLog
	err := d.WithContext(ctx).
		Where("integration_id = ? AND integration_id IN (SELECT id FROM integrations WHERE account_id = ?)", integrationID, accountID).
		Order("id DESC").Limit(limit).Find(&logs).Error
	return logs, err
}

// IntegrationLog returns one request-log row of an integration; callers
// have already checked that the integration is the user's.
func (d *DB) IntegrationLog(ctx context.Context, integrationID, id uint) (*IntegrationLog, error) {
	var l IntegrationLog
	err := d.WithContext(ctx).Where("id = ? AND integration_id = ?", id, integrationID).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &l, err
}

// LogUnstored writes request-log rows saying that reqs were not stored (a
// failed batch, a request given up while queued), for the requests whose
// integration exists. It takes at most a few seconds: it is best effort, on
// a database that has just failed a write.
func (d *DB) LogUnstored(reqs []*IntakeRequest, message string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ids := map[string]uint{}
	masks := map[string]*tokenMask{}
	for _, r := range reqs {
		ids[r.IntegrationPublicID] = 0
	}
	publicIDs := make([]string, 0, len(ids))
	for id := range ids {
		publicIDs = append(publicIDs, id)
	}
	var found []Integration
	if err := d.WithContext(ctx).Select("id", "public_id", "token").Where("public_id IN ?", publicIDs).Find(&found).Error; err != nil {
		return fmt.Errorf("log unstored requests: %w", err)
	}
	for _, i := range found {
		ids[i.PublicID] = i.ID
		masks[i.PublicID] = newTokenMask(i.Token)
	}
	now := time.Now().UTC()
	var rows []IntegrationLog
	for _, r := range reqs {
		if ids[r.IntegrationPublicID] == 0 {
			continue
		}
		masks[r.IntegrationPublicID].request(r)
		// A request that failed keeps as much body as an accepted one.
		p := prepare(&IntakeRequest{Source: r.Source, ContentType: r.ContentType, Body: r.Body})
		rows = append(rows, IntegrationLog{IntegrationID: ids[r.IntegrationPublicID], CreatedAt: now, Source: p.source,
			Outcome: OutcomeFailed, Status: OutcomeFailed.Status(), Message: truncate(message, 500), ContentType: p.contentType, Body: p.logBody})
	}
	if len(rows) == 0 {
		return nil
	}
	if err := d.WithContext(ctx).CreateInBatches(rows, 100).Error; err != nil {
		return fmt.Errorf("log unstored requests: %w", err)
	}
	return nil
}

// AddIntegrationLog writes one request-log row (a request answered outside
// the intake writer, such as a slash command), its texts cut to fit.
func (d *DB) AddIntegrationLog(ctx context.Context, l IntegrationLog) error {
	p := prepare(&IntakeRequest{Source: l.Source, ContentType: l.ContentType, Body: l.Body})
	l.Source, l.ContentType, l.Body = p.source, p.contentType, p.logBody
	if !l.Outcome.OK() && l.Outcome != OutcomeCommand {
		l.Body = refusedLogBody(l.Body)
	}
	l.Message, l.AlertPublicID = truncate(CleanText(l.Message), 500), truncate(l.AlertPublicID, 40)
	l.CreatedAt = time.Now().UTC()
	return d.WithContext(ctx).Create(&l).Error
}
