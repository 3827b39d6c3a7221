package postgres_test

import (
	"context"
	"log"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/postgres"
)

// Sessions in a table of a database the app already has a pool of, through
// the typed constructor. The example needs a server, so it only compiles.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app:secret@localhost:5432/app")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close() // the store never closes a pool it was given

	st, err := postgres.New(pool, &postgres.Options{Table: "sessions", Timeout: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	// Once at startup, unless the table is managed elsewhere.
	if err := st.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}

	m, err := sessionplus.New(ctx, sessionplus.Config{Sessions: []sessionplus.Options{
		{"cookie_name": "session", "store": st},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// The same from a configuration map, as it could come from a file: the
// driver builds its pool from the URL, creates the table if needed, and
// closes the pool when the manager is closed.
func Example_mapConfig() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := sessionplus.New(ctx, sessionplus.Config{Sessions: []sessionplus.Options{{
		"cookie_name":      "session",
		"session_type":     "postgres",
		"url":              "postgres://app:secret@db:5432/app?sslmode=verify-full&pool_max_conns=20",
		"table":            "app.sessions",
		"timeout":          "2s",
		"session_lifetime": "12h",
	}}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// The store deletes expired sessions by itself, in small batches; a job of
// the app can clear a backlog now and then.
func ExampleStore_Sweep() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app:secret@localhost:5432/app")
	if err != nil {
		log.Fatal(err)
	}
	st, err := postgres.New(pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for range time.Tick(10 * time.Minute) {
			if n, err := st.Sweep(ctx); err != nil {
				log.Print(err)
			} else {
				log.Printf("deleted %d expired sessions", n)
			}
		}
	}()
}
