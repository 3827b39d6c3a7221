package redis_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
)

var secret = bytes.Repeat([]byte{'s'}, 32)

// browser carries cookies between requests, like a browser would.
type browser struct {
	t       *testing.T
	m       *sessionplus.Manager
	cookies map[string]*http.Cookie
}

func newBrowser(t *testing.T, m *sessionplus.Manager) *browser {
	return &browser{t: t, m: m, cookies: map[string]*http.Cookie{}}
}

// begin starts a request that carries the browser's cookies.
func (b *browser) begin() (*sessionplus.Session, *httptest.ResponseRecorder) {
	r := httptest.NewRequestWithContext(b.t.Context(), http.MethodGet, "/", nil)
	for _, c := range b.cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	return b.m.Begin(w, r), w
}

// end commits the request's session and keeps the cookies it set.
func (b *browser) end(s *sessionplus.Session, w *httptest.ResponseRecorder) {
	b.t.Helper()
	if err := s.Commit(); err != nil {
		b.t.Fatalf("Commit: %v", err)
	}
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
}

// do runs one request whose handler is h.
func (b *browser) do(h func(s *sessionplus.Session)) {
	b.t.Helper()
	s, w := b.begin()
	h(s)
	b.end(s, w)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s *sessionplus.Session, field string) any {
	t.Helper()
	v, _, err := s.Get(field)
	must(t, err)
	return v
}

// newManager configures a csrf cookie session, a redis session that owns
// user_id and a cookie session for every other field.
// It returns the manager and the redis session's key_prefix.
func newManager(t *testing.T, rdb goredis.UniversalClient, extra sessionplus.Options) (*sessionplus.Manager, string) {
	t.Helper()
	p := prefix(t, rdb)
	sess := sessionplus.Options{
		"cookie_name": "session", "session_type": "redis", "client": rdb,
		"key_prefix": p, "session_fields": []string{"user_id"},
	}
	for k, v := range extra {
		sess[k] = v
	}
	m, err := sessionplus.New(t.Context(), sessionplus.Config{
		SecretKeys: [][]byte{secret},
		Sessions: []sessionplus.Options{
			{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
			sess,
			{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
		},
	})
	must(t, err)
	t.Cleanup(func() { m.Close() })
	return m, p
}

// TestSessionRoundTrips counts the round trips to Redis of requests through
// the root session layer.
func TestSessionRoundTrips(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			cnt := &counter{}
			rdb := srv.client(t, cnt)
			m, _ := newManager(t, rdb, nil)
			b := newBrowser(t, m)
			cnt.take() // Open's PING and script loads

			b.do(func(s *sessionplus.Session) {
				must(t, s.Set("csrf_token", "tok"))
				must(t, s.Set("theme", "dark"))
			})
			cnt.want(t, 0, "a request that sets only cookie fields")

			b.do(func(s *sessionplus.Session) {
				must(t, s.Set("user_id", 42))
				must(t, s.Set("theme", "light"))
			})
			cnt.want(t, 1, "log-in: a new redis session (one replace)")

			b.do(func(s *sessionplus.Session) {
				if get(t, s, "csrf_token") != "tok" || get(t, s, "theme") != "light" {
					t.Errorf("cookie fields lost")
				}
				must(t, s.Set("theme", "blue"))
			})
			cnt.want(t, 0, "a request that touches only csrf_token and theme")

			b.do(func(s *sessionplus.Session) {
				if v, _, _ := sessionplus.GetAs[int](s, "user_id"); v != 42 {
					t.Errorf("user_id = %v, want 42", v)
				}
			})
			cnt.want(t, 1, "a read of user_id (one load)")

			b.do(func(s *sessionplus.Session) { must(t, s.Set("user_id", 43)) })
			cnt.want(t, 2, "a write of user_id (the load that keeps the id, then one field-level write)")

			b.do(func(s *sessionplus.Session) {
				if v, _, _ := sessionplus.GetAs[int](s, "user_id"); v != 43 {
					t.Errorf("user_id = %v after the write, want 43", v)
				}
				must(t, s.Set("user_id", 44))
			})
			cnt.want(t, 2, "a read then a write of user_id (one load, one field-level write)")

			b.do(func(s *sessionplus.Session) { must(t, s.Destroy()) })
			calls := cnt.take()
			t.Logf("log-out (Destroy): %d round trip(s) %v", len(calls), calls)
			if len(calls) == 0 || len(calls) > 2 {
				t.Errorf("log-out: %d round trips %v, want 1 or 2", len(calls), calls)
			}
			if _, ok := b.cookies["session"]; ok {
				t.Errorf("the session cookie survived Destroy")
			}
		})
	}
}

