package memcache_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/memcache"
)

const envAddrs = "SESSIONPLUS_MEMCACHE_ADDRS"

// servers returns the test servers, or skips the test (fails it under
// CI=true) when there are none.
func servers(t testing.TB) []string {
	t.Helper()
	return strings.Split(drivertest.ServerFromEnv(t, envAddrs), ",")
}

// newClient returns a client of addrs, closed when the test ends.
func newClient(t testing.TB, addrs ...string) *gomemcache.Client {
	t.Helper()
	c := gomemcache.New(addrs...)
	c.MaxIdleConns = 16
	t.Cleanup(func() { c.Close() })
	return c
}

// token returns a random key in the shape the root package makes, and
// deletes its item when the test ends.
func token(t testing.TB, c *gomemcache.Client) string {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	tok := "memcachetest:" + hex.EncodeToString(b)
	t.Cleanup(func() { c.Delete(tok) })
	return tok
}

func create(values map[string][]byte, expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Create, Set: values, Expiry: expiry}
}

func write(set map[string][]byte, del []string, expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Write, Set: set, Del: del, Expiry: expiry}
}

func touch(expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry}
}

// in returns the time d from now.
func in(d time.Duration) time.Time { return time.Now().Add(d) }

// one returns a record of one field.
func one(name, value string) map[string][]byte { return map[string][]byte{name: []byte(value)} }

type harness struct{ client *gomemcache.Client }

func (h *harness) MakeStore(context.Context) (sessionplus.Store, error) {
	return memcache.New(h.client, nil), nil
}
func (h *harness) Stateless() bool { return false }
func (h *harness) Close()          { h.client.Close() }

func TestConformance(t *testing.T) {
	addrs := servers(t)
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		c := gomemcache.New(addrs...)
		c.MaxIdleConns = 16
		return &harness{client: c}, nil
	})
}

func TestOpen(t *testing.T) {
	down := gomemcache.New("127.0.0.1:1")
	tests := []struct {
		name       string
		opts       func(addrs []string) sessionplus.Options // addrs is nil unless needServer
		needServer bool
		wantErr    string // a substring of the error; "" for none
		wantConfig bool   // the error must wrap sessionplus.ErrConfig
	}{
		{
			name:       "ok, servers",
			needServer: true,
			opts:       func(a []string) sessionplus.Options { return sessionplus.Options{"servers": a} },
		},
		{
			name:       "ok, client",
			needServer: true,
			opts: func(a []string) sessionplus.Options {
				return sessionplus.Options{"client": gomemcache.New(a...), "max_item_size": 2 << 20, "cas_retries": 3}
			},
		},
		{
			name:       "ok, servers and options as decoded from JSON",
			needServer: true,
			opts: func(a []string) sessionplus.Options {
				list := make([]any, len(a))
				for i, s := range a {
					list[i] = s
				}
				return sessionplus.Options{"servers": list, "timeout": "1s", "max_idle_conns": 4.0,
					"max_item_size": 1048576.0, "cas_retries": 20.0}
			},
		},
		{
			name:       "nok, neither",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{} },
			wantErr:    `missing key "client" or "servers"`,
			wantConfig: true,
		},
		{
			name:       "nok, cookie_name as a key",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"cookie_name": "s", "client": down} },
			wantErr:    `unknown key "cookie_name"`,
			wantConfig: true,
		},
		{
			name: "nok, both",
			opts: func([]string) sessionplus.Options {
				return sessionplus.Options{"client": down, "servers": []string{"127.0.0.1:1"}}
			},
			wantErr:    `keys "client" and "servers" exclude each other`,
			wantConfig: true,
		},
		{
			name: "nok, unknown key",
			opts: func([]string) sessionplus.Options {
				return sessionplus.Options{"servers": []string{"127.0.0.1:1"}, "server": "127.0.0.1:1"}
			},
			wantErr:    `unknown key "server"`,
			wantConfig: true,
		},
		{
			name:       "nok, servers is a string",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"servers": "127.0.0.1:11211"} },
			wantErr:    `key "servers"`,
			wantConfig: true,
		},
		{
			name:       "nok, servers is empty",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"servers": []string{}} },
			wantErr:    `key "servers": empty list`,
			wantConfig: true,
		},
		{
			name:       "nok, server without a port",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"servers": []string{"127.0.0.1"}} },
			wantErr:    `key "servers"`,
			wantConfig: true,
		},
		{
			name:       "nok, client is a string",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"client": "127.0.0.1:11211"} },
			wantErr:    `key "client": expected a *memcache.Client`,
			wantConfig: true,
		},
		{
			name:       "nok, client is nil",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"client": (*gomemcache.Client)(nil)} },
			wantErr:    `key "client"`,
			wantConfig: true,
		},
		{
			name:       "ok, client and timeout",
			needServer: true,
			opts: func(a []string) sessionplus.Options {
				return sessionplus.Options{"client": gomemcache.New(a...), "timeout": 2}
			},
		},
		{
			name:       "nok, max_idle_conns with a client",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"client": down, "max_idle_conns": 4} },
			wantErr:    `key "max_idle_conns": applies only to the client built from "servers"`,
			wantConfig: true,
		},
		{
			name:       "nok, timeout zero",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"client": down, "timeout": "0s"} },
			wantErr:    `key "timeout": expected a positive duration`,
			wantConfig: true,
		},
		{
			name: "nok, timeout negative",
			opts: func([]string) sessionplus.Options {
				return sessionplus.Options{"servers": []string{"127.0.0.1:1"}, "timeout": "-1s"}
			},
			wantErr:    `key "timeout": expected a positive duration`,
			wantConfig: true,
		},
		{
			name: "nok, timeout not a duration",
			opts: func([]string) sessionplus.Options {
				return sessionplus.Options{"servers": []string{"127.0.0.1:1"}, "timeout": "soon"}
			},
			wantErr:    `key "timeout"`,
			wantConfig: true,
		},
		{
			name: "nok, max_item_size too small",
			opts: func([]string) sessionplus.Options {
				return sessionplus.Options{"client": down, "max_item_size": 10}
			},
			wantErr:    `key "max_item_size"`,
			wantConfig: true,
		},
		{
			name: "nok, max_item_size is a string",
			opts: func([]string) sessionplus.Options {
				return sessionplus.Options{"client": down, "max_item_size": "1m"}
			},
			wantErr:    `key "max_item_size"`,
			wantConfig: true,
		},
		{
			name:       "nok, cas_retries zero",
			opts:       func([]string) sessionplus.Options { return sessionplus.Options{"client": down, "cas_retries": 0} },
			wantErr:    `key "cas_retries"`,
			wantConfig: true,
		},
		{
			name:    "nok, unreachable server",
			opts:    func([]string) sessionplus.Options { return sessionplus.Options{"servers": []string{"127.0.0.1:1"}} },
			wantErr: `key "servers": memcached not reachable`,
		},
		{
			name:       "nok, one of two servers unreachable",
			needServer: true,
			opts: func(a []string) sessionplus.Options {
				return sessionplus.Options{"servers": []string{a[0], "127.0.0.1:1"}}
			},
			wantErr: `key "servers": memcached not reachable`,
		},
		{
			name:    "nok, unreachable client",
			opts:    func([]string) sessionplus.Options { return sessionplus.Options{"client": down} },
			wantErr: `key "client": memcached not reachable`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addrs []string
			if tt.needServer {
				addrs = servers(t)
			}
			st, err := memcache.Driver{}.Open(t.Context(), sessionplus.DriverConfig{Options: tt.opts(addrs), Name: "s"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				ms, ok := st.(*memcache.Store)
				if !ok {
					t.Fatalf("Open returned %T, want *memcache.Store", st)
				}
				if err := ms.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Open succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, sessionplus.ErrConfig); got != tt.wantConfig {
				t.Errorf("Open error = %q: errors.Is(err, sessionplus.ErrConfig) = %v, want %v", err, got, tt.wantConfig)
			}
			if st != nil {
				t.Errorf("Open returned a store (%T) along with its error", st)
			}
		})
	}
}

