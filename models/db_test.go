package models_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"klaxon/web/webtest"
)

// The SQLite file and its folder are created on first start, readable by
// Klaxon's user alone.
func TestOpenCreatesPrivateSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "folder", "klaxon.db")
	db := webtest.OpenDB(t, "sqlite:"+path)
	if err := db.Exec("INSERT INTO settings (key, value) VALUES ('probe', 'x')").Error; err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is readable by others: %v", filepath.Base(p), st.Mode().Perm())
		}
	}
	var mode string
	db.Raw("PRAGMA journal_mode").Scan(&mode)
	var sync int
	db.Raw("PRAGMA synchronous").Scan(&sync)
	if mode != "wal" || sync != 2 {
		t.Errorf("journal_mode %q synchronous %d, want wal and 2 (FULL)", mode, sync)
	}
}

// A database from before the partial index on resolved_at gets it on the
// next start: the full index goes, new (open) alerts cost no entry in the
// new one, and retention still finds old resolved alerts through it.
func TestResolvedAtIndexMigratesToPartial(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "klaxon.db")
	old := webtest.OpenDB(t, url)
	for _, q := range []string{`DROP INDEX idx_alerts_resolved`, `CREATE INDEX idx_alerts_resolved_at ON alerts (resolved_at)`} {
		if err := old.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	db := webtest.OpenDB(t, url)
	var indexes []struct{ Name, SQL string }
	if err := db.Raw(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_alerts_resolved%'`).Scan(&indexes).Error; err != nil {
		t.Fatal(err)
	}
	if len(indexes) != 1 || indexes[0].Name != "idx_alerts_resolved" || !strings.Contains(indexes[0].SQL, "WHERE resolved_at IS NOT NULL") {
		t.Fatalf("indexes on resolved_at after migration: %+v, want only the partial idx_alerts_resolved", indexes)
	}
	var plan []struct{ Detail string }
	if err := db.Raw(`EXPLAIN QUERY PLAN SELECT id FROM alerts WHERE status = 'resolved' AND resolved_at < ? LIMIT 10`, time.Now()).Scan(&plan).Error; err != nil {
		t.Fatal(err)
	}
	if len(plan) == 0 || !strings.Contains(plan[0].Detail, "idx_alerts_resolved") {
		t.Errorf("retention's query plan %+v does not use idx_alerts_resolved", plan)
	}
}
