package firestore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gfirestore "cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/firestore"
	"github.com/sessionplus/sessionplus/drivers/redis"
)

// projectID is the project the tests use on the emulator.
func projectID() string {
	if p := os.Getenv("SESSIONPLUS_FIRESTORE_PROJECT"); p != "" {
		return p
	}
	return "sessionplus-test"
}

// newClient returns a client of the emulator that FIRESTORE_EMULATOR_HOST
// names, closed when the test ends. Without one the test is skipped, or
// fails under CI=true.
func newClient(t *testing.T) *gfirestore.Client {
	t.Helper()
	drivertest.ServerFromEnv(t, "FIRESTORE_EMULATOR_HOST")
	c, err := gfirestore.NewClient(context.Background(), projectID())
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// randomCollection returns a new collection name, so that runs against a
// shared emulator never meet.
func randomCollection() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "sessionplus-test-" + hex.EncodeToString(b)
}

// newStore returns a store on a new collection of c.
func newStore(t *testing.T, c *gfirestore.Client) (*firestore.Store, string) {
	t.Helper()
	coll := randomCollection()
	st, err := firestore.New(c, &firestore.Options{Collection: coll})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return st, coll
}

// rawDoc returns the stored document of token, as Firestore holds it.
func rawDoc(t *testing.T, c *gfirestore.Client, coll, token string) map[string]any {
	t.Helper()
	snap, err := c.Collection(coll).Doc(firestore.DocID(token)).Get(t.Context())
	if err != nil {
		t.Fatalf("reading the raw document: %v", err)
	}
	return snap.Data()
}

func vals(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "session:" + hex.EncodeToString(b)[:43]
}

type harness struct {
	client *gfirestore.Client
	coll   string
}

func (h *harness) MakeStore(context.Context) (sessionplus.Store, error) {
	return firestore.New(h.client, &firestore.Options{Collection: h.coll})
}
func (h *harness) Stateless() bool { return false }
func (h *harness) Close()          {}

func TestConformance(t *testing.T) {
	c := newClient(t)
	coll := randomCollection() // one per run
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return &harness{client: c, coll: coll}, nil
	})
}