// TestOpenThroughRoot shows the driver's errors with the session's name,
// and a store opened from servers that works.
func TestOpenThroughRoot(t *testing.T) {
	_, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{
		{"cookie_name": "cache", "session_type": memcache.Name, "servers": "127.0.0.1:11211"},
	}})
	if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), `session "cache" (memcache)`) ||
		!strings.Contains(err.Error(), `key "servers"`) {
		t.Errorf("sessionplus.New with servers as a string: %v, want a config error naming the session and the key", err)
	}

	m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{
		{"cookie_name": "cache", "session_type": memcache.Name, "servers": servers(t)},
	}})
	if err != nil {
		t.Fatalf("sessionplus.New: %v", err)
	}
	w := httptest.NewRecorder()
	s := m.Begin(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if err := errors.Join(s.Set("user", "alice"), s.Commit()); err != nil {
		t.Fatal(err)
	}
	s = m.Begin(httptest.NewRecorder(), withCookies(httptest.NewRequest(http.MethodGet, "/", nil), w))
	if u, _, err := sessionplus.GetAs[string](s, "user"); err != nil || u != "alice" {
		t.Errorf("user = %q, %v; want alice", u, err)
	}
	if err := errors.Join(s.Destroy(), s.Commit()); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// noConnections fails t if c accepts a connection within a short wait. The
// wait is a window in which to see something that must not happen, not a
// synchronisation: the bug it catches is a round trip started in the
// background (the ping of an Open whose context was done), whose dial
// comes an instant after Open returned.
func noConnections(t *testing.T, c *drivertest.Listener) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	if n := c.Accepted(); n != 0 {
		t.Errorf("the server accepted %d connections, want 0", n)
	}
}

// configKeys returns the Key of every *sessionplus.ConfigError in err, an
// errors.Join of them or one.
func configKeys(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var keys []string
		for _, e := range j.Unwrap() {
			keys = append(keys, configKeys(e)...)
		}
		return keys
	}
	var ce *sessionplus.ConfigError
	if errors.As(err, &ce) {
		return []string{ce.Key}
	}
	return nil
}

