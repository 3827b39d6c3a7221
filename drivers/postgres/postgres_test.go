package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/postgres"
)

// The tests run against the server in SESSIONPLUS_POSTGRES_URL (as
// ./scripts/test starts it), each in a table of its own with a random
// name, dropped when the test ends.
const envURL = "SESSIONPLUS_POSTGRES_URL"

// unreachable is a URL where no server listens, with a password that no
// error may show.
const unreachable = "postgres://user:s3cr3t-pw@127.0.0.1:1/db?connect_timeout=2"

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)

func randomName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// connect returns a pool of the test server, closed when the test ends. It
// skips the test when there is no server (fails under CI=true).
func connect(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), drivertest.ServerFromEnv(t, envURL))
	if err != nil {
		t.Fatalf("a pool of %s: %v", envURL, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newTable returns the name of a table that does not exist yet, dropped
// (if it was made) when the test ends.
func newTable(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	name := randomName("sessionplus_test_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Errorf("dropping the test table %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a store of a new table of pool, created, and closed
// when the test ends.
func newStore(t testing.TB, pool *pgxpool.Pool, opts *postgres.Options) *postgres.Store {
	t.Helper()
	o := postgres.Options{Logger: discard}
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = newTable(t, pool)
	}
	st, err := postgres.New(pool, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// harness makes a store of one table for each case.
type harness struct {
	pool  *pgxpool.Pool
	table string
	mu    sync.Mutex
	made  []*postgres.Store
}

func (h *harness) MakeStore(context.Context) (sessionplus.Store, error) {
	st, err := postgres.New(h.pool, &postgres.Options{Table: h.table, Logger: discard})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.made = append(h.made, st)
	h.mu.Unlock()
	return st, nil
}

func (*harness) Stateless() bool { return false }

func (h *harness) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, st := range h.made {
		st.Close()
	}
}

func TestConformance(t *testing.T) {
	pool := connect(t)
	table := newStore(t, pool, nil).Table()
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return &harness{pool: pool, table: table}, nil
	})
}

// withUser returns the URL u with the user info and database replaced.
func withUser(t *testing.T, u string, user *url.Userinfo, db string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pu.User = user
	pu.Path = "/" + db
	return pu.String()
}

func TestOpen(t *testing.T) {
	// A pool that never reaches a server: pgxpool connects lazily, and the
	// cases that use it fail before any I/O.
	offline, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/x")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(offline.Close)

	pw := []string{"s3cr3t-pw"}
	tests := []struct {
		name    string
		server  bool // needs the test server
		opts    func(t *testing.T, table string) sessionplus.Options
		before  string        // SQL run first, with %s the quoted table
		timeout time.Duration // of Open's context; default 30s
		wantErr string        // a substring of the error; "" for none
		config  bool          // the error must wrap sessionplus.ErrConfig
		notIn   []string      // must not be in the error
	}{
		{
			name: "ok, url", server: true,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"url": drivertest.ServerFromEnv(t, envURL), "table": table}
			},
		},
		{
			name: "ok, client and every key", server: true,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": table, "create_table": true, "timeout": "2s"}
			},
		},
		{
			name: "ok, timeout in seconds", server: true,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": table, "timeout": 3.0}
			},
		},
		{
			name: "ok, create_table false on a table made by hand", server: true,
			before: `CREATE TABLE %s (token text PRIMARY KEY, data jsonb NOT NULL, expiry timestamptz NOT NULL, user_key text)`,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": table, "create_table": false}
			},
		},
		{
			name: "ok, a table of an earlier version is upgraded", server: true,
			before: oldSchema,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": table}
			},
		},
		{
			name: "nok, create_table false on a table of an earlier version", server: true,
			before: oldSchema,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": table, "create_table": false}
			},
			wantErr: `has no column "user_key" (a table of an earlier version of the driver): let the store upgrade it (create_table true), or run ALTER TABLE`,
			config:  true,
		},
		{
			name: "nok, a user_key of another type", server: true,
			before: `CREATE TABLE %s (token text PRIMARY KEY, data jsonb NOT NULL, expiry timestamptz NOT NULL, user_key bigint)`,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": table}
			},
			wantErr: `the column "user_key" of the table sessionplus_test_`, config: true,
		},
		{
			name: "ok, schema-qualified table", server: true,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": "public." + table}
			},
		},
		{
			name: "nok, create_table false and no table", server: true,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": table, "create_table": false}
			},
			wantErr: `key "table": the table sessionplus_test_`, config: true,
		},
		{
			name: "nok, a table of another shape", server: true,
			before: `CREATE TABLE %s (token text PRIMARY KEY, data text NOT NULL, expiry timestamptz NOT NULL)`,
			opts: func(t *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "table": table}
			},
			wantErr: `the column "data" of the table sessionplus_test_`, config: true,
		},
		{
			name: "nok, unknown key",
			opts: func(_ *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table_name": table}
			},
			wantErr: `unknown key "table_name"`, config: true,
		},
		{
			name:    "nok, neither client nor url",
			opts:    func(_ *testing.T, table string) sessionplus.Options { return sessionplus.Options{"table": table} },
			wantErr: `key "client" or "url": one is required`, config: true,
		},
		{
			name: "nok, both client and url",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "url": unreachable}
			},
			wantErr: `keys "client" and "url"`, config: true, notIn: pw,
		},
		{
			name: "nok, nil pool",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": (*pgxpool.Pool)(nil)}
			},
			wantErr: `key "client": expected a *pgxpool.Pool, got nil`, config: true,
		},
		{
			name:    "nok, untyped nil client",
			opts:    func(*testing.T, string) sessionplus.Options { return sessionplus.Options{"client": nil} },
			wantErr: `key "client": expected a *pgxpool.Pool, got nil`, config: true,
		},
		{
			name: "nok, client of another type",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": "postgres://localhost/"}
			},
			wantErr: `key "client": expected *pgxpool.Pool`, config: true,
		},
		{
			name: "nok, client a *pgx.Conn",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": &pgx.Conn{}}
			},
			wantErr: `key "client": expected *pgxpool.Pool`, config: true,
		},
		{
			name:    "nok, url not a string",
			opts:    func(*testing.T, string) sessionplus.Options { return sessionplus.Options{"url": 5432} },
			wantErr: `key "url"`, config: true,
		},
		{
			name:    "nok, empty url",
			opts:    func(*testing.T, string) sessionplus.Options { return sessionplus.Options{"url": ""} },
			wantErr: `key "url": expected a URL`, config: true,
		},
		{
			name: "nok, url of another scheme",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "mysql://user:s3cr3t-pw@localhost/db"}
			},
			wantErr: `key "url": expected a URL`, config: true, notIn: pw,
		},
		{
			name: "nok, key/value connection string",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "host=localhost password=s3cr3t-pw"}
			},
			wantErr: `key "url": expected a URL`, config: true, notIn: pw,
		},
		{
			name: "nok, bad url hides its password",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "postgres://user:s3cr3t-pw@localhost:notaport/db"}
			},
			wantErr: `key "url"`, config: true, notIn: pw,
		},
		{
			name: "nok, bad url with an odd password hides it",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "postgres://user:s3cr3t@pw%zz@localhost/db"}
			},
			wantErr: `key "url"`, config: true, notIn: []string{"s3cr3t", "pw%zz"},
		},
		{
			name: "nok, bad url hides a password parameter",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "postgres://localhost:notaport/db?sslmode=disable&password=s3cr3t-pw"}
			},
			wantErr: `key "url"`, config: true, notIn: pw,
		},
		{
			name: "nok, bad url hides an encoded password parameter",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "postgres://localhost:notaport/db?pass%77ord=s3cr3t%2Dpw"}
			},
			wantErr: `key "url"`, config: true, notIn: []string{"s3cr3t"},
		},
		{
			name: "nok, unreachable url hides a password parameter",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "postgres://127.0.0.1:1/db?password=s3cr3t-pw&connect_timeout=2"}
			},
			wantErr: `cannot connect to the server of key "url" at 127.0.0.1:1`, notIn: pw,
		},
		{
			name: "nok, bad pool setting hides the password",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "postgres://user:s3cr3t-pw@localhost/db?pool_max_conns=many"}
			},
			wantErr: `key "url"`, config: true, notIn: pw,
		},
		{
			name: "nok, unreachable url names the host, not the password",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": unreachable}
			},
			wantErr: `cannot connect to the server of key "url" at 127.0.0.1:1`, notIn: pw,
		},
		{
			name: "nok, unreachable url with a short context",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"url": "postgres://user:s3cr3t-pw@127.0.0.1:1/db"}
			},
			timeout: 300 * time.Millisecond,
			wantErr: `cannot connect to the server of key "url" at 127.0.0.1:1`, notIn: pw,
		},
		{
			name: "nok, unreachable pool passed in",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "timeout": "1s"}
			},
			wantErr: `cannot connect to the server of key "client" at 127.0.0.1:1`,
		},
		{
			name: "nok, no such database hides the password", server: true,
			opts: func(t *testing.T, _ string) sessionplus.Options {
				u := withUser(t, drivertest.ServerFromEnv(t, envURL), url.UserPassword("postgres", "s3cr3t-pw"), "no_such_db")
				return sessionplus.Options{"url": u}
			},
			wantErr: `cannot connect to the server of key "url" at 127.0.0.1`, notIn: pw,
		},
		{
			name: "nok, table starting with a digit",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table": "1sessions"}
			},
			wantErr: `key "table": expected a table name`, config: true,
		},
		{
			name: "nok, table with a quote and a semicolon",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table": `s"; DROP TABLE x; --`}
			},
			wantErr: `key "table": expected a table name`, config: true,
		},
		{
			name: "nok, table with a dash",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table": "my-sessions"}
			},
			wantErr: `key "table": expected a table name`, config: true,
		},
		{
			name: "nok, table of three parts",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table": "db.app.sessions"}
			},
			wantErr: `key "table": expected a table name`, config: true,
		},
		{
			name: "nok, empty table",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table": ""}
			},
			wantErr: `key "table": expected a table name`, config: true,
		},
		{
			name: "nok, table over 63 bytes",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table": strings.Repeat("s", 64)}
			},
			wantErr: `key "table": expected a table name`, config: true,
		},
		{
			name: "nok, table not a string",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table": 7}
			},
			wantErr: `key "table"`, config: true,
		},
		{
			name: "nok, create_table a string",
			opts: func(_ *testing.T, table string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "table": table, "create_table": "yes"}
			},
			wantErr: `key "create_table"`, config: true,
		},
		{
			name: "nok, the logger as a key",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "logger": discard}
			},
			wantErr: `unknown key "logger"`, config: true,
		},
		{
			name: "nok, timeout not a duration",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "timeout": "soon"}
			},
			wantErr: `key "timeout"`, config: true,
		},
		{
			name: "nok, timeout zero",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "timeout": "0s"}
			},
			wantErr: `key "timeout": expected a positive duration`, config: true,
		},
		{
			name: "nok, timeout negative",
			opts: func(*testing.T, string) sessionplus.Options {
				return sessionplus.Options{"client": offline, "timeout": "-1s"}
			},
			wantErr: `key "timeout": expected a positive duration`, config: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := randomName("sessionplus_test_")
			var pool *pgxpool.Pool
			if tt.server {
				pool = connect(t)
				table = newTable(t, pool)
				if tt.before != "" {
					if _, err := pool.Exec(t.Context(), fmt.Sprintf(tt.before, pgx.Identifier{table}.Sanitize())); err != nil {
						t.Fatal(err)
					}
				}
			}
			opts := tt.opts(t, table)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			start := time.Now()
			st, err := postgres.Driver{}.Open(ctx, sessionplus.DriverConfig{Options: opts, Name: "s", Logger: discard})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				checkOpened(t, ctx, st, opts, pool, table)
				return
			}
			if err == nil {
				st.(*postgres.Store).Close()
				t.Fatalf("Open succeeded, want an error containing %q", tt.wantErr)
			}
			t.Logf("Open error: %v", err)
			if st != nil {
				t.Errorf("Open returned a store (%T) along with its error", st)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, sessionplus.ErrConfig); got != tt.config {
				t.Errorf("errors.Is(%q, sessionplus.ErrConfig) = %v, want %v", err, got, tt.config)
			}
			for _, s := range tt.notIn {
				if strings.Contains(err.Error(), s) {
					t.Errorf("Open error = %q, want it without %q", err, s)
				}
			}
			if d := time.Since(start); d > timeout+5*time.Second {
				t.Errorf("Open took %v with a context of %v", d, timeout)
			}
		})
	}
}

// url is a postgres URL of the counter, with a password no error may show.
func counterURL(c *drivertest.Listener) string {
	return "postgres://user:s3cr3t-pw@" + c.Addr + "/db?connect_timeout=2"
}

// TestManagerChecksOptionsFirst: a mistake that Validate finds comes back
// from sessionplus.New, which opens every driver "dry" first, naming
// session 2 and the key, and the server is never contacted. Session 1, a
// valid session on the same server, would ping it in its Open: without
// the dry check it is opened before session 2's mistake is found. The
// same sessions without the mistake do contact it.
func TestManagerChecksOptionsFirst(t *testing.T) {
	offline, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/x")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(offline.Close)
	tests := []struct {
		name    string
		opts    func(srv *drivertest.Listener) sessionplus.Options
		wantKey string // the ConfigError's Key; "" for a failure to connect
		wantErr string // a substring of the error
	}{
		{
			name: "nok, timeout zero",
			opts: func(srv *drivertest.Listener) sessionplus.Options {
				return sessionplus.Options{"url": counterURL(srv), "timeout": "0s"}
			},
			wantKey: "timeout", wantErr: `expected a positive duration`,
		},
		{
			name: "nok, table name",
			opts: func(srv *drivertest.Listener) sessionplus.Options {
				return sessionplus.Options{"url": counterURL(srv), "table": "my-sessions"}
			},
			wantKey: "table", wantErr: `key "table"`,
		},
		{
			name: "nok, url that does not parse",
			opts: func(srv *drivertest.Listener) sessionplus.Options {
				return sessionplus.Options{"url": strings.Replace(counterURL(srv), "/db?", ":notaport/db?", 1)}
			},
			wantKey: "url", wantErr: `key "url"`,
		},
		{
			name: "nok, client and url",
			opts: func(srv *drivertest.Listener) sessionplus.Options {
				return sessionplus.Options{"client": offline, "url": counterURL(srv)}
			},
			wantKey: "client", wantErr: `keys "client" and "url": give one of them, not both`,
		},
		{
			name: "ok options, the server is contacted",
			opts: func(srv *drivertest.Listener) sessionplus.Options {
				return sessionplus.Options{"url": counterURL(srv), "timeout": "2s"}
			},
			wantErr: "postgres: cannot connect to the server",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := drivertest.CountingServer(t)
			valid := sessionplus.Options{"cookie_name": "a", "session_type": postgres.Name, "url": counterURL(srv)}
			session := sessionplus.Options{"cookie_name": "s", "session_type": postgres.Name}
			for k, v := range tt.opts(srv) {
				session[k] = v
			}
			m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{valid, session}})
			if err == nil {
				m.Close()
				t.Fatal("New succeeded, want an error")
			}
			t.Logf("New error: %v", err)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Errorf("New error = %q, want it without the password", err)
			}
			contacted := strings.HasPrefix(tt.name, "ok")
			if got := errors.Is(err, sessionplus.ErrConfig); got == contacted {
				t.Errorf("errors.Is(%q, sessionplus.ErrConfig) = %v, want %v", err, got, !contacted)
			}
			var ce *sessionplus.ConfigError
			if !contacted && (!errors.As(err, &ce) || ce.Session != 2 || ce.Name != "s" || ce.Key != tt.wantKey) {
				t.Errorf("New error = %v (%+v), want a *sessionplus.ConfigError of session 2 (\"s\") with Key %q", err, ce, tt.wantKey)
			}
			n := srv.Accepted()
			switch {
			case contacted && n == 0:
				t.Errorf("the server got no connection: the counter does not count")
			case !contacted && n != 0:
				t.Errorf("the server got %d connections, want 0: the mistake must be reported before any backend is contacted", n)
			}
		})
	}
}

// checkOpened checks a store that Open returned: a record lands in the
// table the options name, and Close closes only a pool that Open built.
func checkOpened(t *testing.T, ctx context.Context, st sessionplus.Store, opts sessionplus.Options, pool *pgxpool.Pool, table string) {
	t.Helper()
	ps, ok := st.(*postgres.Store)
	if !ok {
		t.Fatalf("Open returned %T, want *postgres.Store", st)
	}
	tok := randomName("test:")
	if _, err := st.Save(ctx, tok, create(map[string][]byte{"a": []byte("1")}, time.Hour)); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := st.Load(ctx, tok); err != nil {
		t.Fatalf("Load: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()+" WHERE token = $1", tok).Scan(&n); err != nil || n != 1 {
		t.Errorf("the record is not in the table %s: count %d, %v", table, n, err)
	}
	if err := ps.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := st.Load(ctx, tok)
	if _, isURL := opts["url"]; isURL && err == nil {
		t.Error("Load after Close succeeded: Close must close the pool Open built from url")
	}
	if client, ok := opts["client"].(*pgxpool.Pool); ok {
		if err != nil {
			t.Errorf("Load after Close failed (%v): Close must leave a pool passed in open", err)
		}
		if err := client.Ping(ctx); err != nil {
			t.Errorf("Ping of the pool passed in, after Close: %v", err)
		}
	}
}

func create(values map[string][]byte, lifetime time.Duration) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Create, Set: values, Expiry: time.Now().Add(lifetime)}
}

func write(set map[string][]byte, del []string, lifetime time.Duration) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Write, Set: set, Del: del, Expiry: time.Now().Add(lifetime)}
}

func TestNew(t *testing.T) {
	offline, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/x")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(offline.Close)
	st, err := postgres.New(offline, nil)
	if err != nil {
		t.Fatalf("New with nil options: %v", err)
	}
	if st.Table() != postgres.DefaultTable {
		t.Errorf("Table() = %q, want the default %q", st.Table(), postgres.DefaultTable)
	}
	st.Close()
	for _, tt := range []struct {
		name string
		pool *pgxpool.Pool
		opts *postgres.Options
		want string
	}{
		{"nil pool", nil, nil, "the pool is nil"},
		{"bad table", offline, &postgres.Options{Table: "a b"}, "Options.Table"},
		{"negative timeout", offline, &postgres.Options{Timeout: -time.Second}, "Options.Timeout"},
	} {
		st, err := postgres.New(tt.pool, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, sessionplus.ErrConfig) {
			t.Errorf("New (%s) = %v, %v; want an error wrapping ErrConfig containing %q", tt.name, st, err, tt.want)
		}
	}
}

// TestThroughManager opens the driver through the registry, as a
// configuration file would, and runs a request.
func TestThroughManager(t *testing.T) {
	pool := connect(t)
	table := newTable(t, pool)
	m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{{
		"cookie_name": "s", "session_type": "postgres", "url": drivertest.ServerFromEnv(t, envURL), "table": table,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatalf("the table %s was not created: %v", table, err)
	}
}

// TestConcurrentWritesAndLogout: two Writes of different fields at the same
// time both land, and a Write or Touch after a Delete creates nothing.
func TestConcurrentWritesAndLogout(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, nil)
	ctx := t.Context()
	for round := range 20 {
		tok := randomName("test:")
		if _, err := st.Save(ctx, tok, create(map[string][]byte{"base": []byte("b")}, time.Hour)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, name := range []string{"cart", "theme"} {
			wg.Go(func() {
				<-start
				u := write(map[string][]byte{name: fmt.Appendf(nil, "%s-%d", name, round)}, nil, 2*time.Hour)
				if _, err := st.Save(ctx, tok, u); err != nil {
					t.Errorf("Write of %s: %v", name, err)
				}
			})
		}
		close(start)
		wg.Wait()
		rec, err := st.Load(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"base": "b", "cart": fmt.Sprintf("cart-%d", round), "theme": fmt.Sprintf("theme-%d", round)}
		if got := strings2(rec.Values); !maps2Equal(got, want) {
			t.Fatalf("round %d: after two concurrent Writes the record is %v, want %v", round, got, want)
		}

		if err := st.Delete(ctx, tok); err != nil {
			t.Fatal(err)
		}
		_, err = st.Save(ctx, tok, write(map[string][]byte{"cart": []byte("x")}, nil, time.Hour))
		if !errors.Is(err, sessionplus.ErrNotFound) {
			t.Fatalf("Write after Delete = %v, want ErrNotFound", err)
		}
		_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: time.Now().Add(time.Hour)})
		if !errors.Is(err, sessionplus.ErrNotFound) {
			t.Fatalf("Touch after Delete = %v, want ErrNotFound", err)
		}
		if n := countRows(t, pool, st.Table(), tok); n != 0 {
			t.Fatalf("after Delete, Write and Touch the table holds %d rows of the token, want 0", n)
		}
	}
}

func strings2(values map[string][]byte) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		out[k] = string(v)
	}
	return out
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func countRows(t *testing.T, pool *pgxpool.Pool, table, tok string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()+" WHERE token = $1", tok).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLayout checks the row of a session: the values as base64 strings of
// a jsonb object, the expiry to the microsecond.
func TestLayout(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, nil)
	tok := randomName("test:")
	u := create(map[string][]byte{"user": []byte("alice"), "bin": {0, 0xff}}, time.Hour)
	if _, err := st.Save(t.Context(), tok, u); err != nil {
		t.Fatal(err)
	}
	var (
		user, bin string
		expiry    time.Time
	)
	err := pool.QueryRow(t.Context(), "SELECT data->>'user', data->>'bin', expiry FROM "+pgx.Identifier{st.Table()}.Sanitize()+" WHERE token = $1", tok).
		Scan(&user, &bin, &expiry)
	if err != nil {
		t.Fatal(err)
	}
	if user != base64.StdEncoding.EncodeToString([]byte("alice")) || bin != base64.StdEncoding.EncodeToString([]byte{0, 0xff}) {
		t.Errorf("stored values %q and %q, want the base64 of the bytes", user, bin)
	}
	if d := expiry.Sub(u.Expiry).Abs(); d >= time.Microsecond {
		t.Errorf("stored expiry %v, want %v to the microsecond", expiry, u.Expiry)
	}
}

// TestFieldNames: names that jsonb cannot hold as they are (not UTF-8) and
// names that look like the escape come back unchanged, in creates and in
// field-level writes.
func TestFieldNames(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, nil)
	ctx := t.Context()
	names := []string{"\xff\xfe", "a\xc3", "\x01b64:", "\x01b64:eA", "\x01", "ü", "a\"b\\c", "\u2028", "<>&", "{}", "[]", "\t\n"}
	want := map[string]string{}
	set := map[string][]byte{}
	for i, n := range names {
		want[n] = fmt.Sprint(i)
		set[n] = []byte(fmt.Sprint(i))
	}
	tok := randomName("test:")
	if _, err := st.Save(ctx, tok, create(set, time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings2(rec.Values); !maps2Equal(got, want) {
		t.Fatalf("after Create: %q, want %q", got, want)
	}
	del := []string{"\x01b64:", "\xff\xfe"}
	slices.Sort(del)
	if _, err := st.Save(ctx, tok, write(map[string][]byte{"a\xc3": []byte("new"), "\xfe": []byte("x")}, del, time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, n := range del {
		delete(want, n)
	}
	want["a\xc3"], want["\xfe"] = "new", "x"
	rec, err = st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings2(rec.Values); !maps2Equal(got, want) {
		t.Fatalf("after Write: %q, want %q", got, want)
	}
}

// TestBadTokens: a token that PostgreSQL text cannot hold is never found,
// and cannot be created.
func TestBadTokens(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, nil)
	ctx := t.Context()
	for _, tok := range []string{"test:\xff", "test:\x00x", "test:" + strings.Repeat("x", 3000)} {
		if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Load(%.20q) = %v, want ErrNotFound", tok, err)
		}
		if err := st.Delete(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Delete(%.20q) = %v, want ErrNotFound", tok, err)
		}
		if _, err := st.Save(ctx, tok, write(map[string][]byte{"a": nil}, nil, time.Hour)); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Write(%.20q) = %v, want ErrNotFound", tok, err)
		}
		_, err := st.Save(ctx, tok, create(map[string][]byte{"a": nil}, time.Hour))
		if err == nil || errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Create(%.20q) = %v, want an error that is not ErrNotFound", tok, err)
		} else if strings.Contains(err.Error(), tok) {
			t.Errorf("Create's error %q holds the token", err)
		}
	}
}

func TestCheckKeyPrefix(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, nil)
	if err := st.CheckKeyPrefix("session"); err != nil {
		t.Errorf("CheckKeyPrefix(session) = %v", err)
	}
	err := st.CheckKeyPrefix(strings.Repeat("p", 2048))
	if err == nil || !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), `key "key_prefix"`) {
		t.Errorf("CheckKeyPrefix of 2048 bytes = %v, want a config error naming key_prefix", err)
	}
}

// TestTimeout: the store's timeout bounds an operation on a pool passed
// in, and a shorter deadline of the caller wins; neither is ErrNotFound.
func TestTimeout(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, &postgres.Options{Timeout: 300 * time.Millisecond, Logger: discard})
	ctx := t.Context()
	tok := randomName("test:")
	if _, err := st.Save(ctx, tok, create(map[string][]byte{"a": []byte("1")}, time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Another transaction holds the row's lock, so a Write waits for it.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{st.Table()}.Sanitize()+" WHERE token = $1 FOR UPDATE", tok); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name     string
		deadline time.Duration // of the caller's context; 0 for none
		max      time.Duration
		cause    string
	}{
		{"store timeout", 0, 3 * time.Second, "within 300ms (the store's timeout)"},
		{"caller's shorter deadline", 50 * time.Millisecond, 250 * time.Millisecond, ""},
	} {
		cctx := ctx
		if tt.deadline > 0 {
			var cancel context.CancelFunc
			cctx, cancel = context.WithTimeout(ctx, tt.deadline)
			defer cancel()
		}
		start := time.Now()
		_, err := st.Save(cctx, tok, write(map[string][]byte{"b": []byte("2")}, nil, time.Hour))
		d := time.Since(start)
		t.Logf("%s: %v after %v", tt.name, err, d)
		switch {
		case err == nil:
			t.Errorf("%s: a Write on a locked row succeeded", tt.name)
		case errors.Is(err, sessionplus.ErrNotFound):
			t.Errorf("%s: the error %q wraps ErrNotFound", tt.name, err)
		case !errors.Is(err, context.DeadlineExceeded):
			t.Errorf("%s: the error %q is not context.DeadlineExceeded", tt.name, err)
		case !strings.Contains(err.Error(), tt.cause):
			t.Errorf("%s: the error %q does not say %q", tt.name, err, tt.cause)
		}
		if d > tt.max {
			t.Errorf("%s: the Write returned after %v, want at most %v", tt.name, d, tt.max)
		}
	}

	// With statement_timeout in the URL, as the package documentation
	// advises, the server ends the waiting statement itself.
	u := drivertest.ServerFromEnv(t, envURL)
	if strings.Contains(u, "?") {
		u += "&statement_timeout=300"
	} else {
		u += "?statement_timeout=300"
	}
	withST, err := postgres.Driver{}.Open(ctx, sessionplus.DriverConfig{
		Options: sessionplus.Options{"url": u, "table": st.Table(), "timeout": "10s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer withST.(*postgres.Store).Close()
	start := time.Now()
	_, err = withST.Save(ctx, tok, write(map[string][]byte{"c": []byte("3")}, nil, time.Hour))
	t.Logf("statement_timeout: %v after %v", err, time.Since(start))
	if err == nil || errors.Is(err, sessionplus.ErrNotFound) || time.Since(start) > 3*time.Second {
		t.Errorf("a Write on a locked row with statement_timeout=300 = %v after %v, want an error within about 300ms", err, time.Since(start))
	}

	tx.Rollback(ctx)
	time.Sleep(100 * time.Millisecond)
	if rec, err := st.Load(ctx, tok); err != nil || rec.Values["c"] != nil {
		t.Errorf("the Write that statement_timeout ended was applied: %v, %v", rec.Values, err)
	}
	// The record is usable once the lock is gone. (The server may still
	// apply the abandoned Writes: pgx closes the connection but does not
	// cancel the statement; see the package documentation.)
	rec, err := st.Load(ctx, tok)
	if err != nil || string(rec.Values["a"]) != "1" {
		t.Errorf("after the timed-out Writes: %v, %v; want the record with a=1", rec.Values, err)
	}
}

// TestSweep: Sweep deletes expired rows and keeps live ones; a Create
// starts a sweep of its own in the background.
func TestSweep(t *testing.T) {
	pool := connect(t)
	table := newTable(t, pool)
	st := newStore(t, pool, &postgres.Options{Table: table, Logger: discard})
	ctx := t.Context()
	insertExpired := func(n int) {
		t.Helper()
		_, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{table}.Sanitize()+
			" SELECT 'expired:' || g || ':' || md5(random()::text), '{}', now() - interval '1 minute' FROM generate_series(1, $1) g", n)
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func() (all, expired int) {
		t.Helper()
		err := pool.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE expiry <= now()) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&all, &expired)
		if err != nil {
			t.Fatal(err)
		}
		return all, expired
	}

	// The store's first Create sweeps in the background.
	insertExpired(10)
	live := randomName("test:")
	if _, err := st.Save(ctx, live, create(map[string][]byte{"a": []byte("1")}, time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, expired := count()
		if expired == 0 {
			if all != 1 {
				t.Errorf("after the automatic sweep the table holds %d rows, want the live one", all)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d expired rows are still there 10s after a Create: no automatic sweep", expired)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Sweep goes on past one batch of 1000.
	insertExpired(2500)
	n, err := st.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2500 {
		t.Errorf("Sweep = %d, want 2500", n)
	}
	if all, expired := count(); all != 1 || expired != 0 {
		t.Errorf("after Sweep: %d rows, %d expired; want the live one alone", all, expired)
	}
	if _, err := st.Load(ctx, live); err != nil {
		t.Errorf("the live session after Sweep: %v", err)
	}
	if n, err := st.Sweep(ctx); n != 0 || err != nil {
		t.Errorf("a second Sweep = %d, %v; want 0, nil", n, err)
	}
}

// TestExpiredRowNotRevived: a row past its expiry that no sweep has
// removed is not found, not kept alive, not written, and its Delete says
// not found; a Create replaces it.
func TestExpiredRowNotRevived(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, nil)
	ctx := t.Context()
	tok := randomName("test:")
	b64 := base64.StdEncoding.EncodeToString([]byte("old"))
	_, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{st.Table()}.Sanitize()+
		" VALUES ($1, jsonb_build_object('user', $2::text), now() - interval '1 second')", tok, b64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Load of an expired row = %v, want ErrNotFound", err)
	}
	if _, err := st.Save(ctx, tok, write(map[string][]byte{"x": []byte("1")}, nil, time.Hour)); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Write of an expired row = %v, want ErrNotFound", err)
	}
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: time.Now().Add(time.Hour)}); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Touch of an expired row = %v, want ErrNotFound", err)
	}
	if _, err := st.Save(ctx, tok, create(map[string][]byte{"x": []byte("new")}, time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings2(rec.Values); !maps2Equal(got, map[string]string{"x": "new"}) {
		t.Errorf("after a Create over an expired row: %v, want x=new alone", got)
	}
	_, err = pool.Exec(ctx, "UPDATE "+pgx.Identifier{st.Table()}.Sanitize()+" SET expiry = now() - interval '1 second' WHERE token = $1", tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Delete of an expired row = %v, want ErrNotFound", err)
	}
	if n := countRows(t, pool, st.Table(), tok); n != 0 {
		t.Errorf("Delete of an expired row left %d rows", n)
	}
}

// TestLongTableName: two tables whose names share their first 52 bytes get
// indexes of their own.
func TestLongTableName(t *testing.T) {
	pool := connect(t)
	base := randomName("sessionplus_test_") + strings.Repeat("x", 63-33-1)
	var tables []string
	for _, c := range []string{"a", "b"} {
		name := base + c
		t.Cleanup(func() { pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()) })
		newStore(t, pool, &postgres.Options{Table: name, Logger: discard})
		tables = append(tables, name)
	}
	for _, name := range tables {
		var n int
		err := pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%(expiry)'", name).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("table %s has %d indexes on expiry (%v), want 1", name, n, err)
		}
	}
}

// TestCreateTableConcurrently: app instances that start together all
// open, though CREATE TABLE IF NOT EXISTS alone can collide.
func TestCreateTableConcurrently(t *testing.T) {
	pool := connect(t)
	table := newTable(t, pool)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			st, err := postgres.Driver{}.Open(t.Context(), sessionplus.DriverConfig{
				Options: sessionplus.Options{"client": pool, "table": table}, Logger: discard,
			})
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			st.(*postgres.Store).Close()
		})
	}
	wg.Wait()
}
