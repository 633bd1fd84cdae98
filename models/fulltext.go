package models

import (
	"context"

	"gorm.io/gorm"
)

// migrateFullText adds the text index that keeps alert search fast: FTS5 on
// SQLite (when the driver was built with it) and a GIN index over a tsvector
// on PostgreSQL. Both hold each alert's team as a word of its own, which a
// search matches first, so that a search walks its own team's alerts only.
// Without FTS5, search falls back to a LIKE scan of the team's alerts.
func (d *DB) migrateFullText(ctx context.Context) error {
	db := d.WithContext(ctx)
	switch d.Dialect {
	case "postgres":
		d.FullText = true
		if err := db.Exec(`CREATE INDEX IF NOT EXISTS idx_alerts_search ON alerts USING GIN (` + pgSearchVector + `)`).Error; err != nil {
			return err
		}
		return db.Exec(`DROP INDEX IF EXISTS idx_alerts_fts`).Error
	case "sqlite":
		var n int
		if err := db.Raw(`SELECT count(*) FROM pragma_compile_options WHERE compile_options = 'ENABLE_FTS5'`).Scan(&n).Error; err != nil || n == 0 {
			return nil
		}
		d.FullText = true
		return db.Transaction(migrateFTS5)
	}
	return nil
}

// migrateFTS5 creates alerts_text, filling it from the alerts when it is
// new, and drops alerts_fts, the index of earlier versions, which had no
// team column.
func migrateFTS5(tx *gorm.DB) error {
	var exists int
	if err := tx.Raw(`SELECT count(*) FROM sqlite_master WHERE name = 'alerts_text'`).Scan(&exists).Error; err != nil {
		return err
	}
	stmts := []string{
		`DROP TRIGGER IF EXISTS alerts_fts_ai`,
		`DROP TRIGGER IF EXISTS alerts_fts_ad`,
		`DROP TRIGGER IF EXISTS alerts_fts_au`,
		`DROP TABLE IF EXISTS alerts_fts`,
		`CREATE VIEW IF NOT EXISTS alerts_text_source AS SELECT id, title, description, 'k' || account_id AS team FROM alerts`,
		`CREATE VIRTUAL TABLE IF NOT EXISTS alerts_text USING fts5(title, description, team, content='alerts_text_source', content_rowid='id')`,
		`CREATE TRIGGER IF NOT EXISTS alerts_text_ai AFTER INSERT ON alerts BEGIN
			INSERT INTO alerts_text(rowid, title, description, team) VALUES (new.id, new.title, new.description, 'k' || new.account_id);
		END`,
		`CREATE TRIGGER IF NOT EXISTS alerts_text_ad AFTER DELETE ON alerts BEGIN
			INSERT INTO alerts_text(alerts_text, rowid, title, description, team) VALUES ('delete', old.id, old.title, old.description, 'k' || old.account_id);
		END`,
		`CREATE TRIGGER IF NOT EXISTS alerts_text_au AFTER UPDATE OF title, description, account_id ON alerts BEGIN
			INSERT INTO alerts_text(alerts_text, rowid, title, description, team) VALUES ('delete', old.id, old.title, old.description, 'k' || old.account_id);
			INSERT INTO alerts_text(rowid, title, description, team) VALUES (new.id, new.title, new.description, 'k' || new.account_id);
		END`,
	}
	if exists == 0 {
		stmts = append(stmts, `INSERT INTO alerts_text(alerts_text) VALUES ('rebuild')`)
	}
	for _, s := range stmts {
		if err := tx.Exec(s).Error; err != nil {
			return err
		}
	}
	return nil
}