// TestOpenDryCheck shows that the mistakes Validate finds come back from
// sessionplus.New's dry check, naming their keys, before memcached is
// contacted: the server, which counts connections, sees none.
func TestOpenDryCheck(t *testing.T) {
	srv := drivertest.CountingServer(t)
	tests := []struct {
		name     string
		opts     func() sessionplus.Options
		wantKeys []string
		wantErr  string
	}{
		{
			name: "nok, timeout zero",
			opts: func() sessionplus.Options {
				return sessionplus.Options{"servers": []string{srv.Addr}, "timeout": "0s"}
			},
			wantKeys: []string{"timeout"},
		},
		{
			name: "nok, client and servers",
			opts: func() sessionplus.Options {
				return sessionplus.Options{"client": gomemcache.New(srv.Addr), "servers": []string{srv.Addr}}
			},
			wantKeys: []string{"client"}, // the first of the two keys
			wantErr:  `keys "client" and "servers" exclude each other`,
		},
		{
			name: "nok, max_idle_conns with a client",
			opts: func() sessionplus.Options {
				return sessionplus.Options{"client": gomemcache.New(srv.Addr), "max_idle_conns": 4}
			},
			wantKeys: []string{"max_idle_conns"},
		},
		{
			name: "nok, a server without a port next to a good one",
			opts: func() sessionplus.Options {
				return sessionplus.Options{"servers": []string{srv.Addr, "127.0.0.1"}}
			},
			wantKeys: []string{"servers"},
			wantErr:  "missing port",
		},
		{
			name: "nok, every mistake at once",
			opts: func() sessionplus.Options {
				return sessionplus.Options{"servers": []string{srv.Addr}, "timeout": "0s", "max_idle_conns": 0,
					"max_item_size": 10, "cas_retries": 0}
			},
			wantKeys: []string{"timeout", "max_idle_conns", "max_item_size", "cas_retries"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts()
			opts["cookie_name"], opts["session_type"] = "s", memcache.Name
			m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{opts}})
			if err == nil {
				m.Close()
				t.Fatal("sessionplus.New succeeded, want a configuration error")
			}
			if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), `session "s" (memcache)`) ||
				!strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("sessionplus.New: %v, want a config error of the session containing %q", err, tt.wantErr)
			}
			if got := configKeys(err); !slices.Equal(got, tt.wantKeys) {
				t.Errorf("sessionplus.New: %v: keys %q, want %q", err, got, tt.wantKeys)
			}
			if n := srv.Accepted(); n != 0 { // nothing runs in the background of a dry check
				t.Errorf("the server accepted %d connections, want 0", n)
			}
		})
	}
}

// TestOpenCanceledContext shows that Open with a context done already
// returns its error at once, and connects to no server, for a client it
// builds and for one passed in; and that a store's operation with such a
// context does not connect either.
func TestOpenCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tt := range []struct {
		name string
		opts func(addr string) sessionplus.Options
	}{
		{"servers", func(addr string) sessionplus.Options { return sessionplus.Options{"servers": []string{addr}} }},
		{"client", func(addr string) sessionplus.Options { return sessionplus.Options{"client": gomemcache.New(addr)} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := drivertest.CountingServer(t)
			st, err := memcache.Driver{}.Open(ctx, sessionplus.DriverConfig{Options: tt.opts(srv.Addr)})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Open with a canceled context: %v, want context.Canceled", err)
			}
			if st != nil {
				st.(*memcache.Store).Close()
				t.Errorf("Open with a canceled context returned a store")
			}
			noConnections(t, srv)
		})
	}
	t.Run("load", func(t *testing.T) {
		srv := drivertest.CountingServer(t)
		st := memcache.New(gomemcache.New(srv.Addr), nil)
		if _, err := st.Load(ctx, "session:"+strings.Repeat("C", 43)); !errors.Is(err, context.Canceled) {
			t.Errorf("Load with a canceled context: %v, want context.Canceled", err)
		}
		noConnections(t, srv)
	})
}

func TestNewPanicsOnNilClient(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "memcache: New called with a nil client") {
			t.Errorf("New(nil, nil) panicked with %v, want a message naming the nil client", r)
		}
	}()
	memcache.New(nil, nil)
}

func TestCheckKeyPrefix(t *testing.T) {
	st := memcache.New(gomemcache.New("127.0.0.1:1"), nil)
	for prefix, ok := range map[string]bool{
		"session":                 true,
		strings.Repeat("p", 206):  true,
		strings.Repeat("p", 207):  false,
		"a b":                     false,
		"a\x01b":                  false,
		"":                        false,
		"app.example.com/session": true,
	} {
		err := st.CheckKeyPrefix(prefix)
		if ok && err != nil {
			t.Errorf("CheckKeyPrefix(%q) = %v, want nil", prefix, err)
		}
		if !ok && (!errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), `key "key_prefix"`)) {
			t.Errorf("CheckKeyPrefix(%q) = %v, want a config error naming key_prefix", prefix, err)
		}
	}
}

// TestInvalidKeys shows what happens to tokens memcached cannot hold; no
// server is needed, as none is asked.
func TestInvalidKeys(t *testing.T) {
	st := memcache.New(gomemcache.New("127.0.0.1:1"), nil)
	ctx := t.Context()
	for _, tok := range []string{
		"session:" + strings.Repeat("A", 243), // 251 bytes
		"session key",
		"session:\x01",
		"session:\x7f",
		"",
	} {
		if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Load of the invalid key %q: %v, want an error wrapping ErrNotFound", tok, err)
		}
		for _, u := range []sessionplus.Update{
			create(one("a", "1"), in(time.Hour)),
			write(one("a", "1"), nil, in(time.Hour)),
			touch(in(time.Hour)),
		} {
			_, err := st.Save(ctx, tok, u)
			if err == nil || !strings.Contains(err.Error(), "not a valid memcached key") {
				t.Errorf("Save (%v) under the invalid key %q: %v, want an error saying it is not a valid memcached key", u.Kind, tok, err)
			}
		}
		if err := st.Delete(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Delete of the invalid key %q: %v, want an error wrapping ErrNotFound (nothing can be stored under it)", tok, err)
		}
	}
}

