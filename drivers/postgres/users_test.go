package postgres_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/postgres"
	"github.com/sessionplus/sessionplus/internal/userkey"
)

// oldSchema is the table as the driver made it before it indexed users
// (for fmt.Sprintf with the quoted table name).
const oldSchema = `CREATE TABLE %[1]s (token text PRIMARY KEY, data jsonb NOT NULL, expiry timestamptz NOT NULL);
CREATE INDEX ON %[1]s (expiry)`

func createFor(user string, values map[string][]byte, lifetime time.Duration) sessionplus.Update {
	u := create(values, lifetime)
	u.User = user
	return u
}

func moveTo(user string, set map[string][]byte, lifetime time.Duration) sessionplus.Update {
	u := write(set, nil, lifetime)
	u.User, u.SetUser = user, true
	return u
}

// listed returns the tokens of user's records, with their values as text.
func listed(t *testing.T, st *postgres.Store, user string) map[string]map[string]string {
	t.Helper()
	recs, err := st.UserRecords(t.Context(), user)
	if err != nil {
		t.Fatalf("UserRecords(%q): %v", user, err)
	}
	out := map[string]map[string]string{}
	for _, r := range recs {
		out[r.Token] = strings2(r.Record.Values)
	}
	return out
}

// TestUpgradeOldTable: a table of the earlier driver, rows and all, gets
// its user_key column and index at Open; its sessions load as before and
// can be indexed; a later Open does not wait for a reader of the table.
func TestUpgradeOldTable(t *testing.T) {
	pool := connect(t)
	table := newTable(t, pool)
	ident := pgx.Identifier{table}.Sanitize()
	ctx := t.Context()
	if _, err := pool.Exec(ctx, fmt.Sprintf(oldSchema, ident)); err != nil {
		t.Fatal(err)
	}
	old := randomName("test:")
	_, err := pool.Exec(ctx, "INSERT INTO "+ident+" VALUES ($1, jsonb_build_object('cart', 'Mw=='), now() + interval '1 hour')", old)
	if err != nil {
		t.Fatal(err)
	}

	open := func(when string) *postgres.Store {
		t.Helper()
		st, err := postgres.Driver{}.Open(ctx, sessionplus.DriverConfig{
			Options: sessionplus.Options{"client": pool, "table": table, "timeout": "3s"}, Logger: discard,
		})
		if err != nil {
			t.Fatalf("Open %s: %v", when, err)
		}
		t.Cleanup(func() { st.(*postgres.Store).Close() })
		return st.(*postgres.Store)
	}
	st := open("of a table of the earlier driver")

	var def string
	err = pool.QueryRow(ctx, "SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname = $2", table, table+"_user_key_idx").Scan(&def)
	if err != nil {
		t.Fatalf("the index on user_key after the upgrade: %v", err)
	}
	if !strings.Contains(def, "(user_key) WHERE (user_key IS NOT NULL)") {
		t.Errorf("the index on user_key is %q, want a partial index on user_key WHERE user_key IS NOT NULL", def)
	}
	rec, err := st.Load(ctx, old)
	if err != nil {
		t.Fatalf("Load of a session stored before the upgrade: %v", err)
	}
	if got := strings2(rec.Values); !maps2Equal(got, map[string]string{"cart": "3"}) {
		t.Errorf("a session stored before the upgrade loads as %v, want cart=3", got)
	}
	alice := randomName("alice-")
	if got := listed(t, st, alice); len(got) != 0 {
		t.Errorf("before any login the user has %d records, want none", len(got))
	}
	if _, err := st.Save(ctx, old, moveTo(alice, map[string][]byte{"user_id": []byte("a")}, time.Hour)); err != nil {
		t.Fatalf("a login (Write with SetUser) in a session stored before the upgrade: %v", err)
	}
	fresh := randomName("test:")
	if _, err := st.Save(ctx, fresh, createFor(alice, map[string][]byte{"user_id": []byte("a")}, time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := listed(t, st, alice)
	if len(got) != 2 || !maps2Equal(got[old], map[string]string{"cart": "3", "user_id": "a"}) || got[fresh] == nil {
		t.Errorf("UserRecords after a login in the old session and one in a new one = %v, want both, the old one with cart=3 and user_id=a", got)
	}

	// A reader of the table (a report, pg_dump) holds it while the app
	// starts again: the Open must not queue behind it (and every request
	// behind the Open) for a column that is already there.
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(context.Background())
	if _, err := reader.Exec(ctx, "SELECT count(*) FROM "+ident); err != nil {
		t.Fatal(err)
	}
	again := open("of the upgraded table, while a transaction reads it")
	if got := listed(t, again, alice); len(got) != 2 {
		t.Errorf("after the second Open the user has %d records, want 2", len(got))
	}
}

// TestUserRecordsUsesIndex: the planner answers UserRecords's statement
// from the partial index on user_key, in the generic plan that a prepared
// statement settles on as well as in a custom one.
func TestUserRecordsUsesIndex(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, nil)
	ctx := t.Context()
	ident := pgx.Identifier{st.Table()}.Sanitize()
	_, err := pool.Exec(ctx, "INSERT INTO "+ident+` SELECT 'test:' || g, '{}', now() + interval '1 hour',
CASE WHEN g % 3 = 0 THEN NULL ELSE 'user-' || g % 50 END FROM generate_series(1, 3000) g`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+ident); err != nil {
		t.Fatal(err)
	}
	want := 0
	for g := 1; g <= 3000; g++ {
		if g%3 != 0 && g%50 == 7 {
			want++
		}
	}
	if recs, err := st.UserRecords(ctx, "user-7"); err != nil || len(recs) != want {
		t.Fatalf("UserRecords = %d records, %v; want %d", len(recs), err, want)
	}

	conn, err := pgx.Connect(ctx, drivertest.ServerFromEnv(t, envURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "PREPARE user_records AS "+postgres.UserRecordsSQL(st)); err != nil {
		t.Fatal(err)
	}
	index := st.Table() + "_user_key_idx"
	for _, mode := range []string{"force_generic_plan", "force_custom_plan"} {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, "EXPLAIN EXECUTE user_records('user-7', now())", pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, index) {
			t.Errorf("with %s the plan of UserRecords does not use the index %s:\n%s", mode, index, plan)
		}
	}
}

// tally counts what the driver sends PostgreSQL: statements (pgx's query
// tracer) and round trips (writes to the socket: pgx sends each exchange
// in one write).
type tally struct {
	statements atomic.Int64
	roundTrips atomic.Int64
}

func (c *tally) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.statements.Add(1)
	return ctx
}

