package models

import (
	"context"
	"time"
)

// pruneBatch is how many rows one delete statement removes, small enough
// that intake never waits long for the write lock.
const pruneBatch = 500

// PruneResolvedAlerts deletes alerts resolved before cutoff, with their
// timelines, a batch at a time. It returns how many it deleted.
func (d *DB) PruneResolvedAlerts(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		res := d.WithContext(ctx).Exec(`DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE status = 'resolved' AND resolved_at < ? LIMIT ?)`, cutoff.UTC(), pruneBatch)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		if res.RowsAffected < pruneBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond) // let intake in between batches
	}
}

// PruneIntegrationLogs keeps the newest keep request-log rows of every
// integration and deletes the rest, a batch at a time.
func (d *DB) PruneIntegrationLogs(ctx context.Context, keep int) (int64, error) {
	var ids []uint
	if err := d.WithContext(ctx).Unscoped().Model(&Integration{}).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	var total int64
	for _, id := range ids {
		var edge []uint
		if err := d.WithContext(ctx).Model(&IntegrationLog{}).Where("integration_id = ?", id).
			Order("id DESC").Offset(keep-1).Limit(1).Pluck("id", &edge).Error; err != nil {
			return total, err
		}
		if len(edge) == 0 {
			continue
		}
		for {
			res := d.WithContext(ctx).Exec(`DELETE FROM integration_logs WHERE id IN (SELECT id FROM integration_logs WHERE integration_id = ? AND id < ? LIMIT ?)`, id, edge[0], pruneBatch)
			if res.Error != nil {
				return total, res.Error
			}
			total += res.RowsAffected
			if res.RowsAffected < pruneBatch || ctx.Err() != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return total, ctx.Err()
}