// TestSessionKeepAlive shows that a request that does not touch the redis
// session keeps it alive with one round trip once the keep-alive is due,
// without reading it.
func TestSessionKeepAlive(t *testing.T) {
	cnt := &counter{}
	rdb := standaloneClient(t, cnt)
	// The keep-alive is due a tenth of the lifetime after a save (2s), a
	// time the cookie carries in whole seconds.
	m, p := newManager(t, rdb, sessionplus.Options{"session_lifetime": "20s"})
	b := newBrowser(t, m)
	b.do(func(s *sessionplus.Session) { must(t, s.Set("user_id", 7)) })
	keys, err := rdb.Keys(t.Context(), p+":*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("KEYS %s:* = %q, %v; want one key", p, keys, err)
	}
	cnt.take()
	ttl := func() time.Duration {
		d, err := rdb.PTTL(t.Context(), keys[0]).Result()
		must(t, err)
		return d
	}

	b.do(func(s *sessionplus.Session) { must(t, s.Set("theme", "dark")) })
	cnt.want(t, 0, "a request before the keep-alive is due")

	time.Sleep(2100 * time.Millisecond)
	before := ttl()
	cnt.take()
	b.do(func(s *sessionplus.Session) { must(t, s.Set("theme", "light")) })
	cnt.want(t, 1, "a request once the keep-alive is due (one keep-alive)")
	if after := ttl(); after < 19*time.Second || after <= before {
		t.Errorf("PTTL = %v before the keep-alive, %v after; want it moved back to about 20s", before, after)
	}
	cnt.take()

	b.do(func(s *sessionplus.Session) {
		if v, _, _ := sessionplus.GetAs[int](s, "user_id"); v != 7 {
			t.Errorf("user_id = %v after a keep-alive, want 7", v)
		}
	})
	cnt.want(t, 1, "a read of the kept-alive session (one load, no keep-alive: not due)")
}

// TestInterleavedRequests shows that two requests of one session that
// change different fields at the same time both land.
func TestInterleavedRequests(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			rdb := srv.client(t)
			m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{
				{"cookie_name": "session", "session_type": "redis", "client": rdb, "key_prefix": prefix(t, rdb)},
			}})
			must(t, err)
			t.Cleanup(func() { m.Close() })
			b := newBrowser(t, m)
			b.do(func(s *sessionplus.Session) { must(t, s.Set("user_id", 1)) })

			s1, w1 := b.begin()
			s2, w2 := b.begin()
			must(t, s1.Set("cart", "book"))
			must(t, s2.Set("theme", "dark"))
			b.end(s1, w1)
			b.end(s2, w2)

			b.do(func(s *sessionplus.Session) {
				id, _, err := sessionplus.GetAs[int](s, "user_id")
				must(t, err)
				cart, _, err := sessionplus.GetAs[string](s, "cart")
				must(t, err)
				theme, _, err := sessionplus.GetAs[string](s, "theme")
				must(t, err)
				if id != 1 || cart != "book" || theme != "dark" {
					t.Errorf("after two interleaved requests: user_id=%d cart=%q theme=%q, want 1, \"book\", \"dark\"", id, cart, theme)
				}
			})
		})
	}
}
