package adaptertest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

func testToMiddleware(t *testing.T, a Adapter) {
	var tests = []struct {
		name                    string
		givenConfig             Config
		expectToMiddlewareError []string // substrings of the error
	}{
		{
			name:        "ok, seed configuration",
			givenConfig: Config{SecretKeys: [][]byte{Key}, Sessions: SeedSessions()},
		},
		{
			name: "ok, durations as Duration, string and seconds",
			givenConfig: Config{SecretKeys: [][]byte{Key}, Sessions: []sessionplus.Options{
				{"cookie_name": "a", "session_lifetime": time.Hour, "session_permanent_lifetime": "48h", "cookie_max_age": 3600},
				{"cookie_name": "b", "session_type": "memory", "session_lifetime": float64(60), "key_prefix": "app", "use_signer": true},
			}},
		},
		{
			name:                    "nok, no sessions",
			givenConfig:             Config{SecretKeys: [][]byte{Key}},
			expectToMiddlewareError: []string{"no sessions configured"},
		},
		{
			name:                    "nok, unknown session_type",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(1, "session_type", "reddis")},
			expectToMiddlewareError: []string{`session "session": key "session_type": unknown session_type "reddis"`, `did you mean "redis"?`, "registered: ", "memory", "secure_cookie"},
		},
		{
			name:                    "nok, unknown key",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(2, "cookie_nmae", "x")},
			expectToMiddlewareError: []string{`session "data" (secure_cookie)`, `unknown key "cookie_nmae"`},
		},
		{
			name:                    "nok, unknown key of a memory session",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(1, "collection", "x")},
			expectToMiddlewareError: []string{`session "session" (memory)`, `unknown key "collection"`},
		},
		{
			name:                    "nok, wrong type",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "cookie_httponly", "yes")},
			expectToMiddlewareError: []string{`session "csrf"`, `key "cookie_httponly": expected bool, got string "yes"`},
		},
		{
			name:                    "nok, bad duration",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(1, "session_lifetime", "1 day")},
			expectToMiddlewareError: []string{`session "session"`, `key "session_lifetime"`, `"1 day"`},
		},
		{
			name:                    "nok, fractional seconds",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(1, "session_lifetime", 1.5)},
			expectToMiddlewareError: []string{`key "session_lifetime"`, "whole seconds"},
		},
		{
			name: "nok, missing cookie_name",
			givenConfig: Config{SecretKeys: [][]byte{Key}, Sessions: []sessionplus.Options{
				{"cookie_name": "a"}, {"session_type": "memory"},
			}},
			expectToMiddlewareError: []string{"session #2", `key "cookie_name": required`},
		},
		{
			name:                    "nok, invalid cookie name",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "cookie_name", "my session")},
			expectToMiddlewareError: []string{`key "cookie_name"`, "not a valid cookie name"},
		},
		{
			name:                    "nok, duplicate cookie_name",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(2, "cookie_name", "csrf")},
			expectToMiddlewareError: []string{`session "csrf"`, `key "cookie_name": duplicate cookie name`},
		},
		{
			name:                    "nok, two auto sessions",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(1, "session_fields", "auto")},
			expectToMiddlewareError: []string{`session "data"`, `key "session_fields"`, `"auto" is already used by session "session"`},
		},
		{
			name:                    "nok, bad session_fields",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "session_fields", map[string]any{"include": []any{"a"}, "exclude": []any{"b"}})},
			expectToMiddlewareError: []string{`session "csrf"`, `key "session_fields"`, "exactly one"},
		},
		{
			name:                    "nok, secret too short",
			givenConfig:             Config{SecretKeys: [][]byte{[]byte("short")}, Sessions: SeedSessions()},
			expectToMiddlewareError: []string{"SecretKeys[0] is 5 bytes", "at least 32"},
		},
		{
			name:                    "nok, session secret too short",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "secret_keys", []string{"tiny"})},
			expectToMiddlewareError: []string{`session "csrf"`, `key "secret_keys"`, "at least 32"},
		},
		{
			name:                    "nok, secure_cookie without keys",
			givenConfig:             Config{Sessions: SeedSessions()},
			expectToMiddlewareError: []string{`session "csrf" (secure_cookie)`, `key "secret_keys": required`},
		},
		{
			name:                    "nok, use_signer without keys",
			givenConfig:             Config{Sessions: []sessionplus.Options{{"cookie_name": "s", "session_type": "memory", "use_signer": true}}},
			expectToMiddlewareError: []string{`session "s" (memory)`, `key "use_signer": requires secret keys`},
		},
		{
			name:                    "nok, SameSite None without Secure",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "cookie_samesite", "None")},
			expectToMiddlewareError: []string{`session "csrf"`, `key "cookie_samesite"`, "requires cookie_secure"},
		},
		{
			name:                    "nok, unknown SameSite",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "cookie_samesite", "sometimes")},
			expectToMiddlewareError: []string{`key "cookie_samesite"`, `"sometimes"`},
		},
		{
			name:                    "nok, __Host- prefix without Secure",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "cookie_name", "__Host-csrf")},
			expectToMiddlewareError: []string{`session "__Host-csrf"`, `key "cookie_name"`, "__Host- prefix requires cookie_secure"},
		},
		{
			name: "nok, __Host- prefix with a domain",
			givenConfig: Config{SecretKeys: [][]byte{Key}, Sessions: []sessionplus.Options{
				{"cookie_name": "__Host-s", "cookie_secure": true, "cookie_domain": "example.com"},
			}},
			expectToMiddlewareError: []string{`key "cookie_name"`, "no cookie_domain"},
		},
		{
			name:                    "nok, __Secure- prefix without Secure",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "cookie_name", "__Secure-csrf")},
			expectToMiddlewareError: []string{`key "cookie_secure"`, "__Secure- prefix"},
		},
		{
			name:                    "nok, key_prefix on a secure_cookie session",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(0, "key_prefix", "x")},
			expectToMiddlewareError: []string{`session "csrf" (secure_cookie)`, `key "key_prefix": applies only to server-side sessions`},
		},
		{
			name:                    "nok, key_prefix with a space",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(1, "key_prefix", "my app")},
			expectToMiddlewareError: []string{`session "session"`, `key "key_prefix"`},
		},
		{
			name:                    "nok, cookie_path without slash",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(1, "cookie_path", "app")},
			expectToMiddlewareError: []string{`key "cookie_path"`},
		},
		{
			name:                    "nok, Manager and Sessions",
			givenConfig:             Config{Manager: &sessionplus.Manager{}, Sessions: SeedSessions()},
			expectToMiddlewareError: []string{"Config.Manager is set"},
		},
		{
			name:                    "nok, store of the wrong type",
			givenConfig:             Config{SecretKeys: [][]byte{Key}, Sessions: withSession(1, "store", "redis://x")},
			expectToMiddlewareError: []string{`key "store": expected a sessionplus.Store, got string`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := deepCopy(tc.givenConfig.Sessions)
			h, err := a.App(tc.givenConfig, Routes(nil))
			if !reflect.DeepEqual(before, tc.givenConfig.Sessions) {
				t.Errorf("ToMiddleware modified the caller's maps:\n%v\n%v", before, tc.givenConfig.Sessions)
			}
			if len(tc.expectToMiddlewareError) == 0 {
				if err != nil || h == nil {
					t.Fatalf("ToMiddleware() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ToMiddleware() succeeded, want an error")
			}
			if !errors.Is(err, sessionplus.ErrConfig) && !errors.Is(err, sessionplus.ErrUnknownDriver) {
				t.Errorf("error %v matches neither ErrConfig nor ErrUnknownDriver", err)
			}
			for _, want := range tc.expectToMiddlewareError {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n  %v\ndoes not contain\n  %s", err, want)
				}
			}
			// Several mistakes come as an errors.Join: one per line, each
			// with the prefix once.
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.Count(line, "sessionplus:") != 1 {
					t.Errorf("error line %q repeats its prefix or has none", line)
				}
			}
		})
	}
}

