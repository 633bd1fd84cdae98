package models

import (
	"context"
	"strings"
)

// migrateFullText adds the text index that keeps alert search fast: FTS5 on
// SQLite (when the driver was built with it) and a GIN index over a tsvector
// on PostgreSQL. Without FTS5, search falls back to a LIKE scan.
func (d *DB) migrateFullText(ctx context.Context) error {
	db := d.WithContext(ctx)
	switch d.Dialect {
	case "postgres":
		d.FullText = true
		return db.Exec(`CREATE INDEX IF NOT EXISTS idx_alerts_fts ON alerts USING GIN (to_tsvector('simple', title || ' ' || description))`).Error
	case "sqlite":
		var n int
		if err := db.Raw(`SELECT count(*) FROM pragma_compile_options WHERE compile_options = 'ENABLE_FTS5'`).Scan(&n).Error; err != nil || n == 0 {
			return nil
		}
		d.FullText = true
		stmts := []string{
			`CREATE VIRTUAL TABLE IF NOT EXISTS alerts_fts USING fts5(title, description, content='alerts', content_rowid='id')`,
			`CREATE TRIGGER IF NOT EXISTS alerts_fts_ai AFTER INSERT ON alerts BEGIN
				INSERT INTO alerts_fts(rowid, title, description) VALUES (new.id, new.title, new.description);
			END`,
			`CREATE TRIGGER IF NOT EXISTS alerts_fts_ad AFTER DELETE ON alerts BEGIN
				INSERT INTO alerts_fts(alerts_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
			END`,
			`CREATE TRIGGER IF NOT EXISTS alerts_fts_au AFTER UPDATE OF title, description ON alerts BEGIN
				INSERT INTO alerts_fts(alerts_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
				INSERT INTO alerts_fts(rowid, title, description) VALUES (new.id, new.title, new.description);
			END`,
		}
		for _, s := range stmts {
			if err := db.Exec(s).Error; err != nil {
				return err
			}
		}
	}
	return nil
}

// ftsQuery turns what a user typed into an FTS5 query that matches every
// word as a prefix, with FTS5's own syntax characters taken literally.
func ftsQuery(text string) string {
	var parts []string
	for _, w := range strings.Fields(text) {
		parts = append(parts, `"`+strings.ReplaceAll(w, `"`, `""`)+`"*`)
	}
	return strings.Join(parts, " ")
}
