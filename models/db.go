// Package models holds Klaxon's data types, their rules and the functions that
// store and load them. It knows nothing of HTTP or HTML.
package models

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DB wraps the GORM handle with what Klaxon needs to know about the database
// behind it.
type DB struct {
	*gorm.DB
	searchLimits SearchLimits
	searchGate   *searchGate
	// Dialect is "sqlite" or "postgres".
	Dialect string
	// FullText tells whether the database has a full-text index for alerts.
	FullText bool
	// Limits cap what each team creates.
	Limits TeamLimits
}

// Open connects to the database named by url ("sqlite:path" or
// "postgres://…"), creating an SQLite file and its folder when needed, and
// migrates the schema. Its errors never show the URL's passwords.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	d, err := open(ctx, databaseURL)
	if err != nil {
		return nil, redactError(err, databaseURL)
	}
	return d, nil
}

func open(ctx context.Context, databaseURL string) (*DB, error) {
	cfg := &gorm.Config{Logger: logger.Discard, TranslateError: true}
	var (
		db      *gorm.DB
		dialect string
		err     error
	)
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		dialect = "postgres"
		// A URL that does not parse cannot have its password found and
		// hidden, and the driver's error quotes pieces of it: say what is
		// wrong without them.
		if _, perr := url.Parse(databaseURL); perr != nil {
			return nil, errors.New("the PostgreSQL database URL is not a valid URL: percent-encode special characters (such as # / ? @ :) in the user name and password, e.g. # as %23")
		}
		db, err = gorm.Open(postgres.Open(databaseURL), cfg)
	case strings.HasPrefix(databaseURL, "sqlite:"):
		dialect = "sqlite"
		var dsn string
		dsn, err = sqliteDSN(strings.TrimPrefix(databaseURL, "sqlite:"))
		if err == nil {
			db, err = gorm.Open(sqlite.Open(dsn), cfg)
		}
	default:
		return nil, fmt.Errorf("database URL %q: want sqlite:PATH or postgres://…", redactURL(databaseURL))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if dialect == "sqlite" {
		// WAL lets readers run beside the one writer; a handful of
		// connections is all SQLite can use.
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
	} else {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	d := &DB{DB: db, Dialect: dialect}
	d.SetSearchLimits(DefaultSearchLimits())
	if err := d.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("migrate schema: %w", err)
	}
	return d, nil
}

// sqliteBusyTimeout is how long a connection waits for SQLite's write lock.
const sqliteBusyTimeout = 10 * time.Second

// sqliteDSN turns a file path into a go-sqlite3 DSN with the settings that
// make a committed write durable: WAL with synchronous=FULL fsyncs the log on
// every commit. Write transactions take the lock at BEGIN so that two writers
// wait for each other instead of failing.
func sqliteDSN(path string) (string, error) {
	if path == "" {
		return "", errors.New("sqlite database path is empty")
	}
	if path != ":memory:" {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return "", fmt.Errorf("create database folder: %w", err)
			}
		}
		// The file holds password hashes, tokens and the session secret:
		// only Klaxon's user may read it (SQLite gives its WAL files the
		// same permissions).
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return "", fmt.Errorf("create database file: %w", err)
		}
		f.Close()
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", strconv.Itoa(int(sqliteBusyTimeout.Milliseconds())))
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode(), nil
}

// migrationLock holds PostgreSQL's advisory lock for migrations in the
// current schema on a connection of its own until unlock is called.
func (d *DB) migrationLock(ctx context.Context) (unlock func(), err error) {
	sqlDB, err := d.DB.DB()
	if err != nil {
		return nil, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	const key = "hashtext('klaxon migrations ' || current_schema())"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("wait for other nodes' migrations: %w", err)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock("+key+")")
		conn.Close()
	}, nil
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	sqlDB, err := d.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the connection pool.
func (d *DB) Close() error {
	sqlDB, err := d.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// migrate brings the schema up to date. On PostgreSQL, nodes that start at
// the same moment on one database take turns (an advisory lock per schema),
// since concurrent CREATE TABLE and CREATE INDEX statements race in the
// catalog; the second node then finds the schema done.
func (d *DB) migrate(ctx context.Context) error {
	if d.Dialect == "postgres" {
		unlock, err := d.migrationLock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	db := d.WithContext(ctx)
	if d.Dialect == "sqlite" {
		// The rollup's rows are read by key range: kept in the key's b-tree
		// itself, a range is one walk instead of a lookup per row.
		if err := db.Exec(`CREATE TABLE IF NOT EXISTS insight_hours (account_id integer NOT NULL, hour integer NOT NULL, facts blob NOT NULL,
			PRIMARY KEY (account_id, hour)) WITHOUT ROWID`).Error; err != nil {
			return err
		}
	}
	if err := db.AutoMigrate(&Setting{}, &Account{}, &User{}, &Session{}, &Integration{}, &Alert{}, &AlertEvent{}, &IntegrationLog{}, &NotificationChannel{}, &OutboxItem{}, &Delivery{}, &RateBucket{}, &ThrottleFailure{}, &InsightHour{}, &InsightTitle{}); err != nil {
		return err
	}
	// One unresolved alert per dedup key and integration: the database, not
	// the code, keeps redeliveries from opening a second alert.
	if err := db.Exec(`CREATE UNIQUE INDEX IF NOT EXISTS idx_alerts_open_dedup ON alerts (integration_id, dedup_key) WHERE status <> 'resolved'`).Error; err != nil {
		return err
	}
	if err := d.dropOldAlertIndexes(ctx); err != nil {
		return err
	}
	return d.migrateFullText(ctx)
}