func deepCopy(in []sessionplus.Options) []sessionplus.Options {
	var out []sessionplus.Options
	for _, o := range in {
		c := sessionplus.Options{}
		for k, v := range o {
			c[k] = v
		}
		out = append(out, c)
	}
	return out
}

func testPanicsOnError(t *testing.T, a Adapter) {
	p, ok := a.(Panicker)
	if !ok {
		t.Skip("the middleware has no panicking constructor")
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "no sessions configured") {
			t.Errorf("panic = %v", r)
		}
	}()
	p.MustApp(Config{}, Routes(nil))
}

func testEndToEnd(t *testing.T, a Adapter) {
	b := NewClient(t, App(t, a, Config{}, nil))

	if res, body := b.Do("GET", "/me"); res.StatusCode != http.StatusUnauthorized || len(res.Header["Set-Cookie"]) != 0 {
		t.Fatalf("anonymous /me: %d %q, Set-Cookie %v", res.StatusCode, body, res.Header["Set-Cookie"])
	}
	res, body := b.Do("POST", "/login")
	if res.StatusCode != http.StatusOK || body != "logged in" || res.Header.Get("Vary") != "Cookie" ||
		!strings.Contains(res.Header.Get("Cache-Control"), "no-cache") {
		t.Fatalf("login: %d %q, Vary %q, Cache-Control %q", res.StatusCode, body, res.Header.Get("Vary"), res.Header.Get("Cache-Control"))
	}
	c := b.Cookies()
	if len(c) != 2 || c["csrf"] == "" || c["session"] == "" {
		t.Fatalf("after login the browser holds %v, want csrf and session", c)
	}
	if strings.Contains(c["session"], "ada") || len(c["session"]) > 60 {
		t.Errorf("session cookie %q is not an opaque id", c["session"])
	}
	if _, body := b.Do("GET", "/me"); !strings.Contains(body, `"user_id":42`) {
		t.Errorf("/me after login = %q", body)
	}
	for want := 1; want <= 3; want++ {
		if _, body := b.Do("POST", "/visit"); !strings.Contains(body, visits(want)) {
			t.Errorf("visit %d: %q", want, body)
		}
	}
	if b.Cookies()["data"] == "" {
		t.Error("the auto field did not land in the data cookie")
	}
	if res, _ := b.Do("POST", "/silent"); res.StatusCode != http.StatusOK || len(res.Header["Set-Cookie"]) != 1 {
		t.Errorf("a handler that writes nothing: %d, Set-Cookie %v (want the data cookie)", res.StatusCode, res.Header["Set-Cookie"])
	}
	if res, _ := b.Do("POST", "/redirect"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/done" {
		t.Errorf("redirect: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}

	// Tampering starts fresh: no 500.
	b.Jar.SetCookies(b.URL, []*http.Cookie{{Name: "session", Value: "garbage"}, {Name: "data", Value: c["csrf"]}})
	if res, body := b.Do("GET", "/me"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered cookies: %d %q, want a fresh anonymous session", res.StatusCode, body)
	}

	b.Do("POST", "/login")
	old := b.Cookies()["session"]
	b.Do("POST", "/login") // regenerates again
	if b.Cookies()["session"] == old {
		t.Error("login did not regenerate the session id")
	}
	if res, _ := b.Do("POST", "/logout"); res.StatusCode != http.StatusNoContent {
		t.Errorf("logout: %d", res.StatusCode)
	}
	if c := b.Cookies(); len(c) != 0 {
		t.Errorf("after logout the browser still holds %v", c)
	}
}

// Failing wraps a memory store whose writes fail while Fail is set.
type Failing struct {
	*memory.Store
	mu   sync.Mutex
	Fail error
}

func (f *Failing) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	f.mu.Lock()
	err := f.Fail
	f.mu.Unlock()
	if err != nil {
		return "", err
	}
	return f.Store.Save(ctx, token, u)
}

// failingSessions are the seed's sessions with the server-side one on store.
func failingSessions(store sessionplus.Store) []sessionplus.Options {
	s := SeedSessions()
	s[1] = sessionplus.Options{"cookie_name": "session", "store": store, "session_fields": []string{"user_id", "user_data"}}
	return s
}

func testFailedSaveIsNeverASuccess(t *testing.T, a Adapter) {
	var logs syncBuffer
	b := NewClient(t, App(t, a, Config{
		Sessions: failingSessions(&Failing{Store: memory.New(), Fail: errors.New("backend down")}),
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	}, nil))
	for _, tc := range []struct {
		name, path string
		expectBody string
	}{
		{"nok, response written by the handler", "/login", "Service Unavailable\n"},
		{"nok, a redirect", "/redirect", "Service Unavailable\n"},
		{"nok, nothing written by the handler", "/silent-login", a.LateErrorBody(http.StatusServiceUnavailable)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := b.Do(http.MethodPost, tc.path)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503", res.StatusCode)
			}
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("the failed response still redirects to %q", loc)
			}
			if body != tc.expectBody {
				t.Errorf("body %q, want %q: the error's status text only", body, tc.expectBody)
			}
			if ct := res.Header.Get("Content-Type"); tc.path != "/silent-login" && !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
			for _, c := range res.Cookies() {
				if c.Name == "session" {
					t.Errorf("a session cookie was sent for unsaved data: %v", c)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "backend down") || !strings.Contains(logs.String(), `session \"session\"`) ||
		!strings.Contains(logs.String(), "path=/login") {
		t.Errorf("the failure was not logged with the session's name and the path: %s", logs.String())
	}
}

// syncBuffer is a strings.Builder safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testFailedSaveAfterHandler(t *testing.T, a Adapter) {
	store := &Failing{Store: memory.New(), Fail: errors.New("backend down")}
	h := App(t, a, Config{Logger: slog.New(slog.DiscardHandler), Sessions: []sessionplus.Options{
		{"cookie_name": "session", "store": store},
	}}, map[string]Handler{"POST /": func(c *Call) error { return c.Session.Set("x", 1) }})
	rec := serve(h, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || len(rec.Result().Cookies()) != 0 {
		t.Errorf("status %d, cookies %v; want 503 and none", rec.Code, rec.Result().Cookies())
	}
}

// brokenLoad is a store whose reads fail.
type brokenLoad struct{ *memory.Store }

func (brokenLoad) Load(context.Context, string) (sessionplus.Record, error) {
	return sessionplus.Record{}, errors.New("timeout")
}

func testLoadErrorIs503(t *testing.T, a Adapter) {
	h := App(t, a, Config{Logger: slog.New(slog.DiscardHandler), Sessions: []sessionplus.Options{
		{"cookie_name": "session", "store": brokenLoad{memory.New()}, "session_fields": []string{"user_id"}},
		{"cookie_name": "data", "session_fields": "auto"},
	}}, nil)
	req := httptest.NewRequest(http.MethodGet, "/me", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.s0.0"})
	if rec := serve(h, req); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a failed read returned by the handler gave %d %q, want 503", rec.Code, rec.Body.String())
	}
}

func testSkipperAndMissingMiddleware(t *testing.T, a Adapter) {
	var got error
	h := func(c *Call) error {
		got = c.Session.Set("theme", "x")
		c.W.WriteHeader(http.StatusOK)
		return nil
	}
	skipped := App(t, a, Config{Skip: func(r *http.Request) bool { return r.URL.Path == "/health" }}, map[string]Handler{"GET /health": h})
	bare := App(t, a, Config{Bare: true}, map[string]Handler{"GET /plain": h})
	for path, app := range map[string]http.Handler{"/health": skipped, "/plain": bare} {
		got = nil
		rec := serve(app, httptest.NewRequest(http.MethodGet, path, nil))
		if !errors.Is(got, sessionplus.ErrNoSession) {
			t.Errorf("%s: Set without a session: err = %v, want ErrNoSession", path, got)
		}
		if len(rec.Header()["Set-Cookie"]) != 0 {
			t.Errorf("%s set cookies", path)
		}
	}
}

func testChangeAfterHeadersIsAnError(t *testing.T, a Adapter) {
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter) error
	}{
		{"ok, WriteHeader", func(w http.ResponseWriter) error { w.WriteHeader(http.StatusAccepted); return nil }},
		{"ok, Write", func(w http.ResponseWriter) error { _, err := io.WriteString(w, "done"); return err }},
		{"ok, http.Flusher", func(w http.ResponseWriter) error { w.(http.Flusher).Flush(); return nil }},
		{"ok, http.ResponseController", func(w http.ResponseWriter) error { return http.NewResponseController(w).Flush() }},
		{"ok, io.Copy", func(w http.ResponseWriter) error {
			_, err := io.Copy(w, io.LimitReader(strings.NewReader("done"), 4))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after error
			b := NewClient(t, App(t, a, Config{}, map[string]Handler{"GET /late": func(c *Call) error {
				before = c.Session.Set("theme", "early")
				if err := tc.write(c.W); err != nil {
					t.Error(err)
				}
				after = c.Session.Set("theme", "late")
				return nil
			}}))
			res, _ := b.Do("GET", "/late")
			if before != nil || !errors.Is(after, sessionplus.ErrClosed) {
				t.Errorf("Set before the headers: %v; after: %v, want ErrClosed", before, after)
			}
			if len(res.Cookies()) != 1 || res.Cookies()[0].Name != "data" {
				t.Errorf("cookies %v, want the data cookie saved before the headers", res.Cookies())
			}
		})
	}
}