func (*tally) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *tally) reset() { c.statements.Store(0); c.roundTrips.Store(0) }

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// countedPool returns a pool of one connection whose statements and round
// trips c counts. pgxpool's ping of a connection idle for a second, a
// round trip of its own before the statement, is turned off: it is the
// pool's, whatever the driver does.
func countedPool(t *testing.T, c *tally) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(drivertest.ServerFromEnv(t, envURL))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	cfg.ConnConfig.Tracer = c
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: conn, writes: &c.roundTrips}, nil
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestRoundTrips: keeping the user index costs no statement: a login, a
// log-out, a Write and a Touch are one statement and one round trip each,
// as a Create without a user is, and a request through the Manager costs
// the same with Config.UserField as without.
func TestRoundTrips(t *testing.T) {
	var c tally
	pool := countedPool(t, &c)
	st := newStore(t, pool, nil)
	ctx := t.Context()
	alice := randomName("alice-")
	tok := randomName("test:")
	ops := []struct {
		name string
		run  func() error
	}{
		{"a Create without a user", func() error {
			_, err := st.Save(ctx, randomName("test:"), create(map[string][]byte{"cart": []byte("1")}, time.Hour))
			return err
		}},
		{"a login (Create with a user)", func() error {
			_, err := st.Save(ctx, tok, createFor(alice, map[string][]byte{"user_id": []byte("a")}, time.Hour))
			return err
		}},
		{"a Write without SetUser", func() error {
			_, err := st.Save(ctx, tok, write(map[string][]byte{"theme": []byte("dark")}, nil, time.Hour))
			return err
		}},
		{"a Touch", func() error {
			_, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: time.Now().Add(2 * time.Hour)})
			return err
		}},
		{"a log-out (Write with SetUser and no user)", func() error {
			_, err := st.Save(ctx, tok, moveTo("", nil, time.Hour))
			return err
		}},
		{"a login (Write with SetUser)", func() error {
			_, err := st.Save(ctx, tok, moveTo(alice, map[string][]byte{"user_id": []byte("a")}, time.Hour))
			return err
		}},
		{"UserRecords", func() error {
			recs, err := st.UserRecords(ctx, alice)
			if err == nil && len(recs) != 1 {
				err = fmt.Errorf("%d records, want 1", len(recs))
			}
			return err
		}},
		{"a Load", func() error { _, err := st.Load(ctx, tok); return err }},
	}
	// pgx prepares each statement on its first use on a connection: one
	// round trip more, once.
	for _, op := range ops {
		if err := op.run(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
	}
	postgres.WaitSweeps(st)
	for _, op := range ops {
		c.reset()
		if err := op.run(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		n, rt := c.statements.Load(), c.roundTrips.Load()
		t.Logf("%s: %d statement(s), %d round trip(s)", op.name, n, rt)
		if n != 1 || rt != 1 {
			t.Errorf("%s costs %d statements and %d round trips, want 1 and 1", op.name, n, rt)
		}
	}

	// Through a Manager: each request costs the same with the user field
	// as without, and a login of a new browser is one statement.
	bob := randomName("bob-")
	perRequest := map[string][]int64{}
	for _, userField := range []string{"", "user_id"} {
		m, err := sessionplus.New(ctx, sessionplus.Config{UserField: userField, Sessions: []sessionplus.Options{{
			"cookie_name": "s", "store": st, "key_prefix": randomName("rt"),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		cookie := ""
		request := func(name string, fn func(s *sessionplus.Session) error) {
			t.Helper()
			r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
			if cookie != "" {
				r.AddCookie(&http.Cookie{Name: "s", Value: cookie})
			}
			w := httptest.NewRecorder()
			c.reset()
			s := m.Begin(w, r)
			if err := fn(s); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := s.Commit(); err != nil {
				t.Fatalf("%s: commit: %v", name, err)
			}
			for _, ck := range w.Result().Cookies() {
				if ck.Name == "s" {
					cookie = ck.Value
				}
			}
			postgres.WaitSweeps(st)
			n := c.statements.Load()
			t.Logf("UserField %q, %s: %d statement(s), %d round trip(s)", userField, name, n, c.roundTrips.Load())
			perRequest[name] = append(perRequest[name], n)
		}
		request("a login of a new browser", func(s *sessionplus.Session) error { return s.Set("user_id", bob) })
		if userField != "" {
			if list, err := m.UserSessions(ctx, bob); err != nil || len(list) != 1 {
				t.Errorf("UserSessions after the login = %d sessions, %v; want 1", len(list), err)
			}
		}
		request("a request that changes a field", func(s *sessionplus.Session) error { return s.Set("cart", "2") })
		request("a request that reads", func(s *sessionplus.Session) error { _, _, err := s.Get("cart"); return err })
		request("a log-out", func(s *sessionplus.Session) error { return s.Delete("user_id") })
		if userField != "" {
			if list, err := m.UserSessions(ctx, bob); err != nil || len(list) != 0 {
				t.Errorf("UserSessions after the log-out = %d sessions, %v; want none", len(list), err)
			}
		}
		m.Close()
	}
	for name, counts := range perRequest {
		if counts[0] != counts[1] {
			t.Errorf("%s costs %d statements with Config.UserField, %d without: want no more", name, counts[1], counts[0])
		}
	}
	if n := perRequest["a login of a new browser"]; n[1] != 1 {
		t.Errorf("a login of a new browser costs %d statements, want 1", n[1])
	}
}

// TestUserKeysTextCannotHold: user keys that the user_key column could not
// hold as they are (not UTF-8, a NUL, longer than an index entry) are
// indexed all the same, each under itself alone.
func TestUserKeysTextCannotHold(t *testing.T) {
	pool := connect(t)
	st := newStore(t, pool, nil)
	ctx := t.Context()
	long := randomName("long-") + strings.Repeat("é", 3000)
	edge := randomName("edge-") // 512 bytes are kept as they are, 513 not
	edge += strings.Repeat("u", 512-len(edge))
	users := []string{
		randomName("bin-") + "\xff\xfe", randomName("nul-") + "\x00x", long, long + "x", edge, edge + "u",
		"\x01sha256:" + randomName(""), // looks like the column's digest form
	}
	tokens := make([]string, len(users))
	for i, u := range users {
		tokens[i] = randomName("test:")
		if _, err := st.Save(ctx, tokens[i], createFor(u, map[string][]byte{"n": fmt.Appendf(nil, "%d", i)}, time.Hour)); err != nil {
			t.Fatalf("a login of the user key #%d (%d bytes): %v", i, len(u), err)
		}
	}
	for i, u := range users {
		got := listed(t, st, u)
		if len(got) != 1 || got[tokens[i]]["n"] != fmt.Sprint(i) {
			t.Errorf("UserRecords of the user key #%d (%d bytes) = %v, want its one record, n=%d", i, len(u), got, i)
		}
	}
}

// TestUserKeyOfAnotherUsersDigest: user B whose key is the very digest
// that user A's long key is stored as in user_key never reaches A's
// records, and A never reaches B's: B's key is hashed again.
func TestUserKeyOfAnotherUsersDigest(t *testing.T) {
	pool := connect(t)
	table := newTable(t, pool)
	st := newStore(t, pool, &postgres.Options{Logger: discard, Table: table})
	ctx := t.Context()
	a := randomName("long-")
	a += strings.Repeat("a", 600-len(a))
	b := userkey.Stored(a, func(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") })
	tokA, tokB := randomName("test:"), randomName("test:")
	if _, err := st.Save(ctx, tokA, createFor(a, map[string][]byte{"who": []byte("a")}, time.Hour)); err != nil {
		t.Fatal(err)
	}
	var column string
	if err := pool.QueryRow(ctx, "SELECT user_key FROM "+pgx.Identifier{table}.Sanitize()+" WHERE token = $1", tokA).Scan(&column); err != nil {
		t.Fatal(err)
	}
	if column != b {
		t.Fatalf("A's user_key is %q, want userkey.Stored(A) = %q", column, b)
	}
	if got := listed(t, st, b); len(got) != 0 {
		t.Errorf("UserRecords(B), B being A's stored digest, = %v; want none of A's records", got)
	}
	if _, err := st.Save(ctx, tokB, createFor(b, map[string][]byte{"who": []byte("b")}, time.Hour)); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]string{a: tokA, b: tokB} {
		if got := listed(t, st, user); len(got) != 1 || got[want] == nil {
			t.Errorf("UserRecords(%.20q...) = %v, want only %s", user, got, want)
		}
	}
}
