package models_test

import (
	"os"
	"path/filepath"
	"testing"

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