func testGetPart(t *testing.T, a Adapter) {
	h := App(t, a, Config{}, map[string]Handler{"GET /part": func(c *Call) error {
		p, err := c.Part("session")
		if err != nil {
			return err
		}
		if p.Type() != "memory" || p.ClientSide() || !p.Owns("user_id") || p.Owns("theme") {
			t.Errorf("Part(session): type %q, client-side %v", p.Type(), p.ClientSide())
		}
		if _, err := c.Part("nope"); err == nil || !strings.Contains(err.Error(), "csrf, session, data") {
			t.Errorf("GetPart(nope) error = %v", err)
		}
		c.W.WriteHeader(http.StatusOK)
		return nil
	}})
	if rec := serve(h, httptest.NewRequest(http.MethodGet, "/part", nil)); rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
}

func testConfigManager(t *testing.T, a Adapter) {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{"cookie_name": "s", "session_type": "memory"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := App(t, a, Config{Manager: m}, map[string]Handler{"GET /": func(c *Call) error {
		if err := c.Session.Set("x", 1); err != nil {
			return err
		}
		c.W.WriteHeader(http.StatusOK)
		return nil
	}})
	if rec := serve(h, httptest.NewRequest(http.MethodGet, "/", nil)); len(rec.Result().Cookies()) != 1 {
		t.Errorf("middleware over a Manager set cookies %v", rec.Result().Cookies())
	}
}

func testFlushSendsTheCookies(t *testing.T, a Adapter) {
	late := make(chan error, 1)
	b := NewClient(t, App(t, a, Config{}, map[string]Handler{"GET /stream": func(c *Call) error {
		if err := c.Session.Set("theme", "dark"); err != nil {
			return err
		}
		c.W.Header().Set("Content-Type", "text/event-stream")
		if err := http.NewResponseController(c.W).Flush(); err != nil { // headers go out here
			return err
		}
		late <- c.Session.Set("theme", "light")
		_, err := io.WriteString(c.W, "data: hi\n\n")
		return err
	}}))
	res, body := b.Do("GET", "/stream")
	if res.StatusCode != http.StatusOK || body != "data: hi\n\n" || !reflect.DeepEqual(cookieNames(res.Cookies()), []string{"data"}) {
		t.Errorf("a response flushed before writing: %d %q, cookies %v; want 200 and the data cookie", res.StatusCode, body, cookieNames(res.Cookies()))
	}
	if err := <-late; !errors.Is(err, sessionplus.ErrClosed) {
		t.Errorf("Set after the flush: err = %v, want ErrClosed", err)
	}
}

func testFlushFailedSave(t *testing.T, a Adapter) {
	store := &Failing{Store: memory.New(), Fail: errors.New("backend down")}
	h := App(t, a, Config{Logger: slog.New(slog.DiscardHandler), Sessions: []sessionplus.Options{
		{"cookie_name": "session", "store": store},
	}}, map[string]Handler{"GET /": func(c *Call) error {
		if err := c.Session.Set("x", 1); err != nil {
			return err
		}
		c.W.(http.Flusher).Flush()
		return text(c.W, http.StatusOK, "streamed")
	}})
	rec := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "streamed") || len(rec.Result().Cookies()) != 0 {
		t.Errorf("%d %q, cookies %v; want 503, no body, no cookie", rec.Code, rec.Body.String(), rec.Result().Cookies())
	}
}