func TestOpen(t *testing.T) {
	c := newClient(t)
	coll := randomCollection()
	tests := []struct {
		name    string
		opts    sessionplus.Options
		wantErr string // a substring of the error, naming the key; "" for none
	}{
		{name: "ok, client", opts: sessionplus.Options{"client": c, "collection": coll}},
		{name: "ok, project_id with the emulator", opts: sessionplus.Options{"project_id": projectID(), "collection": coll}},
		{name: "ok, subcollection path", opts: sessionplus.Options{"client": c, "collection": "apps/shop/" + coll}},
		{
			name:    "nok, missing collection",
			opts:    sessionplus.Options{"client": c},
			wantErr: `key "collection": required`,
		},
		{
			name:    "nok, empty collection",
			opts:    sessionplus.Options{"client": c, "collection": ""},
			wantErr: `key "collection": required`,
		},
		{
			name:    "nok, neither client nor project_id",
			opts:    sessionplus.Options{"collection": coll},
			wantErr: `key "client" or "project_id": one is required`,
		},
		{
			name:    "nok, both client and project_id",
			opts:    sessionplus.Options{"client": c, "project_id": projectID(), "collection": coll},
			wantErr: `key "project_id": set either "client" or "project_id", not both`,
		},
		{
			name:    "nok, unknown key",
			opts:    sessionplus.Options{"client": c, "collection": coll, "database": "other"},
			wantErr: `unknown key "database"`,
		},
		{
			name:    "nok, collection is a number",
			opts:    sessionplus.Options{"client": c, "collection": 42},
			wantErr: `key "collection"`,
		},
		{
			name:    "nok, client of another type",
			opts:    sessionplus.Options{"client": "localhost:8080", "collection": coll},
			wantErr: `key "client"`,
		},
		{
			name:    "nok, nil client",
			opts:    sessionplus.Options{"client": (*gfirestore.Client)(nil), "collection": coll},
			wantErr: `key "client": expected a *firestore.Client, got nil`,
		},
		{
			name:    "nok, empty project_id",
			opts:    sessionplus.Options{"project_id": "", "collection": coll},
			wantErr: `key "project_id"`,
		},
		{name: "ok, timeout", opts: sessionplus.Options{"client": c, "collection": coll, "timeout": "2s"}},
		{name: "ok, no timeout", opts: sessionplus.Options{"client": c, "collection": coll, "timeout": -1}},
		{
			name:    "nok, timeout of 0",
			opts:    sessionplus.Options{"client": c, "collection": coll, "timeout": 0},
			wantErr: `key "timeout"`,
		},
		{
			name:    "nok, timeout not a duration",
			opts:    sessionplus.Options{"client": c, "collection": coll, "timeout": "soon"},
			wantErr: `key "timeout"`,
		},
		{
			name:    "nok, document path as collection",
			opts:    sessionplus.Options{"client": c, "collection": "apps/shop"},
			wantErr: `key "collection": "apps/shop" is a document path`,
		},
		{
			name:    "nok, reserved collection id",
			opts:    sessionplus.Options{"client": c, "collection": "__sessions__"},
			wantErr: `key "collection": "__sessions__" has the id "__sessions__"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := firestore.Driver{}.Open(t.Context(), sessionplus.DriverConfig{Options: tt.opts, Name: "s"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				fst, ok := st.(*firestore.Store)
				if !ok {
					t.Fatalf("Open returned %T, want *firestore.Store", st)
				}
				tok := token()
				u := sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "1"), Expiry: time.Now().Add(time.Hour)}
				if _, err := st.Save(t.Context(), tok, u); err != nil {
					t.Fatalf("Save through the opened store: %v", err)
				}
				if err := st.Delete(t.Context(), tok); err != nil {
					t.Fatalf("Delete through the opened store: %v", err)
				}
				if err := fst.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Open succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.wantErr)
			}
			if !errors.Is(err, sessionplus.ErrConfig) {
				t.Errorf("Open error = %q, want it to wrap sessionplus.ErrConfig", err)
			}
			if st != nil {
				t.Errorf("Open returned a store (%T) along with its error", st)
			}
		})
	}
}

// TestOpenDryCheck shows that a mistake Validate finds comes back from the
// root package's dry check of the options, naming session 2 and the key,
// before any backend is contacted: a listener that counts connections, the
// "emulator" of the sessions, gets none. Session 1 is a valid redis session
// on the same listener: a Firestore client connects lazily, but the redis
// driver pings in its Open, so without the dry check it would dial the
// listener before session 2's mistake is found. The last case, with no
// mistake, shows that the counter sees that dial. It needs no server.
func TestOpenDryCheck(t *testing.T) {
	// The client passed in talks to a server of its own: gRPC may connect
	// it in the background whatever the options, and only the sessions'
	// own connections must stay off each case's listener.
	t.Setenv("FIRESTORE_EMULATOR_HOST", drivertest.CountingServer(t).Addr)
	c, err := gfirestore.NewClient(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, tt := range []struct {
		name    string
		opts    sessionplus.Options
		wantKey string // the key the error names; "" for a configuration without a mistake
	}{
		{"nok, timeout of 0", sessionplus.Options{"project_id": "p", "collection": "sessions", "timeout": "0s"}, "timeout"},
		{"nok, both client and project_id", sessionplus.Options{"client": c, "project_id": "p", "collection": "sessions"}, "project_id"},
		{"nok, no collection", sessionplus.Options{"project_id": "p"}, "collection"},
		{"nok, document path as collection", sessionplus.Options{"client": c, "collection": "apps/shop"}, "collection"},
		{"ok, the redis session dials", sessionplus.Options{"project_id": "p", "collection": "sessions"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := drivertest.CountingServer(t)
			t.Setenv("FIRESTORE_EMULATOR_HOST", srv.Addr)
			valid := sessionplus.Options{"cookie_name": "a", "session_type": redis.Name, "url": "redis://" + srv.Addr + "/0", "timeout": "200ms"}
			sess := sessionplus.Options{"cookie_name": "s", "session_type": firestore.Name}
			maps.Copy(sess, tt.opts)
			m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{valid, sess}})
			if err == nil {
				m.Close()
				t.Fatal("sessionplus.New succeeded, want an error")
			}
			t.Logf("New error: %v", err)
			if tt.wantKey == "" {
				if srv.Accepted() == 0 {
					t.Error("the redis session's Open never dialed the listener: the counter does not count")
				}
				return
			}
			var ce *sessionplus.ConfigError
			if !errors.As(err, &ce) || ce.Session != 2 || ce.Name != "s" || ce.Key != tt.wantKey {
				t.Errorf("sessionplus.New = %v (%+v), want a *ConfigError of session 2 (\"s\") naming key %q", err, ce, tt.wantKey)
			}
			if n := srv.Accepted(); n != 0 {
				t.Errorf("the listener got %d connections, want 0: the mistake must be reported before any backend is contacted", n)
			}
		})
	}
}

// TestClose shows that Close closes the client built from project_id, and
// never a client passed in.
func TestClose(t *testing.T) {
	c := newClient(t)
	coll := randomCollection()
	st, err := firestore.Driver{}.Open(t.Context(), sessionplus.DriverConfig{Options: sessionplus.Options{"client": c, "collection": coll}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.(*firestore.Store).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.Collection(coll).Doc("x").Get(t.Context()); err != nil && !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("the client passed in no longer works after the store's Close: %v", err)
	}

	st, err = firestore.Driver{}.Open(t.Context(), sessionplus.DriverConfig{Options: sessionplus.Options{"project_id": projectID(), "collection": coll}})
	if err != nil {
		t.Fatal(err)
	}
	fst := st.(*firestore.Store)
	if err := fst.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := fst.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := fst.Load(t.Context(), token()); err == nil || errors.Is(err, sessionplus.ErrNotFound) {
		t.Fatalf("Load after Close of the client built from project_id = %v, want a failure (the client is closed)", err)
	}
}

func TestNew(t *testing.T) {
	c := newClient(t)
	for _, tt := range []struct {
		name    string
		client  *gfirestore.Client
		opts    *firestore.Options
		wantErr string
	}{
		{"nil client", nil, &firestore.Options{Collection: "sessions"}, "client is nil"},
		{"nil options", c, nil, "Options.Collection is required"},
		{"empty collection", c, &firestore.Options{}, "Options.Collection is required"},
		{"bad collection", c, &firestore.Options{Collection: "a//b"}, "Options.Collection"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := firestore.New(tt.client, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, sessionplus.ErrConfig) {
				t.Fatalf("New = %v, %v; want an ErrConfig error containing %q", st, err, tt.wantErr)
			}
		})
	}
}

// TestDocumentShape inspects the stored document: one data map of bytes
// and an expires_at timestamp, and a field-level write that writes only
// the fields that changed.
func TestDocumentShape(t *testing.T) {
	c := newClient(t)
	st, coll := newStore(t, c)
	ctx := t.Context()
	tok := token()
	t.Cleanup(func() { st.Delete(context.Background(), tok) })

	expiry := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "1", "b", "2", "c", "3"), Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	doc := rawDoc(t, c, coll, tok)
	if got := slices.Sorted(maps.Keys(doc)); !slices.Equal(got, []string{"data", "expires_at"}) {
		t.Fatalf("document fields = %v, want [data expires_at]", got)
	}
	if exp, ok := doc["expires_at"].(time.Time); !ok || !exp.Equal(expiry) {
		t.Errorf("expires_at = %#v, want the timestamp %v", doc["expires_at"], expiry)
	}
	data, ok := doc["data"].(map[string]any)
	if !ok {
		t.Fatalf("data = %#v, want a map", doc["data"])
	}
	if b, ok := data["a"].([]byte); !ok || string(b) != "1" {
		t.Errorf("data.a = %#v, want the bytes \"1\"", data["a"])
	}

	// Another writer changes a behind the store's back: a field-level write
	// of b and c must leave it alone.
	if _, err := c.Collection(coll).Doc(firestore.DocID(tok)).Update(ctx, []gfirestore.Update{
		{FieldPath: gfirestore.FieldPath{"data", "a"}, Value: []byte("other writer")},
	}); err != nil {
		t.Fatal(err)
	}
	expiry = expiry.Add(time.Hour)
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: vals("b", "22"), Del: []string{"c"}, Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	doc = rawDoc(t, c, coll, tok)
	want := map[string]string{"a": "other writer", "b": "22"}
	data, _ = doc["data"].(map[string]any)
	got := map[string]string{}
	for k, v := range data {
		b, _ := v.([]byte)
		got[k] = string(b)
	}
	if !maps.Equal(got, want) {
		t.Errorf("data after a field-level write of b and a deletion of c = %v, want %v "+
			"(only the changed fields may be written)", got, want)
	}
	if exp, ok := doc["expires_at"].(time.Time); !ok || !exp.Equal(expiry) {
		t.Errorf("expires_at after the field-level write = %#v, want %v", doc["expires_at"], expiry)
	}
}

// TestOddFieldNamesStored shows how field names that Firestore cannot take
// as they are get stored: escaped, one key each, never nested.
func TestOddFieldNamesStored(t *testing.T) {
	c := newClient(t)
	st, coll := newStore(t, c)
	ctx := t.Context()
	tok := token()
	t.Cleanup(func() { st.Delete(context.Background(), tok) })

	stored := map[string]string{ // field name: key in the data map
		"user":       "user",
		"a.b":        "a.b",
		"$x":         "$x",
		"with space": "with space",
		"ünïcødé ✓":  "ünïcødé ✓",
		"a/b":        "a/b",
		"`":          "`",
		"":           "%",
		"__name__":   "%5F_name__",
		"100%":       "100%25",
		"%":          "%25",
		"\x01":       "%01",
		"\xff":       "%FF",
	}
	values := map[string][]byte{}
	for name := range stored {
		values[name] = []byte("v " + name)
	}
	expiry := time.Now().Add(time.Hour)
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: values, Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	data, _ := rawDoc(t, c, coll, tok)["data"].(map[string]any)
	for name, key := range stored {
		if _, ok := data[key]; !ok {
			t.Errorf("field %q: no key %q in the data map (keys: %q)", name, key, slices.Sorted(maps.Keys(data)))
		}
	}
	if len(data) != len(stored) {
		t.Errorf("data map has %d keys, want %d: %q", len(data), len(stored), slices.Sorted(maps.Keys(data)))
	}
	rec, err := st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range values {
		if got := string(rec.Values[name]); got != string(v) {
			t.Errorf("field %q loaded as %q, want %q", name, got, v)
		}
	}

	// A field-level write of escaped names updates and deletes the same keys.
	u := sessionplus.Update{Kind: sessionplus.Write, Set: vals("", "new", "100%", "new"), Del: []string{"__name__", "\xff"}, Expiry: expiry}
	if _, err := st.Save(ctx, tok, u); err != nil {
		t.Fatal(err)
	}
	data, _ = rawDoc(t, c, coll, tok)["data"].(map[string]any)
	for key, want := range map[string]string{"%": "new", "100%25": "new"} {
		if b, _ := data[key].([]byte); string(b) != want {
			t.Errorf("data[%q] = %q after the field-level write, want %q", key, b, want)
		}
	}
	for _, key := range []string{"%5F_name__", "%FF"} {
		if _, ok := data[key]; ok {
			t.Errorf("data[%q] is still there after the field-level write deleted it", key)
		}
	}
}

// TestTokensAsDocumentIDs shows that tokens Firestore could not take as
// document ids are stored under escaped ids, and that those that cannot be
// stored at all are not found, never a panic.
func TestTokensAsDocumentIDs(t *testing.T) {
	c := newClient(t)
	st, coll := newStore(t, c)
	ctx := t.Context()
	expiry := time.Now().Add(time.Hour)
	for tok, id := range map[string]string{
		"session:abc":             "session:abc",
		"a/b:c":                   "a%2Fb:c",
		".":                       "%2E",
		"..":                      "%2E%2E",
		"__session__:abc__":       "%5F_session__:abc__",
		"100%:x":                  "100%25:x",
		"bad\xffutf8:x":           "bad%FFutf8:x",
		strings.Repeat("x", 1500): strings.Repeat("x", 1500),
	} {
		if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("t", tok), Expiry: expiry}); err != nil {
			t.Errorf("Save under %.20q: %v", tok, err)
			continue
		}
		if got := firestore.DocID(tok); got != id {
			t.Errorf("DocID(%.20q) = %.30q, want %.30q", tok, got, id)
		}
		snap, err := c.Collection(coll).Doc(id).Get(ctx)
		if err != nil || !snap.Exists() {
			t.Errorf("the document of %.20q is not at the id %.30q: %v", tok, id, err)
		}
		rec, err := st.Load(ctx, tok)
		if err != nil || string(rec.Values["t"]) != tok {
			t.Errorf("Load(%.20q) = %q, %v", tok, rec.Values["t"], err)
		}
		if err := st.Delete(ctx, tok); err != nil {
			t.Errorf("Delete(%.20q): %v", tok, err)
		}
	}

	for _, tok := range []string{"", strings.Repeat("x", 1501), strings.Repeat("/", 501)} {
		if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Load of the unusable token %.20q (%d bytes) = %v, want ErrNotFound", tok, len(tok), err)
		}
		if err := st.Delete(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Delete of the unusable token %.20q = %v, want ErrNotFound", tok, err)
		}
		_, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: vals("a", "1"), Expiry: expiry})
		if !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("field-level write of the unusable token %.20q = %v, want ErrNotFound", tok, err)
		}
		_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry})
		if !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("keep-alive of the unusable token %.20q = %v, want ErrNotFound", tok, err)
		}
		_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "1"), Expiry: expiry})
		if err == nil || errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Save under the unusable token %.20q = %v, want an error that is not ErrNotFound", tok, err)
		}
	}
}

// TestDeadline shows that a context that ends fails every operation with
// an error that is not ErrNotFound: the root package must not mistake it
// for an absent session. (The root package never passes a context that
// has ended already; one past its deadline is the quickest way to a call
// that outlives its deadline.)
func TestDeadline(t *testing.T) {
	c := newClient(t)
	st, _ := newStore(t, c)
	tok := token()
	expiry := time.Now().Add(time.Hour)
	if _, err := st.Save(t.Context(), tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "1"), Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Delete(context.Background(), tok) })
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()

	check := func(op string, err error) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s with a context past its deadline succeeded", op)
		case errors.Is(err, sessionplus.ErrNotFound):
			t.Errorf("%s with a context past its deadline = %q, which wraps ErrNotFound", op, err)
		case !errors.Is(err, context.DeadlineExceeded):
			t.Errorf("%s with a context past its deadline = %q, want it to wrap context.DeadlineExceeded", op, err)
		}
	}
	_, err := st.Load(ctx, tok)
	check("Load", err)
	_, err = st.Load(ctx, token())
	check("Load of an unknown token", err)
	_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "2"), Expiry: expiry})
	check("Save (replace)", err)
	_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: vals("a", "2"), Expiry: expiry})
	check("Save (field-level write)", err)
	_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry})
	check("Save (keep-alive)", err)
	check("Delete", st.Delete(ctx, tok))

	// A deadline that passes during the call.
	short, cancel2 := context.WithTimeout(context.Background(), time.Microsecond)
	defer cancel2()
	time.Sleep(time.Millisecond)
	_, err = st.Load(short, tok)
	check("Load with a deadline that has just passed", err)

	rec, err := st.Load(t.Context(), tok)
	if err != nil || string(rec.Values["a"]) != "1" {
		t.Fatalf("the record changed though every write's deadline had passed: %q, %v", rec.Values["a"], err)
	}
}

// TestNearExpiry covers writes to a record that expires soon (within a
// minute, which the driver once treated apart).
func TestNearExpiry(t *testing.T) {
	c := newClient(t)
	st, _ := newStore(t, c)
	ctx := t.Context()
	tok := token()
	t.Cleanup(func() { st.Delete(context.Background(), tok) })

	soon := time.Now().Add(20 * time.Second)
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "1", "b", "2"), Expiry: soon}); err != nil {
		t.Fatal(err)
	}
	expiry := time.Now().Add(30 * time.Second)
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: vals("c", "3"), Del: []string{"b"}, Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rec.Values); got != fmt.Sprint(vals("a", "1", "c", "3")) {
		t.Errorf("after a field-level write of a record near its expiry: %s, want a and c", got)
	}
	expiry = time.Now().Add(time.Hour)
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry}); err != nil {
		t.Fatalf("keep-alive of a record near its expiry: %v", err)
	}
	rec, err = st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if d := rec.Expiry.Sub(expiry).Abs(); d > time.Millisecond {
		t.Errorf("expiry after the keep-alive = %v, want %v", rec.Expiry, expiry)
	}
}

// TestConcurrentNearExpiry runs concurrent field-level writes of different
// fields to a record that expires within a minute, as the sessions of a
// short lifetime always do: every field lands (the driver used to guard
// such writes with a last-update-time precondition, under which writers
// that read the same version failed and had to try again).
func TestConcurrentNearExpiry(t *testing.T) {
	c := newClient(t)
	st, _ := newStore(t, c)
	ctx := t.Context()
	tok := token()
	t.Cleanup(func() { st.Delete(context.Background(), tok) })
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("base", "b"), Expiry: time.Now().Add(20 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 6, 3
	expiry := time.Now().Add(30 * time.Second)
	start := make(chan struct{})
	var wg sync.WaitGroup
	want := vals("base", "b")
	for i := range writers {
		name := fmt.Sprintf("f%d", i)
		want[name] = []byte(fmt.Sprintf("%s-%d", name, rounds-1))
		wg.Go(func() {
			<-start
			for r := range rounds {
				u := sessionplus.Update{Kind: sessionplus.Write, Set: vals(name, fmt.Sprintf("%s-%d", name, r)), Expiry: expiry}
				if _, err := st.Save(ctx, tok, u); err != nil {
					t.Errorf("field-level write of %s: %v", name, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	rec, err := st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rec.Values); got != fmt.Sprint(want) {
		t.Errorf("after concurrent field-level writes to a record near its expiry: %s, want %s", got, fmt.Sprint(want))
	}
}

// TestConcurrentRevive sends concurrent field-level writes and keep-alives
// to a record that has expired but is still stored, as it is until
// Firestore's TTL policy deletes it (a day or more later): none may bring
// it back. Each fails with ErrNotFound, and the document is left as it was.
func TestConcurrentRevive(t *testing.T) {
	c := newClient(t)
	st, coll := newStore(t, c)
	ctx := t.Context()
	tok := token()
	t.Cleanup(func() { st.Delete(context.Background(), tok) })
	// The root package never saves an expiry in the past: the record
	// expired in the backend, so write it there.
	expired := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	ref := c.Collection(coll).Doc(firestore.DocID(tok))
	if _, err := ref.Set(ctx, map[string]any{
		"data":       map[string]any{"user": []byte("old-user"), "role": []byte("admin")},
		"expires_at": expired,
	}); err != nil {
		t.Fatal(err)
	}
	before, err := ref.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expiry := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			u := sessionplus.Update{Kind: sessionplus.Write, Set: vals(fmt.Sprintf("f%d", i), "x"), Del: []string{"role"}, Expiry: expiry}
			if i%2 == 1 {
				u = sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry}
			}
			if _, err := st.Save(ctx, tok, u); !errors.Is(err, sessionplus.ErrNotFound) {
				t.Errorf("%v of an expired record = %v, want ErrNotFound", u.Kind, err)
			}
		})
	}
	wg.Wait()
	after, err := ref.Get(ctx)
	if err != nil {
		t.Fatalf("the expired document is gone: %v", err)
	}
	if !after.UpdateTime.Equal(before.UpdateTime) {
		t.Errorf("the expired document was written (update time %v, then %v): %v", before.UpdateTime, after.UpdateTime, after.Data())
	}
	rec, err := st.Load(ctx, tok)
	if err != nil || rec.Expiry.After(time.Now()) {
		t.Errorf("Load after the writes = %v, %v; want the expired record (expiry %v), which the root package rejects", rec, err, expired)
	}
}

// TestWriteAcrossExpiry delays the answer to a write until after the expiry
// of the record it wrote to: the write committed while the record was live,
// as far as the store can tell it may not have, so the store deletes the
// document it wrote and reports ErrNotFound rather than leave a record that
// may have been revived.
func TestWriteAcrossExpiry(t *testing.T) {
	addr := drivertest.ServerFromEnv(t, "FIRESTORE_EMULATOR_HOST")
	var holdUntil atomic.Pointer[time.Time]
	delay := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if until := holdUntil.Load(); until != nil && strings.HasSuffix(method, "/Commit") {
			time.Sleep(time.Until(*until))
		}
		return err
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}),
		grpc.WithUnaryInterceptor(delay))
	if err != nil {
		t.Fatal(err)
	}
	c, err := gfirestore.NewClient(context.Background(), projectID(), option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	st, coll := newStore(t, c)
	ctx := t.Context()
	for _, kind := range []sessionplus.Kind{sessionplus.Write, sessionplus.Touch} {
		tok := token()
		t.Cleanup(func() { st.Delete(context.Background(), tok) })
		holdUntil.Store(nil)
		soon := time.Now().Add(time.Second)
		if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "1"), Expiry: soon}); err != nil {
			t.Fatal(err)
		}
		until := soon.Add(100 * time.Millisecond)
		holdUntil.Store(&until)
		u := sessionplus.Update{Kind: kind, Expiry: time.Now().Add(time.Hour)}
		if kind == sessionplus.Write {
			u.Set = vals("b", "2")
		}
		if _, err := st.Save(ctx, tok, u); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("%v answered after the record's expiry = %v, want ErrNotFound", kind, err)
		}
		if _, err := c.Collection(coll).Doc(firestore.DocID(tok)).Get(ctx); status.Code(err) != codes.NotFound {
			t.Errorf("after a %v answered after the record's expiry, the document is still there (%v): it may have been revived", kind, err)
		}
	}
}

// ownerCreds authenticates to the emulator as its owner, as the Go client
// does for FIRESTORE_EMULATOR_HOST.
type ownerCreds struct{}

func (ownerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (ownerCreds) RequireTransportSecurity() bool { return false }

// browser carries one cookie between requests through the root package.
type browser struct {
	t      *testing.T
	m      *sessionplus.Manager
	cookie *http.Cookie
}

// begin starts a request carrying the browser's cookie.
func (b *browser) begin() (*sessionplus.Session, *httptest.ResponseRecorder) {
	r := httptest.NewRequestWithContext(b.t.Context(), http.MethodGet, "/", nil)
	if b.cookie != nil {
		r.AddCookie(&http.Cookie{Name: b.cookie.Name, Value: b.cookie.Value})
	}
	w := httptest.NewRecorder()
	return b.m.Begin(w, r), w
}

// end commits a request and keeps the cookie it set.
func (b *browser) end(s *sessionplus.Session, w *httptest.ResponseRecorder) {
	b.t.Helper()
	if err := s.Commit(); err != nil {
		b.t.Fatalf("Commit: %v", err)
	}
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			b.cookie = nil
		} else {
			b.cookie = c
		}
	}
}

// TestInterleavedRequests runs two requests of one browser at the same time
// through the root package: each reads the session, then changes a
// different field, and both changes land.
func TestInterleavedRequests(t *testing.T) {
	c := newClient(t)
	coll := randomCollection()
	m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{{
		"cookie_name":  "s",
		"session_type": firestore.Name,
		"client":       c,
		"collection":   coll,
	}}})
	if err != nil {
		t.Fatalf("sessionplus.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	b := &browser{t: t, m: m}

	s, w := b.begin()
	if err := s.Set("user", "alice"); err != nil {
		t.Fatal(err)
	}
	b.end(s, w)
	if b.cookie == nil {
		t.Fatal("the first request set no cookie")
	}

	s1, w1 := b.begin()
	s2, w2 := b.begin()
	for _, s := range []*sessionplus.Session{s1, s2} {
		if v, _, err := s.Get("user"); err != nil || v != "alice" {
			t.Fatalf("Get(user) = %v, %v; want alice", v, err)
		}
	}
	if err := s1.Set("cart", "3 items"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Set("theme", "dark"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete("user"); err != nil {
		t.Fatal(err)
	}
	b.end(s1, w1)
	b.end(s2, w2)

	s, w = b.begin()
	want := map[string]any{"cart": "3 items", "theme": "dark"}
	keys, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, slices.Sorted(maps.Keys(want))) {
		t.Errorf("fields after the two requests = %v, want %v", keys, slices.Sorted(maps.Keys(want)))
	}
	for field, v := range want {
		if got, _, err := s.Get(field); err != nil || got != v {
			t.Errorf("Get(%q) = %v, %v; want %v (the change of one request was lost)", field, got, err, v)
		}
	}
	b.end(s, w)
	if m.Close() != nil {
		t.Error("Manager.Close failed")
	}
	if _, err := c.Collection(coll).Doc("x").Get(t.Context()); err != nil && !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("the client passed as \"client\" was closed by Manager.Close: %v", err)
	}
}

// TestRecordTooLarge shows that a save that would make a document larger
// than Firestore's 1 MiB fails with ErrRecordTooLarge and changes nothing.
// The emulator has no size limit: the store checks before it writes.
func TestRecordTooLarge(t *testing.T) {
	c := newClient(t)
	st, _ := newStore(t, c)
	ctx := t.Context()
	tok := token()
	t.Cleanup(func() { st.Delete(context.Background(), tok) })
	expiry := time.Now().Add(time.Hour)
	big := make([]byte, 600<<10)

	_, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": big, "b": big}, Expiry: expiry})
	if !errors.Is(err, sessionplus.ErrRecordTooLarge) {
		t.Fatalf("Save of 1.2 MB = %v, want an error wrapping ErrRecordTooLarge", err)
	}
	if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Fatalf("Load after a refused save = %v, want ErrNotFound", err)
	}

	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": big}, Expiry: expiry}); err != nil {
		t.Fatalf("Save of 600 KB: %v", err)
	}
	_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"b": big}, Expiry: expiry})
	if !errors.Is(err, sessionplus.ErrRecordTooLarge) {
		t.Fatalf("field-level write of 600 KB more = %v, want an error wrapping ErrRecordTooLarge", err)
	}
	// Replacing the big field, or deleting it, makes room.
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"a": big[:1000], "b": big}, Expiry: expiry}); err != nil {
		t.Fatalf("field-level write that replaces the big field: %v", err)
	}
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"c": big}, Del: []string{"b"}, Expiry: expiry}); err != nil {
		t.Fatalf("field-level write that deletes the big field: %v", err)
	}
	rec, err := st.Load(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Values["a"]) != 1000 || len(rec.Values["c"]) != len(big) || rec.Values["b"] != nil {
		t.Errorf("fields after the writes: a %d bytes, b %d, c %d; want 1000, none, %d",
			len(rec.Values["a"]), len(rec.Values["b"]), len(rec.Values["c"]), len(big))
	}
}

// TestCheckKeyPrefix shows that a key_prefix too long for Firestore's
// document ids fails the configuration.
func TestCheckKeyPrefix(t *testing.T) {
	c := newClient(t)
	st, coll := newStore(t, c)
	for prefix, ok := range map[string]bool{
		"session":                 true,
		"a/b":                     true,
		strings.Repeat("x", 1456): true,
		strings.Repeat("x", 1457): false,
		strings.Repeat("/", 485):  true,
		strings.Repeat("/", 486):  false,
	} {
		err := st.CheckKeyPrefix(prefix)
		if (err == nil) != ok {
			t.Errorf("CheckKeyPrefix(%d bytes of %q) = %v, want ok=%v", len(prefix), prefix[:1], err, ok)
		}
		if err != nil && (!errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), `key "key_prefix"`)) {
			t.Errorf("CheckKeyPrefix error %q does not wrap ErrConfig or name the key", err)
		}
	}
	_, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{{
		"cookie_name": "s", "session_type": firestore.Name, "client": c, "collection": coll,
		"key_prefix": strings.Repeat("x", 2000),
	}}})
	if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), `key "key_prefix"`) {
		t.Errorf("sessionplus.New with a 2000-byte key_prefix = %v, want a configuration error naming key_prefix", err)
	}
}

// TestTimeout shows that an unreachable Firestore fails a call after the
// store's timeout, though the context has no deadline: the Go client
// would retry until the context ends. It needs no server.
func TestTimeout(t *testing.T) {
	t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1") // nothing listens on port 1
	c, err := gfirestore.NewClient(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := firestore.New(c, &firestore.Options{Collection: "sessions", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok := token()
	expiry := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		op string
		do func() error
	}{
		{"Load", func() error { _, err := st.Load(context.Background(), tok); return err }},
		{"Save", func() error {
			_, err := st.Save(context.Background(), tok, sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "1"), Expiry: expiry})
			return err
		}},
		{"Save (field-level write)", func() error {
			_, err := st.Save(context.Background(), tok, sessionplus.Update{Kind: sessionplus.Write, Set: vals("a", "1"), Expiry: expiry})
			return err
		}},
		{"Delete", func() error { return st.Delete(context.Background(), tok) }},
	} {
		start := time.Now()
		err := tc.do()
		took := time.Since(start)
		switch {
		case err == nil || errors.Is(err, sessionplus.ErrNotFound):
			t.Errorf("%s with Firestore unreachable = %v, want a failure", tc.op, err)
		case !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "the store's timeout"):
			t.Errorf("%s with Firestore unreachable = %q, want a deadline error that names the store's timeout", tc.op, err)
		case took > 5*time.Second:
			t.Errorf("%s with Firestore unreachable took %v, with a timeout of 300ms", tc.op, took)
		}
	}
}