// TestServerDown shows that a server that cannot be reached is an error,
// never an empty or a missing session.
func TestServerDown(t *testing.T) {
	c := gomemcache.New("127.0.0.1:1")
	st := memcache.New(c, nil)
	ctx := t.Context()
	tok := "session:" + strings.Repeat("A", 43)
	rec, err := st.Load(ctx, tok)
	if err == nil || errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Load from a server that is down = %v, %v; want an error that does not wrap ErrNotFound", rec, err)
	}
	for _, u := range []sessionplus.Update{
		create(one("a", "1"), in(time.Hour)),
		write(one("a", "1"), nil, in(time.Hour)),
		touch(in(time.Hour)),
		create(one("a", "1"), in(2*time.Second)), // within the margin: deletes
		touch(in(2 * time.Second)),               // within the margin: deletes
	} {
		if _, err := st.Save(ctx, tok, u); err == nil || errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Save (%v, expiry in %v) to a server that is down = %v; want an error that does not wrap ErrNotFound",
				u.Kind, time.Until(u.Expiry).Round(time.Second), err)
		}
	}
	if err := st.Delete(ctx, tok); err == nil || errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Delete on a server that is down = %v; want an error that does not wrap ErrNotFound", err)
	}
}

// slowClient returns a client of addr whose own network timeout (10s) is
// longer than any store timeout of the tests, closed when the test ends.
func slowClient(t *testing.T, addr string) *gomemcache.Client {
	c := newClient(t, addr)
	c.Timeout = 10 * time.Second
	return c
}

// timeoutSlack is how much later than its bound an operation against a
// server that never answers may return, on a loaded machine.
const timeoutSlack = time.Second

// checkTimedOut checks that err, of op after d, is the end of the
// operation's context (within bound): context.DeadlineExceeded, the store's
// timeout where storeTimeout, and not ErrNotFound.
func checkTimedOut(t *testing.T, op string, err error, d, bound time.Duration, storeTimeout bool) {
	t.Helper()
	t.Logf("%s from a server that never answers: %v after %v", op, err, d.Round(time.Millisecond))
	switch {
	case err == nil:
		t.Errorf("%s from a server that never answers succeeded", op)
	case errors.Is(err, sessionplus.ErrNotFound):
		t.Errorf("%s: the error %q wraps ErrNotFound", op, err)
	case !errors.Is(err, context.DeadlineExceeded):
		t.Errorf("%s: the error %q is not context.DeadlineExceeded", op, err)
	case storeTimeout && !strings.Contains(err.Error(), "(the store's timeout)"):
		t.Errorf("%s: the error %q does not say the store's timeout ended it", op, err)
	}
	if d > bound+timeoutSlack {
		t.Errorf("%s returned after %v, want at most %v + %v", op, d, bound, timeoutSlack)
	}
}

// TestTimeout shows that each operation of a store ends at the earlier of
// its context's deadline and the store's timeout, also with a client
// passed in whose own network timeout is longer, on a server that never
// answers: gomemcache takes no context, and the store stops waiting for it.
func TestTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	st := memcache.New(slowClient(t, drivertest.HungServer(t)), &memcache.Options{Timeout: timeout})
	tok := "session:" + strings.Repeat("H", 43)
	ops := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"Load", func(ctx context.Context) error { _, err := st.Load(ctx, tok); return err }},
		{"Save (create)", func(ctx context.Context) error {
			_, err := st.Save(ctx, tok, create(one("a", "1"), in(time.Hour)))
			return err
		}},
		{"Save (write)", func(ctx context.Context) error {
			_, err := st.Save(ctx, tok, write(one("a", "1"), []string{"b"}, in(time.Hour)))
			return err
		}},
		{"Save (touch)", func(ctx context.Context) error { _, err := st.Save(ctx, tok, touch(in(time.Hour))); return err }},
		{"Delete", func(ctx context.Context) error { return st.Delete(ctx, tok) }},
	}
	for _, op := range ops {
		start := time.Now()
		err := op.do(context.Background())
		checkTimedOut(t, op.name+", no deadline", err, time.Since(start), timeout, true)
	}
	// A shorter deadline of the caller wins.
	for _, op := range ops {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		start := time.Now()
		err := op.do(ctx)
		cancel()
		checkTimedOut(t, op.name+", deadline 50ms", err, time.Since(start), 50*time.Millisecond, false)
	}
}

// TestTimeoutDefault shows that a store of New bounds an operation by
// DefaultTimeout when neither the caller nor the options give a bound.
func TestTimeoutDefault(t *testing.T) {
	st := memcache.New(slowClient(t, drivertest.HungServer(t)), nil)
	start := time.Now()
	_, err := st.Load(context.Background(), "session:"+strings.Repeat("H", 43))
	d := time.Since(start)
	checkTimedOut(t, "Load, no deadline, default timeout", err, d, memcache.DefaultTimeout, true)
	if d < memcache.DefaultTimeout-100*time.Millisecond {
		t.Errorf("Load returned after %v, before DefaultTimeout (%v)", d, memcache.DefaultTimeout)
	}
}

// TestTimeoutOpen shows that the timeout option bounds Open's ping of a
// server that never answers, for the client built from servers and for one
// passed in, with a context without deadline.
func TestTimeoutOpen(t *testing.T) {
	addr := drivertest.HungServer(t)
	for _, tt := range []struct {
		name string
		opts sessionplus.Options
	}{
		{"servers", sessionplus.Options{"servers": []string{addr}, "timeout": "300ms"}},
		{"client", sessionplus.Options{"client": slowClient(t, addr), "timeout": "300ms"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			st, err := memcache.Driver{}.Open(context.Background(), sessionplus.DriverConfig{Options: tt.opts})
			if err == nil {
				st.(*memcache.Store).Close()
				t.Fatal("Open of a server that never answers succeeded")
			}
			checkTimedOut(t, "Open", err, time.Since(start), 300*time.Millisecond, true)
		})
	}
}