// testSessionInRequestContext: a net/http handler mounted the framework's
// way (echo.WrapHandler) reaches the session with sessionplus.FromRequest.
func testSessionInRequestContext(t *testing.T, a Adapter) {
	std := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sessionplus.FromRequest(r).Set("theme", "dark"); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "ok")
	})
	h := App(t, a, Config{}, map[string]Handler{"POST /std": func(c *Call) error { return c.Serve(std) }})
	rec := serve(h, httptest.NewRequest(http.MethodPost, "/std", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok" || len(rec.Result().Cookies()) != 1 {
		t.Errorf("a net/http handler under the middleware: %d %q, cookies %v", rec.Code, rec.Body.String(), rec.Result().Cookies())
	}
}

func testErrorHandler(t *testing.T, a Adapter) {
	store := &Failing{Store: memory.New(), Fail: errors.New("backend down")}
	var got error
	h := App(t, a, Config{
		Logger:   slog.New(slog.DiscardHandler),
		Sessions: []sessionplus.Options{{"cookie_name": "session", "store": store}},
		ErrorPage: func(err error) (int, string) {
			got = err
			return http.StatusInsufficientStorage, "sessions are down, try again later"
		},
	}, map[string]Handler{"POST /": func(c *Call) error {
		if err := c.Session.Set("x", 1); err != nil {
			return err
		}
		c.W.Header().Set("ETag", `"v1"`)
		return jsonBody(c.W, map[string]bool{"ok": true})
	}})
	rec := serve(h, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusInsufficientStorage || rec.Body.String() != "sessions are down, try again later\n" {
		t.Errorf("%d %q", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("ETag") != "" || rec.Header().Get("Content-Type") == "application/json" {
		t.Errorf("the error response kept the handler's headers: %v", rec.Header())
	}
	var se *sessionplus.StoreError
	if !errors.As(got, &se) || se.Session != "session" {
		t.Errorf("ErrorHandler got %v, want the StoreError of session", got)
	}
}

func testHijackSavesFirst(t *testing.T, a Adapter) {
	var after error
	b := NewClient(t, App(t, a, Config{}, map[string]Handler{"GET /ws": func(c *Call) error {
		if err := c.Session.Set("theme", "dark"); err != nil {
			return err
		}
		conn, rw, err := http.NewResponseController(c.W).Hijack()
		if err != nil {
			return err
		}
		defer conn.Close()
		after = c.Session.Set("theme", "late")
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		return rw.Flush()
	}}))
	if _, body := b.Do("GET", "/ws"); body != "hi" || !errors.Is(after, sessionplus.ErrClosed) {
		t.Errorf("hijacked: %q, Set after Hijack = %v", body, after)
	}
}

// hanging is a memory store whose keep-alives block until the request's
// context ends.
type hanging struct{ *memory.Store }

func (h hanging) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	if u.Kind == sessionplus.Touch {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return h.Store.Save(ctx, token, u)
}

func testSlowKeepAlive(t *testing.T, a Adapter) {
	h := App(t, a, Config{Logger: slog.New(slog.DiscardHandler), Sessions: []sessionplus.Options{
		// A lifetime of 1 s makes the keep-alive due on the next second.
		{"cookie_name": "session", "store": hanging{memory.New()}, "session_fields": []string{"user_id"}, "session_lifetime": 1},
		{"cookie_name": "data", "session_fields": "auto"},
	}}, map[string]Handler{
		"POST /": func(c *Call) error {
			if err := errors.Join(c.Session.Set("user_id", 1), c.Session.Set("theme", "x")); err != nil {
				return err
			}
			c.W.WriteHeader(http.StatusOK)
			return nil
		},
		"POST /theme": func(c *Call) error {
			if err := c.Session.Set("theme", "y"); err != nil {
				return err
			}
			c.W.WriteHeader(http.StatusOK)
			return nil
		},
	})
	rec := serve(h, httptest.NewRequest(http.MethodPost, "/", nil))
	// The next request carries a session whose keep-alive is already due
	// (its cookie says so), with a deadline the hanging backend uses up.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/theme", nil)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "session" {
			c.Value = c.Value[:strings.IndexByte(c.Value, '.')] + ".s0" // due long ago
		}
		req.AddCookie(c)
	}
	rec = serve(h, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("a request of a cookie field, with the other session's keep-alive hanging: %d, want 200", rec.Code)
	}
	var data bool
	for _, c := range rec.Result().Cookies() {
		data = data || c.Name == "data"
	}
	if !data {
		t.Error("the data cookie was not saved")
	}
}

// testTokenHeader: a session that comes by its token_header answers by it:
// the new token after a login, no Set-Cookie, Vary names the header.
func testTokenHeader(t *testing.T, a Adapter) {
	for _, tc := range []struct{ header, scheme string }{
		{"Authorization", "Bearer "},
		{"X-Session-Token", ""},
	} {
		t.Run(tc.header, func(t *testing.T) {
			h := App(t, a, Config{Sessions: withSession(1, "token_header", tc.header)}, nil)
			do := func(method, path, token string) *httptest.ResponseRecorder {
				r := httptest.NewRequest(method, path, nil)
				r.Header.Set(tc.header, tc.scheme+token)
				return serve(h, r)
			}
			w := do("POST", "/login", "none-yet")
			token := strings.TrimPrefix(w.Header().Get(tc.header), tc.scheme)
			if w.Code != http.StatusOK || token == "" || token == "none-yet" {
				t.Fatalf("login by header: %d, %s %q; want the new session's token", w.Code, tc.header, w.Header().Get(tc.header))
			}
			if strings.Contains(strings.Join(w.Header().Values("Set-Cookie"), ";"), "session=") {
				t.Errorf("the session that came by header answered by cookie: %q", w.Header().Values("Set-Cookie"))
			}
			w = do("GET", "/me", token)
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "42") {
				t.Errorf("GET /me with the token: %d %s", w.Code, w.Body)
			}
			if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), tc.header) {
				t.Errorf("Vary = %q, want %s", w.Header().Values("Vary"), tc.header)
			}
		})
	}
}

// testVaryOnRead: a response that read a session says Vary: Cookie even
// when it sets no cookie.
func testVaryOnRead(t *testing.T, a Adapter) {
	h := App(t, a, Config{}, nil)
	w := serve(h, httptest.NewRequest("POST", "/login", nil))
	r := httptest.NewRequest("GET", "/me", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	w = serve(h, r)
	if w.Code != http.StatusOK || len(w.Header().Values("Set-Cookie")) != 0 {
		t.Fatalf("GET /me after login: %d, Set-Cookie %q; want 200 and no cookie", w.Code, w.Header().Values("Set-Cookie"))
	}
	if w.Header().Get("Vary") != "Cookie" {
		t.Errorf("Vary = %q, want Cookie", w.Header().Get("Vary"))
	}
}
