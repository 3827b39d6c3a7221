package mongo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	gomongo "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/mongo"
)

// The tests run against the server in SESSIONPLUS_MONGODB_URL (FerretDB,
// as ./scripts/test starts it, or a real MongoDB), each in a collection of
// its own in this database, dropped when the test ends.
const (
	envURL = "SESSIONPLUS_MONGODB_URL"
	testDB = "sessionplus_test"
)

// unreachable is a URL where no server listens.
const unreachable = "mongodb://127.0.0.1:1/"

func randomName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// connect returns a client of the test server, disconnected when the test
// ends. It skips the test when there is no server (fails under CI=true).
func connect(t testing.TB, opts ...*options.ClientOptions) *gomongo.Client {
	t.Helper()
	url := drivertest.ServerFromEnv(t, envURL)
	c, err := gomongo.Connect(append([]*options.ClientOptions{options.Client().ApplyURI(url)}, opts...)...)
	if err != nil {
		t.Fatalf("connecting to %s: %v", envURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Disconnect(ctx)
	})
	return c
}

// newCollection returns a new collection of c, dropped when the test ends.
func newCollection(t testing.TB, c *gomongo.Client) *gomongo.Collection {
	t.Helper()
	coll := c.Database(testDB).Collection(randomName("sessions_"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := coll.Drop(ctx); err != nil {
			t.Errorf("dropping the test collection %s: %v", coll.Name(), err)
		}
	})
	return coll
}

func newStore(t testing.TB, coll *gomongo.Collection) *mongo.Store {
	t.Helper()
	st, err := mongo.New(coll, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)

type harness struct{ st *mongo.Store }

func (h harness) MakeStore(context.Context) (sessionplus.Store, error) { return h.st, nil }
func (harness) Stateless() bool                                        { return false }
func (harness) Close()                                                 {}

func TestConformance(t *testing.T) {
	c := connect(t)
	coll := newCollection(t, c)
	st, err := mongo.New(coll, &mongo.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateIndexes(t.Context()); err != nil {
		t.Fatal(err)
	}
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{st: st}, nil
	})
}