func TestNewNegativeTimeout(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "negative Options.Timeout") {
			t.Errorf("New with a negative Timeout: recovered %v, want a panic about it", r)
		}
	}()
	memcache.New(gomemcache.New("127.0.0.1:1"), &memcache.Options{Timeout: -time.Second})
}

// TestKeysSpreadOverServers shows that the sessions of a store over two
// servers land on both, each on one.
func TestKeysSpreadOverServers(t *testing.T) {
	addrs := servers(t)
	if len(addrs) < 2 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s lists %d server; this test needs two", envAddrs, len(addrs))
		}
		t.Skipf("%s lists %d server; this test needs two", envAddrs, len(addrs))
	}
	both := newClient(t, addrs...)
	st := memcache.New(both, nil)
	ctx := t.Context()
	const n = 50
	toks := make([]string, n)
	for i := range toks {
		toks[i] = token(t, both)
		if _, err := st.Save(ctx, toks[i], create(map[string][]byte{"i": fmt.Append(nil, i)}, in(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, addr := range addrs {
		alone := newClient(t, addr)
		held := 0
		for _, tok := range toks {
			_, err := alone.Get(tok)
			switch {
			case err == nil:
				held++
			case !errors.Is(err, gomemcache.ErrCacheMiss):
				t.Fatalf("Get from %s alone: %v", addr, err)
			}
		}
		t.Logf("%s holds %d of the %d sessions", addr, held, n)
		if held == 0 {
			t.Errorf("%s holds none of the %d sessions: keys are not spread over the servers", addr, n)
		}
		total += held
	}
	if total != n {
		t.Errorf("the servers hold %d items in all, want %d (each session on exactly one server)", total, n)
	}
	for i, tok := range toks {
		rec, err := st.Load(ctx, tok)
		if err != nil || string(rec.Values["i"]) != fmt.Sprint(i) {
			t.Errorf("Load of session %d through both servers: %v, %v", i, rec.Values, err)
		}
	}
}

// TestLongExpiryStored shows that a record that expires in 31 days, sent to
// memcached as an absolute Unix time, is stored and kept alive.
func TestLongExpiryStored(t *testing.T) {
	c := newClient(t, servers(t)...)
	st := memcache.New(c, nil)
	ctx := t.Context()
	tok := token(t, c)
	expiry := time.Now().Add(31 * 24 * time.Hour)
	if _, err := st.Save(ctx, tok, create(one("user", "alice"), expiry)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(tok); err != nil {
		t.Fatalf("the item of a 31-day record is not in memcached: %v (a relative expiration over 30 days reads as a past date)", err)
	}
	check := func(when string, want time.Time) {
		t.Helper()
		rec, err := st.Load(ctx, tok)
		if err != nil {
			t.Fatalf("Load %s: %v", when, err)
		}
		if string(rec.Values["user"]) != "alice" || rec.Expiry.Unix() != want.Unix() {
			t.Errorf("Load %s = %q, expiry %v; want alice, %v", when, rec.Values, rec.Expiry, want.Truncate(time.Second))
		}
	}
	check("of a 31-day record", expiry)
	expiry = expiry.Add(time.Hour)
	if _, err := st.Save(ctx, tok, touch(expiry)); err != nil {
		t.Fatalf("keep-alive to 31 days: %v", err)
	}
	check("after a keep-alive to 31 days", expiry)
	expiry = time.Now().Add(40 * 24 * time.Hour)
	if _, err := st.Save(ctx, tok, write(one("theme", "dark"), nil, expiry)); err != nil {
		t.Fatalf("field-level write to 40 days: %v", err)
	}
	check("after a field-level write to 40 days", expiry)
}

func TestSizeLimit(t *testing.T) {
	c := newClient(t, servers(t)...)
	ctx := t.Context()
	expiry := in(time.Hour)

	t.Run("over max_item_size", func(t *testing.T) {
		st := memcache.New(c, &memcache.Options{MaxItemSize: 4096})
		tok := token(t, c)
		if _, err := st.Save(ctx, tok, create(one("a", "small"), expiry)); err != nil {
			t.Fatal(err)
		}
		big := map[string][]byte{"blob": bytes.Repeat([]byte("x"), 5000)}
		for _, u := range []sessionplus.Update{create(big, expiry), write(big, nil, expiry)} {
			_, err := st.Save(ctx, tok, u)
			if !errors.Is(err, memcache.ErrTooLarge) {
				t.Fatalf("Save (%v) of a 5000-byte record with max_item_size 4096: %v, want an error wrapping ErrTooLarge", u.Kind, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "4096") || !strings.Contains(msg, "bytes") {
				t.Errorf("error %q: want the size and the limit", msg)
			}
		}
		rec, err := st.Load(ctx, tok)
		if err != nil || string(rec.Values["a"]) != "small" || len(rec.Values) != 1 {
			t.Errorf("the record before the refused saves = %v, %v; want it unchanged", rec.Values, err)
		}
	})

	t.Run("over the default of 1 MiB", func(t *testing.T) {
		st := memcache.New(c, nil)
		_, err := st.Save(ctx, token(t, c), create(map[string][]byte{"blob": make([]byte, 1<<20)}, expiry))
		if !errors.Is(err, memcache.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(memcache.DefaultMaxItemSize)) {
			t.Errorf("Save of a 1 MiB value: %v, want an error wrapping ErrTooLarge naming the limit", err)
		}
	})

	t.Run("refused by the server", func(t *testing.T) {
		// max_item_size set above the servers' own limit (memcached -I, 1 MiB
		// by default): the server refuses the item, and says so.
		st := memcache.New(c, &memcache.Options{MaxItemSize: 4 << 20})
		tok := token(t, c)
		if _, err := st.Save(ctx, tok, create(one("a", "small"), expiry)); err != nil {
			t.Fatal(err)
		}
		big := map[string][]byte{"blob": make([]byte, 2<<20)}
		refused := func(u sessionplus.Update) {
			t.Helper()
			_, err := st.Save(ctx, tok, u)
			if !errors.Is(err, memcache.ErrTooLarge) || !strings.Contains(err.Error(), "SERVER_ERROR object too large") {
				t.Errorf("Save (%v) of a 2 MiB record to a server with a 1 MiB limit: %v, want the server's refusal, wrapping ErrTooLarge", u.Kind, err)
			}
		}
		// A refused cas leaves the item as it was, and the connection usable.
		refused(write(big, nil, expiry))
		rec, err := st.Load(ctx, tok)
		if err != nil || string(rec.Values["a"]) != "small" || len(rec.Values) != 1 {
			t.Errorf("the record after the refused field-level write = %v, %v; want it unchanged", rec.Values, err)
		}
		// A refused set makes memcached drop the item it would have
		// replaced, so that no stale value is served (a Create is of a new
		// token, so no session is lost).
		refused(create(big, expiry))
		if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Load after the refused Create: %v, want not found", err)
		}
	})
}

// TestKeepAliveOfFullItem shows that a keep-alive of a record whose item
// the server cannot grow by an expiry (memcached refuses the append with
// NOT_STORED, its answer for a missing item too) rewrites the record rather
// than reporting it gone, which would end the session.
func TestKeepAliveOfFullItem(t *testing.T) {
	c := newClient(t, servers(t)...)
	ctx := t.Context()
	st := memcache.New(c, &memcache.Options{MaxItemSize: 4 << 20}) // the server's limit applies
	tok := token(t, c)
	expiry := in(time.Hour)

	// The largest record the server takes under tok.
	lo, hi := 0, 1<<20
	for lo < hi {
		n := (lo + hi + 1) / 2
		_, err := st.Save(ctx, tok, create(map[string][]byte{"blob": make([]byte, n)}, expiry))
		switch {
		case err == nil:
			lo = n
		case errors.Is(err, memcache.ErrTooLarge):
			hi = n - 1
		default:
			t.Fatal(err)
		}
	}
	if _, err := st.Save(ctx, tok, create(map[string][]byte{"blob": make([]byte, lo)}, expiry)); err != nil {
		t.Fatal(err)
	}
	it, err := c.Get(tok)
	if err != nil {
		t.Fatal(err)
	}
	full := len(it.Value)
	if err := c.Append(&gomemcache.Item{Key: tok, Value: make([]byte, 8)}); !errors.Is(err, gomemcache.ErrNotStored) {
		t.Fatalf("append of 8 bytes to an item of %d bytes, the largest the server takes: %v, want ErrNotStored", full, err)
	}

	for i := range 2 {
		expiry = in(time.Duration(2+i) * time.Hour)
		if _, err := st.Save(ctx, tok, touch(expiry)); err != nil {
			t.Fatalf("keep-alive %d of a record the server cannot grow: %v, want it rewritten", i+1, err)
		}
		rec, err := st.Load(ctx, tok)
		if err != nil || len(rec.Values["blob"]) != lo || rec.Expiry.Unix() != expiry.Unix() {
			t.Fatalf("Load after keep-alive %d: %d bytes, expiry %v, %v; want %d bytes, %v",
				i+1, len(rec.Values["blob"]), rec.Expiry, err, lo, expiry.Truncate(time.Second))
		}
		if it, err := c.Get(tok); err != nil || len(it.Value) != full {
			t.Fatalf("item after keep-alive %d: %v; want %d bytes, without trailers", i+1, err, full)
		}
	}
}

// TestForeignItem shows that an item this driver did not write is no
// session, and that a field-level write and a keep-alive leave it alone.
func TestForeignItem(t *testing.T) {
	c := newClient(t, servers(t)...)
	st := memcache.New(c, nil)
	ctx := t.Context()
	tok := token(t, c)
	if err := c.Set(&gomemcache.Item{Key: tok, Value: []byte("not a session"), Expiration: 3600}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Load of a foreign item: %v, want an error wrapping ErrNotFound", err)
	}
	if _, err := st.Save(ctx, tok, write(one("a", "1"), nil, in(time.Hour))); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("field-level write to a foreign item: %v, want an error wrapping ErrNotFound", err)
	}
	if it, err := c.Get(tok); err != nil || string(it.Value) != "not a session" {
		t.Errorf("the foreign item after a field-level write: %v; want it unchanged", err)
	}
	// A keep-alive does not read the item, so it cannot tell (it appends
	// its expiry); but the item is still no session after it.
	st.Save(ctx, tok, touch(in(time.Hour)))
	if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Load of a foreign item after a keep-alive: %v, want an error wrapping ErrNotFound", err)
	}
}

// TestExpiryWithinMargin shows that a save whose expiry is in the future
// but within the few seconds by which memcached is told to drop an item
// early deletes the item, and that a Write or Touch still needs a record.
func TestExpiryWithinMargin(t *testing.T) {
	c := newClient(t, servers(t)...)
	st := memcache.New(c, nil)
	ctx := t.Context()
	for _, u := range []sessionplus.Update{
		create(one("a", "2"), in(2*time.Second)),
		write(one("a", "2"), nil, in(2*time.Second)),
		touch(in(2 * time.Second)),
	} {
		tok := token(t, c)
		if _, err := st.Save(ctx, tok, create(one("a", "1"), in(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Save(ctx, tok, u); err != nil {
			t.Errorf("Save (%v) of a live record with an expiry 2 s away: %v", u.Kind, err)
		}
		if _, err := c.Get(tok); !errors.Is(err, gomemcache.ErrCacheMiss) {
			t.Errorf("item after a Save (%v) with an expiry 2 s away: %v, want it deleted", u.Kind, err)
		}
		if u.Kind == sessionplus.Create {
			continue
		}
		if _, err := st.Save(ctx, tok, u); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Save (%v) with an expiry 2 s away of a record that is gone: %v, want an error wrapping ErrNotFound", u.Kind, err)
		}
	}
}

// TestRoundTrips shows what each kind of save costs, in round trips to
// memcached, and that a Write or Touch of a missing record sends nothing
// that could create one.
func TestRoundTrips(t *testing.T) {
	addrs := servers(t)
	plain := newClient(t, addrs...)
	tok := token(t, plain)
	sel := memcache.NewSelector(t, addrs...)
	sel.Key = tok
	st := memcache.New(gomemcache.NewFromSelector(sel), nil)
	ctx := t.Context()
	for _, step := range []struct {
		what  string
		u     sessionplus.Update
		trips int
		want  error
	}{
		{"a Write of a missing record (gets)", write(one("a", "1"), nil, in(time.Hour)), 1, sessionplus.ErrNotFound},
		{"a Touch of a missing record (append refused, gets)", touch(in(time.Hour)), 2, sessionplus.ErrNotFound},
		{"a Create (set)", create(one("a", "1"), in(time.Hour)), 1, nil},
		{"a Touch (append, touch: it reads nothing)", touch(in(2 * time.Hour)), 2, nil},
		{"a Write (gets, cas)", write(one("b", "2"), []string{"a"}, in(3*time.Hour)), 2, nil},
	} {
		before := sel.Count()
		_, err := st.Save(ctx, tok, step.u)
		if !errors.Is(err, step.want) {
			t.Errorf("%s: %v, want %v", step.what, err, step.want)
		}
		if n := sel.Count() - before; n != step.trips {
			t.Errorf("%s took %d round trips, want %d", step.what, n, step.trips)
		}
		if step.want != nil {
			if _, err := plain.Get(tok); !errors.Is(err, gomemcache.ErrCacheMiss) {
				t.Errorf("after %s: the item is there (%v): it must not be created", step.what, err)
			}
		}
	}
	rec, err := st.Load(ctx, tok)
	if err != nil || len(rec.Values) != 1 || string(rec.Values["b"]) != "2" {
		t.Errorf("Load after the saves = %q, %v; want b=2 alone", rec.Values, err)
	}
}

// TestDeletedDuringSave shows that a record deleted between the round trips
// of a Write (gets, cas) or of a Touch (append, touch), as a log-out in
// another request would, stays deleted, and that the save reports it gone.
func TestDeletedDuringSave(t *testing.T) {
	addrs := servers(t)
	plain := newClient(t, addrs...)
	ctx := t.Context()
	for _, u := range []sessionplus.Update{
		write(one("cart", "1"), nil, in(2*time.Hour)),
		write(nil, []string{"role"}, in(2*time.Hour)),
		touch(in(2 * time.Hour)),
	} {
		tok := token(t, plain)
		if _, err := memcache.New(plain, nil).Save(ctx, tok, create(one("role", "admin"), in(time.Hour))); err != nil {
			t.Fatal(err)
		}
		sel := memcache.NewSelector(t, addrs...)
		sel.Key, sel.Hook = tok, func(_ string, n int) error {
			if n == 2 { // the second round trip of the save
				return plain.Delete(tok)
			}
			return nil
		}
		st := memcache.New(gomemcache.NewFromSelector(sel), nil)
		if _, err := st.Save(ctx, tok, u); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Save (%v) of a record deleted between its round trips: %v, want an error wrapping ErrNotFound", u.Kind, err)
		}
		if _, err := plain.Get(tok); !errors.Is(err, gomemcache.ErrCacheMiss) {
			t.Errorf("after a Save (%v) of a record deleted during it: the item is back (%v)", u.Kind, err)
		}
	}
}

// TestCASRetriesBounded shows that a field-level write gives up, with an
// error, after cas_retries conflicts.
func TestCASRetriesBounded(t *testing.T) {
	addrs := servers(t)
	c := newClient(t, addrs...)
	ctx := t.Context()
	tok := token(t, c)
	expiry := in(time.Hour)
	if _, err := memcache.New(c, nil).Save(ctx, tok, create(one("a", "1"), expiry)); err != nil {
		t.Fatal(err)
	}
	// A client whose every write of the item conflicts: another writer
	// changes it between each read and write.
	other := newClient(t, addrs...)
	conflicting := memcache.NewSelector(t, addrs...)
	conflicting.Key, conflicting.Hook = tok, func(_ string, n int) error {
		if n%2 != 0 {
			return nil
		}
		it, err := other.Get(tok)
		if err != nil {
			return err
		}
		return other.Set(it)
	}
	st := memcache.New(gomemcache.NewFromSelector(conflicting), &memcache.Options{CASRetries: 2})
	_, err := st.Save(ctx, tok, write(one("b", "2"), nil, expiry))
	if !errors.Is(err, gomemcache.ErrCASConflict) || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("field-level write that always conflicts: %v, want an error wrapping ErrCASConflict after 3 attempts", err)
	}
}

// TestItemGoneBeforeExpiry shows that memcached drops an item before its
// record expires, so that a keep-alive, which touches the item before it
// has read the record, cannot revive an expired session.
func TestItemGoneBeforeExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits about 5 seconds for records to expire; skipped under -short")
	}
	c := newClient(t, servers(t)...)
	st := memcache.New(c, nil)
	ctx := t.Context()
	expiry := in(5 * time.Second)
	toks := make([]string, 10)
	for i := range toks {
		toks[i] = token(t, c)
		if _, err := st.Save(ctx, toks[i], create(one("a", "1"), expiry)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Load(ctx, toks[0]); err != nil {
		t.Fatalf("Load of a record that expires in 5s: %v", err)
	}
	for _, tok := range toks {
		for {
			_, err := c.Get(tok)
			if errors.Is(err, gomemcache.ErrCacheMiss) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if late := time.Since(expiry.Truncate(time.Second)); late >= 0 {
				t.Fatalf("memcached still holds the item %v after its record expired: a keep-alive would revive it", late)
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
		if _, err := st.Save(ctx, tok, touch(in(time.Hour))); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("keep-alive of a record memcached dropped: %v, want an error wrapping ErrNotFound", err)
		}
	}
	t.Logf("all items gone %v before their records' expiry", time.Until(expiry.Truncate(time.Second)).Round(time.Millisecond))
}

// TestKeepAliveDoesNotRewrite shows that a keep-alive appends the new
// expiry rather than rewriting the record, and that the next write of
// fields drops what the keep-alives appended.
func TestKeepAliveDoesNotRewrite(t *testing.T) {
	c := newClient(t, servers(t)...)
	st := memcache.New(c, nil)
	ctx := t.Context()
	tok := token(t, c)
	if _, err := st.Save(ctx, tok, create(one("a", "1"), in(time.Hour))); err != nil {
		t.Fatal(err)
	}
	size := func() int {
		t.Helper()
		it, err := c.Get(tok)
		if err != nil {
			t.Fatal(err)
		}
		return len(it.Value)
	}
	base := size()
	var expiry time.Time
	for i := range 3 {
		expiry = in(time.Duration(2+i) * time.Hour)
		if _, err := st.Save(ctx, tok, touch(expiry)); err != nil {
			t.Fatalf("keep-alive: %v", err)
		}
	}
	if got := size(); got != base+3*8 {
		t.Errorf("item after 3 keep-alives is %d bytes, want %d + 3 × 8", got, base)
	}
	rec, err := st.Load(ctx, tok)
	if err != nil || rec.Expiry.Unix() != expiry.Unix() {
		t.Fatalf("Load after keep-alives: expiry %v, %v; want %v", rec.Expiry, err, expiry.Truncate(time.Second))
	}
	if _, err := st.Save(ctx, tok, write(nil, []string{"none"}, expiry)); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != base {
		t.Errorf("item after a field-level write is %d bytes, want %d as before the keep-alives", got, base)
	}
}

// withCookies returns r carrying the cookies that w set.
func withCookies(r *http.Request, w *httptest.ResponseRecorder) *http.Request {
	for _, c := range w.Result().Cookies() {
		if c.MaxAge >= 0 {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return r
}

// TestConcurrentRequests shows, through the root session layer, that two
// requests of one user that change different fields at the same time both
// land.
func TestConcurrentRequests(t *testing.T) {
	c := newClient(t, servers(t)...)
	b := make([]byte, 8)
	rand.Read(b)
	m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{{
		"cookie_name": "s", "session_type": memcache.Name, "client": c,
		"key_prefix": "memcachetest-" + hex.EncodeToString(b),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	get := func() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }

	// The first request makes the session; the browser keeps its cookie.
	first := httptest.NewRecorder()
	s := m.Begin(first, get())
	if err := errors.Join(s.Set("base", "b"), s.Commit()); err != nil {
		t.Fatal(err)
	}
	if len(first.Result().Cookies()) != 1 {
		t.Fatalf("first response set cookies %v, want one", first.Result().Cookies())
	}

	const rounds = 10
	for i := range rounds {
		// Two requests with the cookie read the session, each changes its
		// own field, and both commit at the same time.
		s1 := m.Begin(httptest.NewRecorder(), withCookies(get(), first))
		s2 := m.Begin(httptest.NewRecorder(), withCookies(get(), first))
		if err := errors.Join(s1.Set(fmt.Sprintf("a%d", i), i), s2.Set(fmt.Sprintf("b%d", i), i)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, s := range []*sessionplus.Session{s1, s2} {
			wg.Go(func() {
				<-start
				if err := s.Commit(); err != nil {
					t.Errorf("round %d: concurrent Commit: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}

	w := httptest.NewRecorder()
	s = m.Begin(w, withCookies(get(), first))
	keys, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1+2*rounds {
		t.Errorf("after %d rounds of two concurrent requests the session holds %d fields %v, want %d", rounds, len(keys), keys, 1+2*rounds)
	}
	for i := range rounds {
		for _, f := range []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)} {
			if v, ok, err := sessionplus.GetAs[int](s, f); err != nil || !ok || v != i {
				t.Errorf("field %s = %d, %v, %v; want %d: a concurrent write was lost", f, v, ok, err, i)
			}
		}
	}
	if err := errors.Join(s.Destroy(), s.Commit()); err != nil {
		t.Fatal(err)
	}
}
