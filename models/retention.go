package models

import (
	"cmp"
	"context"
	"time"

	"gorm.io/gorm"
)

// pruneBatch is how many rows one delete statement removes, small enough
// that intake never waits long for the write lock.
const pruneBatch = 500

// PruneResolvedAlerts deletes alerts resolved before cutoff, with their
// timelines, a batch at a time. It returns how many it deleted.
// The Insights rollup forgets them in the same transaction.
func (d *DB) PruneResolvedAlerts(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var rows []insightRow
		err := d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := lockInsights(tx, d.Dialect); err != nil {
				return err
			}
			if err := tx.Model(&Alert{}).Select(insightColumns).Where("status = 'resolved' AND resolved_at < ?", cutoff.UTC()).Limit(pruneBatch).Scan(&rows).Error; err != nil || len(rows) == 0 {
				return err
			}
			ids := make([]uint, len(rows))
			for i, r := range rows {
				ids[i] = r.ID
			}
			if err := tx.Where("id IN ?", ids).Delete(&Alert{}).Error; err != nil {
				return err
			}
			return forgetInsightAlerts(tx, rows)
		})
		total += int64(len(rows))
		if err != nil || len(rows) < pruneBatch || ctx.Err() != nil {
			return total, cmp.Or(err, ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// PruneIntegrationLogs keeps the newest keep request-log rows of every
// integration and deletes the rest, a batch at a time.
func (d *DB) PruneIntegrationLogs(ctx context.Context, keep int) (int64, error) {
	var ids []uint
	if err := d.WithContext(ctx).Unscoped().Model(&Integration{}).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	return d.keepNewest(ctx, "integration_logs", "integration_id", ids, keep)
}

// PruneDeliveries keeps the newest keep delivery-log rows of every
// notification channel.
func (d *DB) PruneDeliveries(ctx context.Context, keep int) (int64, error) {
	var ids []uint
	if err := d.WithContext(ctx).Model(&NotificationChannel{}).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	return d.keepNewest(ctx, "deliveries", "channel_id", ids, keep)
}

// keepNewest deletes, for each parent, the rows of table beyond the newest
// keep (by id), a batch at a time. table and column are Klaxon's own names.
func (d *DB) keepNewest(ctx context.Context, table, column string, parents []uint, keep int) (int64, error) {
	var total int64
	for _, id := range parents {
		var edge []uint
		if err := d.WithContext(ctx).Table(table).Where(column+" = ?", id).
			Order("id DESC").Offset(keep-1).Limit(1).Pluck("id", &edge).Error; err != nil {
			return total, err
		}
		if len(edge) == 0 {
			continue
		}
		n, err := d.deleteInBatches(ctx, `DELETE FROM `+table+` WHERE id IN (SELECT id FROM `+table+` WHERE `+column+` = ? AND id < ? LIMIT ?)`, id, edge[0])
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, ctx.Err()
}

// PruneOutbox deletes posts that are done (delivered or given up) since
// before cutoff, and posts whose alert no longer exists.
func (d *DB) PruneOutbox(ctx context.Context, cutoff time.Time) (int64, error) {
	done, err := d.deleteInBatches(ctx, `DELETE FROM outbox_items WHERE id IN (SELECT id FROM outbox_items WHERE state <> 'pending' AND next_attempt_at < ? LIMIT ?)`, cutoff.UTC())
	if err != nil {
		return done, err
	}
	orphans, err := d.deleteInBatches(ctx, `DELETE FROM outbox_items WHERE id IN (SELECT o.id FROM outbox_items o WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.id = o.alert_id) LIMIT ?)`)
	return done + orphans, err
}

// deleteInBatches runs a DELETE whose last argument is the batch size until
// it deletes less than a batch, pausing between batches so that intake gets
// the write lock.
func (d *DB) deleteInBatches(ctx context.Context, query string, args ...any) (int64, error) {
	var total int64
	args = append(args, pruneBatch)
	for {
		res := d.WithContext(ctx).Exec(query, args...)
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		if res.RowsAffected < pruneBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
}