func TestOpen(t *testing.T) {
	// A client that never reaches a server: Connect does not dial, and the
	// nok cases fail before any I/O.
	offline, err := gomongo.Connect(options.Client().ApplyURI(unreachable))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { offline.Disconnect(context.Background()) })
	coll := randomName("sessions_")

	tests := []struct {
		name    string
		server  bool // needs the test server
		opts    func(t *testing.T) sessionplus.Options
		timeout time.Duration // of Open's context; default 30s
		wantErr string        // a substring of the error; "" for none
		config  bool          // the error must wrap sessionplus.ErrConfig
		notIn   string        // must not be in the error
	}{
		{
			name: "ok, client", server: true,
			opts: func(t *testing.T) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "db": testDB, "collection": coll}
			},
		},
		{
			name: "ok, url", server: true,
			opts: func(t *testing.T) sessionplus.Options {
				return sessionplus.Options{"url": drivertest.ServerFromEnv(t, envURL), "db": testDB, "collection": coll}
			},
		},
		{
			name: "ok, create_indexes false", server: true,
			opts: func(t *testing.T) sessionplus.Options {
				return sessionplus.Options{"url": drivertest.ServerFromEnv(t, envURL), "db": testDB, "collection": coll,
					"create_indexes": false}
			},
		},
		{
			name: "ok, client and timeout", server: true,
			opts: func(t *testing.T) sessionplus.Options {
				return sessionplus.Options{"client": connect(t), "db": testDB, "collection": coll, "timeout": "2s"}
			},
		},
		{
			name: "ok, url and timeout in seconds", server: true,
			opts: func(t *testing.T) sessionplus.Options {
				return sessionplus.Options{"url": drivertest.ServerFromEnv(t, envURL), "db": testDB, "collection": coll,
					"timeout": 3.0}
			},
		},
		{
			name: "nok, timeout not a duration",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "db": testDB, "collection": coll, "timeout": "soon"}
			},
			wantErr: `key "timeout"`, config: true,
		},
		{
			name: "nok, timeout zero",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "db": testDB, "collection": coll, "timeout": "0s"}
			},
			wantErr: `key "timeout": expected a positive duration`, config: true,
		},
		{
			name: "nok, timeout negative",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "db": testDB, "collection": coll, "timeout": "-1s"}
			},
			wantErr: `key "timeout": expected a positive duration`, config: true,
		},
		{
			name: "nok, missing db",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "collection": coll}
			},
			wantErr: `key "db": required`, config: true,
		},
		{
			name:    "nok, missing collection",
			opts:    func(*testing.T) sessionplus.Options { return sessionplus.Options{"client": offline, "db": testDB} },
			wantErr: `key "collection": required`, config: true,
		},
		{
			name:    "nok, neither client nor url",
			opts:    func(*testing.T) sessionplus.Options { return sessionplus.Options{"db": testDB, "collection": coll} },
			wantErr: `key "client" or "url": required`, config: true,
		},
		{
			name: "nok, both client and url",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "url": unreachable, "db": testDB, "collection": coll}
			},
			wantErr: `keys "client" and "url"`, config: true,
		},
		{
			name: "nok, unknown key",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "database": testDB, "collection": coll}
			},
			wantErr: `unknown key "database"`, config: true,
		},
		{
			name: "nok, create_indexes is a string",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "db": testDB, "collection": coll, "create_indexes": "yes"}
			},
			wantErr: `key "create_indexes"`, config: true,
		},
		{
			name: "nok, client of another type",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": "mongodb://localhost", "db": testDB, "collection": coll}
			},
			wantErr: `key "client": expected a *mongo.Client`, config: true,
		},
		{
			name: "nok, nil client",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": (*gomongo.Client)(nil), "db": testDB, "collection": coll}
			},
			wantErr: `key "client": the *mongo.Client is nil`, config: true,
		},
		{
			name: "nok, db name with a dot",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "db": "app.sessions", "collection": coll}
			},
			wantErr: `key "db"`, config: true,
		},
		{
			name: "nok, collection name with a dollar",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "db": testDB, "collection": "a$b"}
			},
			wantErr: `key "collection"`, config: true,
		},
		{
			name: "nok, url of another scheme",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "http://localhost:27017/", "db": testDB, "collection": coll}
			},
			wantErr: `key "url"`, config: true,
		},
		{
			name: "nok, bad url hides its password",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "mongodb://user:s3cr3t-pw@localhost:notaport/", "db": testDB, "collection": coll}
			},
			wantErr: `key "url"`, config: true, notIn: "s3cr3t-pw",
		},
		{
			name: "nok, client key given as nil",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": nil, "db": testDB, "collection": coll}
			},
			wantErr: `key "client": the *mongo.Client is nil`, config: true,
		},
		{
			name: "nok, url with an option the official driver refuses",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "mongodb://localhost:27017/?heartbeatFrequencyMS=100", "db": testDB, "collection": coll}
			},
			wantErr: `key "url": heartbeatFrequencyMS`, config: true,
		},
		{
			name: "nok, the logger as a key",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": offline, "db": testDB, "collection": coll, "logger": discard}
			},
			wantErr: `unknown key "logger"`, config: true,
		},
		{
			name: "nok, unreachable url with a short context",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": unreachable, "db": testDB, "collection": coll}
			},
			timeout: 300 * time.Millisecond,
			wantErr: `no answer from the server of key "url"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *gomongo.Client
			if tt.server {
				c = connect(t)
				t.Cleanup(func() { c.Database(testDB).Collection(coll).Drop(context.Background()) })
			}
			opts := tt.opts(t)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			start := time.Now()
			st, err := mongo.Driver{}.Open(ctx, sessionplus.DriverConfig{Options: opts, Name: "s", Logger: discard})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				ms, ok := st.(*mongo.Store)
				if !ok {
					t.Fatalf("Open returned %T, want *mongo.Store", st)
				}
				tok := randomName("test:")
				u := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: time.Now().Add(time.Hour)}
				if _, err := st.Save(ctx, tok, u); err != nil {
					t.Fatalf("Save: %v", err)
				}
				if _, err := st.Load(ctx, tok); err != nil {
					t.Fatalf("Load: %v", err)
				}
				// The record went to the collection that the options name.
				n, err := c.Database(testDB).Collection(coll).CountDocuments(ctx, bson.D{{Key: "_id", Value: tok}})
				if err != nil || n != 1 {
					t.Errorf("the record is not in %s.%s: count %d, %v", testDB, coll, n, err)
				}
				if err := ms.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				_, err = st.Load(ctx, tok)
				if _, isURL := opts["url"]; isURL && err == nil {
					t.Error("Load after Close succeeded: Close must disconnect the client Open built from url")
				}
				if client, ok := opts["client"].(*gomongo.Client); ok {
					if err != nil {
						t.Errorf("Load after Close failed (%v): Close must leave a client passed in connected", err)
					}
					if err := client.Ping(ctx, nil); err != nil {
						t.Errorf("Ping of the passed client after Close: %v", err)
					}
				}
				return
			}
			if err == nil {
				st.(*mongo.Store).Close()
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
			if tt.notIn != "" && strings.Contains(err.Error(), tt.notIn) {
				t.Errorf("Open error = %q, want it without %q", err, tt.notIn)
			}
			if d := time.Since(start); d > timeout+5*time.Second {
				t.Errorf("Open took %v with a context of %v", d, timeout)
			}
		})
	}
}

func counterURL(c *drivertest.Listener) string {
	return "mongodb://" + c.Addr + "/?directConnection=true"
}

// TestOpenChecksBeforeContacting shows that the mistakes the options'
// Validate finds come back from the root package's dry check of the
// configuration, naming session 2 and the key: the url's server is never
// dialed. Session 1, a valid session on the same server, would ping it in
// its Open: without the dry check it is opened before session 2's mistake
// is found. The last case, with no mistake, shows that the counter sees
// the dial of a real Open.
func TestOpenChecksBeforeContacting(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    sessionplus.Options
		wantKey string // the key the error names; "" for an Open that dials
	}{
		{name: "nok, timeout zero", opts: sessionplus.Options{"timeout": "0s"}, wantKey: "timeout"},
		{name: "nok, timeout negative", opts: sessionplus.Options{"timeout": "-1s"}, wantKey: "timeout"},
		{name: "nok, missing db", opts: sessionplus.Options{"db": nil}, wantKey: "db"},
		{name: "nok, collection of the system", opts: sessionplus.Options{"collection": "system.sessions"}, wantKey: "collection"},
		{name: "nok, url option refused", opts: sessionplus.Options{"url": "&heartbeatFrequencyMS=100"}, wantKey: "url"},
		{name: "ok, dials", opts: sessionplus.Options{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := drivertest.CountingServer(t)
			valid := sessionplus.Options{
				"cookie_name": "a", "session_type": "mongodb",
				"url": counterURL(srv), "db": testDB, "collection": "sessions", "timeout": "300ms",
			}
			sess := maps.Clone(valid)
			sess["cookie_name"] = "s"
			for k, v := range tt.opts {
				switch {
				case k == "url":
					sess[k] = counterURL(srv) + v.(string)
				case v == nil:
					delete(sess, k)
				default:
					sess[k] = v
				}
			}
			m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{valid, sess}, Logger: discard})
			if err == nil {
				m.Close()
				t.Fatal("New succeeded with a server that never answers")
			}
			t.Logf("New error: %v", err)
			if tt.wantKey == "" {
				if srv.Accepted() == 0 {
					t.Error("Open never dialed the server: the counter does not count")
				}
				return
			}
			var ce *sessionplus.ConfigError
			if !errors.As(err, &ce) || ce.Session != 2 || ce.Name != "s" || ce.Key != tt.wantKey {
				t.Errorf("New error = %v (%+v), want a *sessionplus.ConfigError of session 2 (\"s\") and key %q", err, ce, tt.wantKey)
			}
			if n := srv.Accepted(); n != 0 {
				t.Errorf("the server got %d connections before the mistake was reported, want 0", n)
			}
		})
	}
}

// capture is a slog.Handler that keeps the records it receives.
type capture struct {
	mu      sync.Mutex
	records []slog.Record
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r.Clone())
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func (c *capture) warnings() []slog.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []slog.Record
	for _, r := range c.records {
		if r.Level >= slog.LevelWarn {
			out = append(out, r)
		}
	}
	return out
}

// expiresIndex returns the index on expires_at of coll.
func expiresIndex(t *testing.T, coll *gomongo.Collection) (gomongo.IndexSpecification, bool) {
	t.Helper()
	specs, err := coll.Indexes().ListSpecifications(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if _, err := s.KeysDocument.LookupErr("expires_at"); err == nil {
			return s, true
		}
	}
	return gomongo.IndexSpecification{}, false
}

// TestTTLIndex opens the driver on a fresh collection. A server with TTL
// indexes gets one and no warning; a server without them (FerretDB answers
// NotImplemented, code 238) gets exactly one warning, a plain index for
// Sweep, and Open still succeeds.
func TestTTLIndex(t *testing.T) {
	c := connect(t)
	coll := newCollection(t, c)
	_, logs := openLogged(t, c, coll, nil)
	idx, ok := expiresIndex(t, coll)
	if !ok {
		t.Fatal("no index on expires_at after Open")
	}
	warnings := logs.warnings()
	if idx.ExpireAfterSeconds != nil {
		if *idx.ExpireAfterSeconds != 0 {
			t.Errorf("TTL index with expireAfterSeconds %d, want 0", *idx.ExpireAfterSeconds)
		}
		if len(warnings) != 0 {
			t.Errorf("the server made the TTL index, yet Open warned: %v", warnings)
		}
		t.Logf("the server supports TTL indexes: %s", idx.Name)
		return
	}
	t.Logf("the server has no TTL indexes; plain index %s", idx.Name)
	checkOneWarning(t, warnings)
}

// TestTTLIndexConflict opens the driver on a collection that has a plain
// index on expires_at already: whether the server supports TTL indexes
// (it then refuses a second index on the same key with other options) or
// not, Open succeeds with one warning.
func TestTTLIndexConflict(t *testing.T) {
	c := connect(t)
	coll := newCollection(t, c)
	if _, err := coll.Indexes().CreateOne(t.Context(), gomongo.IndexModel{Keys: bson.D{{Key: "expires_at", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	_, logs := openLogged(t, c, coll, nil)
	checkOneWarning(t, logs.warnings())

	// Without create_indexes, nothing is tried and nothing logged.
	_, logs = openLogged(t, c, coll, sessionplus.Options{"create_indexes": false})
	if w := logs.warnings(); len(w) != 0 {
		t.Errorf("Open with create_indexes false warned: %v", w)
	}
}

// TestUserIndexConflict opens the driver on a collection whose user_1
// index is the application's own, on another key spec (user descending),
// so the server refuses the store's: Open succeeds with one warning, and
// the listing of a user's sessions works.
func TestUserIndexConflict(t *testing.T) {
	c := connect(t)
	coll := newCollection(t, c)
	if _, err := coll.Indexes().CreateOne(t.Context(), gomongo.IndexModel{
		Keys: bson.D{{Key: "user", Value: -1}}, Options: options.Index().SetName("user_1"),
	}); err != nil {
		t.Fatal(err)
	}
	store, logs := openLogged(t, c, coll, nil)
	var about []string // FerretDB also warns that it has no TTL index
	for _, w := range logs.warnings() {
		if strings.Contains(w.Message, "index on user") {
			about = append(about, w.Message)
		}
	}
	if len(about) != 1 {
		t.Errorf("warnings about the index on user: %q, want one", about)
	}
	tok := randomName("conflict:")
	if _, err := store.Save(t.Context(), tok, sessionplus.Update{Kind: sessionplus.Create, User: "42",
		Set: map[string][]byte{"a": []byte("1")}, Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	recs, err := store.UserRecords(t.Context(), "42")
	if err != nil || len(recs) != 1 || recs[0].Token != tok {
		t.Errorf("UserRecords = %v, %v; want the one record", recs, err)
	}
}

// openLogged opens the driver on coll with extra options, logging to the
// capture it returns; the store is closed when the test ends.
func openLogged(t *testing.T, c *gomongo.Client, coll *gomongo.Collection, extra sessionplus.Options) (*mongo.Store, *capture) {
	t.Helper()
	logs := &capture{}
	opts := sessionplus.Options{"client": c, "db": testDB, "collection": coll.Name()}
	maps.Copy(opts, extra)
	st, err := mongo.Driver{}.Open(t.Context(), sessionplus.DriverConfig{Options: opts, Logger: slog.New(logs)})
	if err != nil {
		t.Fatalf("Open with %v: %v", extra, err)
	}
	t.Cleanup(func() { st.(*mongo.Store).Close() })
	return st.(*mongo.Store), logs
}

func checkOneWarning(t *testing.T, warnings []slog.Record) {
	t.Helper()
	if len(warnings) != 1 {
		t.Fatalf("%d warnings logged, want exactly one: %v", len(warnings), warnings)
	}
	w := warnings[0]
	if !strings.Contains(w.Message, "TTL") || !strings.Contains(w.Message, "Sweep") {
		t.Errorf("warning %q, want it to name the missing TTL index and Sweep", w.Message)
	}
	attrs := map[string]string{}
	w.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	if attrs["collection"] == "" || attrs["error"] == "" || attrs["reason"] == "" {
		t.Errorf("warning attributes %v, want collection, reason and error", attrs)
	}
}

// TestSweep shows that Sweep deletes the expired documents, and only those.
func TestSweep(t *testing.T) {
	c := connect(t)
	coll := newCollection(t, c)
	st := newStore(t, coll)
	ctx := t.Context()
	var liveToks []string
	for range 3 {
		tok := randomName("sweep:live:")
		u := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: time.Now().Add(time.Hour)}
		if _, err := st.Save(ctx, tok, u); err != nil {
			t.Fatal(err)
		}
		liveToks = append(liveToks, tok)
	}
	// Expired documents, as a server without TTL indexes keeps them.
	var expired []any
	for _, ago := range []time.Duration{time.Millisecond, time.Second, time.Hour, 40 * 24 * time.Hour} {
		expired = append(expired, bson.D{
			{Key: "_id", Value: randomName("sweep:expired:")},
			{Key: "data", Value: bson.D{{Key: "a", Value: []byte("old")}}},
			{Key: "expires_at", Value: time.Now().Add(-ago)},
		})
	}
	if _, err := coll.InsertMany(ctx, expired); err != nil {
		t.Fatal(err)
	}
	n, err := st.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n != int64(len(expired)) {
		t.Errorf("Sweep deleted %d documents, want %d", n, len(expired))
	}
	if left, err := coll.CountDocuments(ctx, bson.D{}); err != nil || left != int64(len(liveToks)) {
		t.Errorf("%d documents left after Sweep (%v), want the %d live ones", left, err, len(liveToks))
	}
	for _, tok := range liveToks {
		if _, err := st.Load(ctx, tok); err != nil {
			t.Errorf("Load of a live session after Sweep: %v", err)
		}
	}
	if n, err := st.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
	}
}

// recorder keeps the commands that a client sends.
type recorder struct {
	mu   sync.Mutex
	cmds []bson.Raw
}

func (r *recorder) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "endSessions" {
			return
		}
		r.mu.Lock()
		r.cmds = append(r.cmds, slices.Clone(e.Command))
		r.mu.Unlock()
	}}
}

// during returns the commands sent while f ran.
func (r *recorder) during(f func()) []bson.Raw {
	r.mu.Lock()
	r.cmds = nil
	r.mu.Unlock()
	f()
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cmds)
}

// oneStatement checks that cmds is one command named name of one
// statement, in the array arr ("updates", "deletes"), and returns it.
func oneStatement(t *testing.T, what string, cmds []bson.Raw, name, arr string) bson.Raw {
	t.Helper()
	if len(cmds) != 1 {
		t.Fatalf("%s sent %d commands, want 1: %v", what, len(cmds), cmds)
	}
	if got := keysOf(t, cmds[0])[0]; got != name {
		t.Fatalf("%s sent the command %q, want %q: %v", what, got, name, cmds[0])
	}
	stmts, err := cmds[0].Lookup(arr).Array().Values()
	if err != nil || len(stmts) != 1 {
		t.Fatalf("%s: command %v, want one statement (%v)", what, cmds[0], err)
	}
	return stmts[0].Document()
}

// checkLiveFilter checks that the filter of stmt is {_id: tok,
// expires_at: {$gt: <date>}}, and that it has no upsert.
func checkLiveFilter(t *testing.T, what string, stmt bson.Raw, tok string) {
	t.Helper()
	q := stmt.Lookup("q").Document()
	if keys := keysOf(t, q); !slices.Equal(keys, []string{"_id", "expires_at"}) {
		t.Errorf("%s: filter %v, want _id and expires_at", what, q)
	}
	if id, _ := q.Lookup("_id").StringValueOK(); id != tok {
		t.Errorf("%s: filter %v, want _id the token", what, q)
	}
	if _, ok := q.Lookup("expires_at", "$gt").DateTimeOK(); !ok {
		t.Errorf("%s: filter %v, want expires_at $gt a date", what, q)
	}
	if up, _ := stmt.Lookup("upsert").BooleanOK(); up {
		t.Errorf("%s: statement %v has upsert: a Write or Touch must create nothing", what, stmt)
	}
}

// TestDocumentShape checks the stored document, and that each kind of save
// and Delete is one command: Create one replace with upsert, Write one
// conditional update that $sets only the changed fields, Touch one
// conditional update of expires_at alone, Delete one delete.
func TestDocumentShape(t *testing.T) {
	rec := &recorder{}
	c := connect(t, options.Client().SetMonitor(rec.monitor()))
	coll := newCollection(t, c)
	st := newStore(t, coll)
	ctx := t.Context()

	tok := randomName("shape:")
	expiry := time.Now().Add(time.Hour)
	u := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{
		"user": []byte("alice"), "cart": []byte("c1"), "a.b": []byte("dotted"), "$p": []byte("dollar"), "": {0, 1},
	}, Expiry: expiry}
	var err error
	cmds := rec.during(func() { _, err = st.Save(ctx, tok, u) })
	if err != nil {
		t.Fatal(err)
	}
	stmt := oneStatement(t, "a Create", cmds, "update", "updates")
	if up, ok := stmt.Lookup("upsert").BooleanOK(); !ok || !up {
		t.Errorf("a Create: statement %v, want upsert true", stmt)
	}
	if keys := keysOf(t, stmt.Lookup("q").Document()); !slices.Equal(keys, []string{"_id"}) {
		t.Errorf("a Create: filter of %v, want _id alone", keys)
	}
	if keys := keysOf(t, stmt.Lookup("u").Document()); !slices.Equal(keys, []string{"_id", "data", "expires_at"}) {
		t.Errorf("a Create: update of %v, want the whole document", keys)
	}
	doc := rawDoc(t, coll, tok)
	if keys := keysOf(t, doc); !slices.Equal(keys, []string{"_id", "data", "expires_at"}) {
		t.Errorf("document keys %v, want [_id data expires_at]", keys)
	}
	if id, ok := doc.Lookup("_id").StringValueOK(); !ok || id != tok {
		t.Errorf("_id = %v, want the token as a string", doc.Lookup("_id"))
	}
	if ms, ok := doc.Lookup("expires_at").DateTimeOK(); !ok || ms != expiry.UnixMilli() {
		t.Errorf("expires_at = %v, want the date %v (milliseconds)", doc.Lookup("expires_at"), expiry.UnixMilli())
	}
	want := map[string]string{"user": "alice", "cart": "c1", "a%2Eb": "dotted", "%24p": "dollar", "%": "\x00\x01"}
	checkData(t, doc, want)

	// Change cart behind the driver's back: a field-level write of other
	// fields must leave it as it is.
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: tok}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "data.cart", Value: []byte("changed elsewhere")}}}}); err != nil {
		t.Fatal(err)
	}
	expiry2 := time.Now().Add(2 * time.Hour)
	cmds = rec.during(func() {
		_, err = st.Save(ctx, tok, sessionplus.Update{
			Kind: sessionplus.Write, Set: map[string][]byte{"user": []byte("bob")}, Del: []string{"a.b"}, Expiry: expiry2,
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	stmt = oneStatement(t, "a Write", cmds, "update", "updates")
	checkLiveFilter(t, "a Write", stmt, tok)
	if keys := keysOf(t, stmt.Lookup("u").Document()); !slices.Equal(keys, []string{"$set", "$unset"}) {
		t.Errorf("a Write: update of %v, want $set and $unset", keys)
	}
	set := stmt.Lookup("u", "$set").Document()
	if keys := keysOf(t, set); !slices.Equal(sorted(keys), []string{"data.user", "expires_at"}) {
		t.Errorf("a Write: $set of %v, want only data.user and expires_at", keys)
	}
	unset := stmt.Lookup("u", "$unset").Document()
	if keys := keysOf(t, unset); !slices.Equal(keys, []string{"data.a%2Eb"}) {
		t.Errorf("a Write: $unset of %v, want only data.a%%2Eb", keys)
	}
	doc = rawDoc(t, coll, tok)
	want = map[string]string{"user": "bob", "cart": "changed elsewhere", "%24p": "dollar", "%": "\x00\x01"}
	checkData(t, doc, want)
	if ms := doc.Lookup("expires_at").DateTime(); ms != expiry2.UnixMilli() {
		t.Errorf("expires_at = %d after the Write, want %d", ms, expiry2.UnixMilli())
	}
	r, err := st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if v := string(r.Values["$p"]); v != "dollar" || len(r.Values) != 4 {
		t.Errorf("Load = %q, want the four fields with their names decoded", r.Values)
	}

	expiry3 := time.Now().Add(3 * time.Hour)
	cmds = rec.during(func() {
		_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry3})
	})
	if err != nil {
		t.Fatal(err)
	}
	stmt = oneStatement(t, "a Touch", cmds, "update", "updates")
	checkLiveFilter(t, "a Touch", stmt, tok)
	if keys := keysOf(t, stmt.Lookup("u").Document()); !slices.Equal(keys, []string{"$set"}) {
		t.Errorf("a Touch: update of %v, want $set alone", keys)
	}
	if keys := keysOf(t, stmt.Lookup("u", "$set").Document()); !slices.Equal(keys, []string{"expires_at"}) {
		t.Errorf("a Touch: $set of %v, want expires_at alone", keys)
	}
	doc = rawDoc(t, coll, tok)
	checkData(t, doc, want)
	if ms := doc.Lookup("expires_at").DateTime(); ms != expiry3.UnixMilli() {
		t.Errorf("expires_at = %d after the Touch, want %d", ms, expiry3.UnixMilli())
	}

	cmds = rec.during(func() { err = st.Delete(ctx, tok) })
	if err != nil {
		t.Fatal(err)
	}
	stmt = oneStatement(t, "a Delete", cmds, "delete", "deletes")
	if keys := keysOf(t, stmt.Lookup("q").Document()); !slices.Equal(keys, []string{"_id"}) {
		t.Errorf("a Delete: filter of %v, want _id alone", keys)
	}

	// A Write and a Touch of the deleted document are one update each that
	// matches nothing, and create nothing.
	for _, u := range []sessionplus.Update{
		{Kind: sessionplus.Write, Set: map[string][]byte{"cart": []byte("c2")}, Expiry: expiry3},
		{Kind: sessionplus.Touch, Expiry: expiry3},
	} {
		cmds = rec.during(func() { _, err = st.Save(ctx, tok, u) })
		if !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("a %v of a deleted document = %v, want ErrNotFound", u.Kind, err)
		}
		oneStatement(t, "a "+u.Kind.String()+" of a deleted document", cmds, "update", "updates")
		if n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: tok}}); err != nil || n != 0 {
			t.Errorf("after a %v of a deleted document: %d documents (%v), want none", u.Kind, n, err)
		}
	}
}

func rawDoc(t *testing.T, coll *gomongo.Collection, tok string) bson.Raw {
	t.Helper()
	doc, err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: tok}}).Raw()
	if err != nil {
		t.Fatalf("reading the stored document: %v", err)
	}
	return doc
}

func keysOf(t *testing.T, doc bson.Raw) []string {
	t.Helper()
	elems, err := doc.Elements()
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(elems))
	for i, e := range elems {
		keys[i] = e.Key()
	}
	return keys
}

func sorted(s []string) []string { slices.Sort(s); return s }

// checkData compares the data sub-document of doc, by stored key, with want.
func checkData(t *testing.T, doc bson.Raw, want map[string]string) {
	t.Helper()
	data, ok := doc.Lookup("data").DocumentOK()
	if !ok {
		t.Fatalf("data is not a document: %v", doc)
	}
	elems, err := data.Elements()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range elems {
		sub, v, ok := e.Value().BinaryOK()
		if !ok || sub != 0 {
			t.Errorf("data.%s is %v, want binary of subtype 0", e.Key(), e.Value())
		}
		got[e.Key()] = string(v)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("data[%q] = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected data[%q] = %q", k, got[k])
		}
	}
}

// TestOddFieldNames checks names that MongoDB cannot take as a path, field
// by field, through the store.
func TestOddFieldNames(t *testing.T) {
	c := connect(t)
	st := newStore(t, newCollection(t, c))
	ctx := t.Context()
	names := []string{"a.b", ".", "..", "$", "$set", "a$", "%", "%2E", "%%", "", "\x00", "a\x00b", "\xff\xfe", "é.ü", "data", "0", "a b"}
	tok := randomName("odd:")
	expiry := time.Now().Add(time.Hour)
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	for i, name := range names { // one field-level write per name, on top of the others
		u := sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{name: {byte(i)}}, Expiry: expiry}
		if _, err := st.Save(ctx, tok, u); err != nil {
			t.Fatalf("field-level write of %q: %v", name, err)
		}
	}
	rec, err := st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Values) != len(names) {
		t.Errorf("Load returned %d fields, want %d: %q", len(rec.Values), len(names), rec.Values)
	}
	for i, name := range names {
		if v, ok := rec.Values[name]; !ok || len(v) != 1 || v[0] != byte(i) {
			t.Errorf("field %q = %v (present %v), want [%d]", name, v, ok, i)
		}
	}
}

// TestInterleavedRequests runs two requests of one browser that read the
// session, then each change another field, through the root package: both
// changes land.
func TestInterleavedRequests(t *testing.T) {
	c := connect(t)
	coll := newCollection(t, c)
	m, err := sessionplus.New(t.Context(), sessionplus.Config{
		Sessions: []sessionplus.Options{{
			"cookie_name": "s", "session_type": "mongodb", "client": c, "db": testDB, "collection": coll.Name(),
		}},
		Logger: discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	cookie := ""
	request := func() (*sessionplus.Session, *httptest.ResponseRecorder) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: "s", Value: cookie})
		}
		w := httptest.NewRecorder()
		return m.Begin(w, r), w
	}
	keep := func(w *httptest.ResponseRecorder) {
		for _, ck := range w.Result().Cookies() {
			if ck.Name == "s" {
				cookie = ck.Value
			}
		}
	}

	s, w := request()
	if err := errors.Join(s.Set("a", 0), s.Set("b", 0), s.Commit()); err != nil {
		t.Fatal(err)
	}
	keep(w)
	if cookie == "" {
		t.Fatal("no session cookie after the first request")
	}

	s1, w1 := request()
	s2, w2 := request()
	a1, _, err1 := sessionplus.GetAs[int](s1, "a") // both read the session first
	b2, _, err2 := sessionplus.GetAs[int](s2, "b")
	if err := errors.Join(err1, err2); err != nil || a1 != 0 || b2 != 0 {
		t.Fatalf("reads before the writes: a=%d b=%d, %v", a1, b2, err)
	}
	if err := errors.Join(s1.Set("a", 1), s2.Set("b", 2), s1.Commit(), s2.Commit()); err != nil {
		t.Fatal(err)
	}
	keep(w1)
	keep(w2)

	s, _ = request()
	a, _, errA := sessionplus.GetAs[int](s, "a")
	b, _, errB := sessionplus.GetAs[int](s, "b")
	if err := errors.Join(errA, errB); err != nil {
		t.Fatal(err)
	}
	if a != 1 || b != 2 {
		t.Errorf("after two interleaved requests a=%d b=%d, want 1 and 2: one request's write was lost", a, b)
	}

	// The manager closes the stores it opened, but a client passed in stays
	// connected.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context(), nil); err != nil {
		t.Errorf("the client passed in was disconnected by Manager.Close: %v", err)
	}
}

// TestServerDown shows that a server that does not answer gives errors,
// never a missing session.
func TestServerDown(t *testing.T) {
	c, err := gomongo.Connect(options.Client().ApplyURI(unreachable).SetServerSelectionTimeout(200 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	st := newStore(t, c.Database(testDB).Collection("sessions"))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tok := "session:" + strings.Repeat("Ab3_", 10) + "xyz"
	check := func(op string, err error) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s with the server down succeeded", op)
		case errors.Is(err, sessionplus.ErrNotFound):
			t.Errorf("%s with the server down = %q, which wraps ErrNotFound: the session would be taken for absent", op, err)
		}
	}
	_, err = st.Load(ctx, tok)
	check("Load", err)
	_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": nil}, Expiry: time.Now().Add(time.Hour)})
	check("Save (create)", err)
	_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"a": nil}, Expiry: time.Now().Add(time.Hour)})
	check("Save (write)", err)
	_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: time.Now().Add(time.Hour)})
	check("Save (touch)", err)
	check("Delete", st.Delete(ctx, tok))
	_, err = st.Sweep(ctx)
	check("Sweep", err)
}

// TestRecordTooLarge shows that a record over MongoDB's 16 MiB is refused,
// whatever the server would do, and leaves the stored one as it was.
func TestRecordTooLarge(t *testing.T) {
	c := connect(t)
	// Writing 15 MiB takes FerretDB (SQLite) longer than the default
	// timeout of 5s: give the store more.
	st, err := mongo.New(newCollection(t, c), &mongo.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	tok := randomName("large:")
	expiry := time.Now().Add(time.Hour)
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 16<<20)
	for _, u := range []sessionplus.Update{
		{Kind: sessionplus.Create, Set: map[string][]byte{"big": big}, Expiry: expiry},
		{Kind: sessionplus.Write, Set: map[string][]byte{"big": big}, Expiry: expiry},
		{Kind: sessionplus.Write, Set: map[string][]byte{"b1": big[:9<<20], "b2": big[:8<<20]}, Expiry: expiry},
	} {
		_, err := st.Save(ctx, tok, u)
		if !errors.Is(err, sessionplus.ErrRecordTooLarge) {
			t.Errorf("Save (%v) of %d fields over 16 MiB = %v, want an error wrapping ErrRecordTooLarge", u.Kind, len(u.Set), err)
		}
	}
	rec, err := st.Load(ctx, tok)
	if err != nil || len(rec.Values) != 1 || string(rec.Values["a"]) != "1" {
		t.Errorf("Load after the refused saves = %q, %v; want the record as it was", rec.Values, err)
	}
	// Just under the limit is fine.
	start := time.Now()
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"big": big[:15<<20]}, Expiry: expiry}); err != nil {
		t.Errorf("Save of 15 MiB: %v", err)
	}
	t.Logf("Save of 15 MiB took %v", time.Since(start).Round(time.Millisecond))
}

// TestKeyPrefix shows that a key_prefix too long for a document id fails
// the configuration, before any I/O.
func TestKeyPrefix(t *testing.T) {
	c, err := gomongo.Connect(options.Client().ApplyURI(unreachable))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	st := newStore(t, c.Database(testDB).Collection("sessions"))
	for _, tt := range []struct {
		prefix string
		ok     bool
	}{{"session", true}, {strings.Repeat("p", 980), true}, {strings.Repeat("p", 981), false}} {
		m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{
			{"cookie_name": "s", "session_type": "mongodb", "store": st, "key_prefix": tt.prefix},
		}})
		if tt.ok {
			if err != nil {
				t.Errorf("key_prefix of %d bytes: %v", len(tt.prefix), err)
			} else {
				m.Close()
			}
			continue
		}
		if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), `key "key_prefix"`) {
			t.Errorf("key_prefix of %d bytes: err = %v, want a configuration error naming key_prefix", len(tt.prefix), err)
		}
	}
}

// hungClient returns a client, with the driver's defaults, of a server
// that never answers, disconnected when the test ends.
func hungClient(t *testing.T) *gomongo.Client {
	t.Helper()
	c, err := gomongo.Connect(options.Client().ApplyURI("mongodb://" + drivertest.HungServer(t) + "/?directConnection=true"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Disconnect(ctx)
	})
	return c
}

// timeoutSlack is how much later than its bound an operation against a
// server that never answers may return, on a loaded machine.
const timeoutSlack = time.Second

// checkTimedOut checks that err, of op after d, is the store's timeout
// (within bound): context.DeadlineExceeded, saying so, and not ErrNotFound.
func checkTimedOut(t *testing.T, op string, err error, d, bound time.Duration) {
	t.Helper()
	t.Logf("%s from a server that never answers, no deadline: %v after %v", op, err, d.Round(time.Millisecond))
	switch {
	case err == nil:
		t.Errorf("%s from a server that never answers succeeded", op)
	case errors.Is(err, sessionplus.ErrNotFound):
		t.Errorf("%s: the error %q wraps ErrNotFound", op, err)
	case !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("%s: the error %q is not context.DeadlineExceeded", op, err)
	case !strings.Contains(err.Error(), "(the store's timeout)"):
		t.Errorf("%s: the error %q does not say the store's timeout ended it", op, err)
	}
	if d > bound+timeoutSlack {
		t.Errorf("%s returned after %v, want at most %v + %v", op, d, bound, timeoutSlack)
	}
}

// TestTimeout shows that the store's timeout bounds every operation on a
// server that never answers when the caller's context has no deadline, on
// a client passed in with the driver's defaults (whose server selection
// alone would wait 30s).
func TestTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	st, err := mongo.New(hungClient(t).Database(testDB).Collection("sessions"), &mongo.Options{Timeout: timeout, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	const tok = "hang:token"
	hour := time.Now().Add(time.Hour)
	for _, op := range []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"Load", func(ctx context.Context) error { _, err := st.Load(ctx, tok); return err }},
		{"Save (create)", func(ctx context.Context) error {
			_, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": nil}, Expiry: hour})
			return err
		}},
		{"Save (write)", func(ctx context.Context) error {
			_, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"a": nil}, Expiry: hour})
			return err
		}},
		{"Save (touch)", func(ctx context.Context) error {
			_, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: hour})
			return err
		}},
		{"Delete", func(ctx context.Context) error { return st.Delete(ctx, tok) }},
		{"CreateIndexes", func(ctx context.Context) error { return st.CreateIndexes(ctx) }},
	} {
		start := time.Now()
		err := op.do(context.Background())
		checkTimedOut(t, op.name, err, time.Since(start), timeout)
	}
}

// TestTimeoutDefault shows that a store of New bounds an operation by
// DefaultTimeout when neither the caller nor the options give a bound.
func TestTimeoutDefault(t *testing.T) {
	st, err := mongo.New(hungClient(t).Database(testDB).Collection("sessions"), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = st.Load(context.Background(), "hang:token")
	d := time.Since(start)
	checkTimedOut(t, "Load", err, d, mongo.DefaultTimeout)
	if d < mongo.DefaultTimeout-100*time.Millisecond {
		t.Errorf("Load returned after %v, before DefaultTimeout (%v)", d, mongo.DefaultTimeout)
	}
}

// TestTimeoutOpen shows that the timeout option bounds Open's ping of a
// server that never answers, for a client built from url and for one
// passed in, with a context without deadline.
func TestTimeoutOpen(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts sessionplus.Options
	}{
		{"url", sessionplus.Options{"url": "mongodb://" + drivertest.HungServer(t) + "/?directConnection=true"}},
		{"client", sessionplus.Options{"client": hungClient(t)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts["db"], tt.opts["collection"], tt.opts["timeout"] = testDB, "sessions", "300ms"
			start := time.Now()
			st, err := mongo.Driver{}.Open(context.Background(), sessionplus.DriverConfig{Options: tt.opts})
			if err == nil {
				st.(*mongo.Store).Close()
				t.Fatal("Open of a server that never answers succeeded")
			}
			checkTimedOut(t, "Open", err, time.Since(start), 300*time.Millisecond)
		})
	}
}

func TestNewNegativeTimeout(t *testing.T) {
	c, err := gomongo.Connect(options.Client().ApplyURI(unreachable))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	_, err = mongo.New(c.Database(testDB).Collection("sessions"), &mongo.Options{Timeout: -time.Second})
	if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), "Options.Timeout") {
		t.Errorf("New with a negative Timeout: %v, want a configuration error naming Options.Timeout", err)
	}
}

func TestNewNilCollection(t *testing.T) {
	if _, err := mongo.New(nil, nil); err == nil {
		t.Error("New(nil, nil) succeeded")
	}
}
