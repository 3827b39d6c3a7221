package multisession

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func seedSessions() []sessionplus.Options {
	return []sessionplus.Options{
		{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
		{"cookie_name": "session", "session_type": "memory", "session_fields": []string{"user_id", "user_data"}},
		{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
	}
}

// withSession returns the seed's sessions with one key of one session changed.
func withSession(i int, key string, value any) []sessionplus.Options {
	s := seedSessions()
	s[i][key] = value
	return s
}

func TestToMiddleware(t *testing.T) {
	var tests = []struct {
		name                    string
		givenConfig             Config
		expectToMiddlewareError []string // substrings of the error
	}{
		{
			name:        "ok, seed configuration",
			givenConfig: Config{SecretKeys: [][]byte{testKey}, Sessions: seedSessions()},
		},
		{
			name: "ok, durations as Duration, string and seconds",
			givenConfig: Config{SecretKeys: [][]byte{testKey}, Sessions: []sessionplus.Options{
				{"cookie_name": "a", "session_lifetime": time.Hour, "session_permanent_lifetime": "48h", "cookie_max_age": 3600},
				{"cookie_name": "b", "session_type": "memory", "session_lifetime": float64(60), "key_prefix": "app", "use_signer": true},
			}},
		},
		{
			name:                    "nok, no sessions",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}},
			expectToMiddlewareError: []string{"no sessions configured"},
		},
		{
			name:                    "nok, unknown session_type",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(1, "session_type", "reddis")},
			expectToMiddlewareError: []string{`session "session": key "session_type": unknown session_type "reddis"`, "forgotten import of github.com/sessionplus/sessionplus/drivers/reddis", "registered: ", "memory", "secure_cookie"},
		},
		{
			name:                    "nok, unknown key",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(2, "cookie_nmae", "x")},
			expectToMiddlewareError: []string{`session "data" (secure_cookie)`, `unknown key "cookie_nmae"`},
		},
		{
			name:                    "nok, unknown key of a memory session",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(1, "collection", "x")},
			expectToMiddlewareError: []string{`session "session" (memory)`, `unknown key "collection"`},
		},
		{
			name:                    "nok, wrong type",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "cookie_httponly", "yes")},
			expectToMiddlewareError: []string{`session "csrf"`, `key "cookie_httponly": expected bool, got string "yes"`},
		},
		{
			name:                    "nok, bad duration",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(1, "session_lifetime", "1 day")},
			expectToMiddlewareError: []string{`session "session"`, `key "session_lifetime"`, `"1 day"`},
		},
		{
			name:                    "nok, fractional seconds",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(1, "session_lifetime", 1.5)},
			expectToMiddlewareError: []string{`key "session_lifetime"`, "whole seconds"},
		},
		{
			name: "nok, missing cookie_name",
			givenConfig: Config{SecretKeys: [][]byte{testKey}, Sessions: []sessionplus.Options{
				{"cookie_name": "a"}, {"session_type": "memory"},
			}},
			expectToMiddlewareError: []string{"session #2", `key "cookie_name": required`},
		},
		{
			name:                    "nok, invalid cookie name",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "cookie_name", "my session")},
			expectToMiddlewareError: []string{`key "cookie_name"`, "not a valid cookie name"},
		},
		{
			name:                    "nok, duplicate cookie_name",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(2, "cookie_name", "csrf")},
			expectToMiddlewareError: []string{`session "csrf"`, `key "cookie_name": duplicate cookie name`},
		},
		{
			name:                    "nok, two auto sessions",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(1, "session_fields", "auto")},
			expectToMiddlewareError: []string{`session "data"`, `key "session_fields"`, `"auto" is already used by session "session"`},
		},
		{
			name:                    "nok, bad session_fields",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "session_fields", map[string]any{"include": []any{"a"}, "exclude": []any{"b"}})},
			expectToMiddlewareError: []string{`session "csrf"`, `key "session_fields"`, "exactly one"},
		},
		{
			name:                    "nok, secret too short",
			givenConfig:             Config{SecretKeys: [][]byte{[]byte("short")}, Sessions: seedSessions()},
			expectToMiddlewareError: []string{"SecretKeys[0] is 5 bytes", "at least 32"},
		},
		{
			name:                    "nok, session secret too short",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "secret_keys", []string{"tiny"})},
			expectToMiddlewareError: []string{`session "csrf"`, `key "secret_keys"`, "at least 32"},
		},
		{
			name:                    "nok, secure_cookie without keys",
			givenConfig:             Config{Sessions: seedSessions()},
			expectToMiddlewareError: []string{`session "csrf" (secure_cookie)`, `key "secret_keys": required`},
		},
		{
			name:                    "nok, use_signer without keys",
			givenConfig:             Config{Sessions: []sessionplus.Options{{"cookie_name": "s", "session_type": "memory", "use_signer": true}}},
			expectToMiddlewareError: []string{`session "s" (memory)`, `key "use_signer": requires secret keys`},
		},
		{
			name:                    "nok, SameSite None without Secure",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "cookie_samesite", "None")},
			expectToMiddlewareError: []string{`session "csrf"`, `key "cookie_samesite"`, "requires cookie_secure"},
		},
		{
			name:                    "nok, unknown SameSite",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "cookie_samesite", "sometimes")},
			expectToMiddlewareError: []string{`key "cookie_samesite"`, `"sometimes"`},
		},
		{
			name:                    "nok, __Host- prefix without Secure",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "cookie_name", "__Host-csrf")},
			expectToMiddlewareError: []string{`session "__Host-csrf"`, `key "cookie_name"`, "__Host- prefix requires cookie_secure"},
		},
		{
			name: "nok, __Host- prefix with a domain",
			givenConfig: Config{SecretKeys: [][]byte{testKey}, Sessions: []sessionplus.Options{
				{"cookie_name": "__Host-s", "cookie_secure": true, "cookie_domain": "example.com"},
			}},
			expectToMiddlewareError: []string{`key "cookie_name"`, "no cookie_domain"},
		},
		{
			name:                    "nok, __Secure- prefix without Secure",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "cookie_name", "__Secure-csrf")},
			expectToMiddlewareError: []string{`key "cookie_secure"`, "__Secure- prefix"},
		},
		{
			name:                    "nok, key_prefix on a secure_cookie session",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(0, "key_prefix", "x")},
			expectToMiddlewareError: []string{`session "csrf" (secure_cookie)`, `key "key_prefix": applies only to server-side sessions`},
		},
		{
			name:                    "nok, key_prefix with a space",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(1, "key_prefix", "my app")},
			expectToMiddlewareError: []string{`session "session"`, `key "key_prefix"`},
		},
		{
			name:                    "nok, cookie_path without slash",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(1, "cookie_path", "app")},
			expectToMiddlewareError: []string{`key "cookie_path"`},
		},
		{
			name:                    "nok, Manager and Sessions",
			givenConfig:             Config{Manager: &sessionplus.Manager{}, Sessions: seedSessions()},
			expectToMiddlewareError: []string{"Config.Manager is set"},
		},
		{
			name:                    "nok, store of the wrong type",
			givenConfig:             Config{SecretKeys: [][]byte{testKey}, Sessions: withSession(1, "store", "redis://x")},
			expectToMiddlewareError: []string{`key "store": expected a sessionplus.Store, got string`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := deepCopy(tc.givenConfig.Sessions)
			mw, err := tc.givenConfig.ToMiddleware()
			if !reflect.DeepEqual(before, tc.givenConfig.Sessions) {
				t.Errorf("ToMiddleware modified the caller's maps:\n%v\n%v", before, tc.givenConfig.Sessions)
			}
			if len(tc.expectToMiddlewareError) == 0 {
				if err != nil || mw == nil {
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
			if strings.Count(err.Error(), "sessionplus:") != 1 {
				t.Errorf("error %q repeats its prefix", err)
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

func TestMiddlewareWithConfigPanicsOnError(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "no sessions configured") {
			t.Errorf("panic = %v", r)
		}
	}()
	MiddlewareWithConfig(Config{})
}

// app is an Echo app with the seed's sessions and handlers that exercise them.
func app(t *testing.T, cfg Config) *echo.Echo {
	t.Helper()
	if cfg.SecretKeys == nil {
		cfg.SecretKeys = [][]byte{testKey}
	}
	if cfg.Sessions == nil {
		cfg.Sessions = seedSessions()
	}
	mw, err := cfg.ToMiddleware()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(mw)
	e.POST("/login", func(c echo.Context) error {
		s := Get(c)
		if err := errors.Join(s.Set("csrf_token", "tok"), s.Set("user_id", 42), s.Set("user_data", map[string]string{"name": "ada"}), s.Regenerate()); err != nil {
			return err
		}
		return c.String(http.StatusOK, "logged in")
	})
	e.GET("/me", func(c echo.Context) error {
		uid, ok, err := sessionplus.GetAs[int](Get(c), "user_id")
		if err != nil {
			return err
		}
		if !ok {
			return c.String(http.StatusUnauthorized, "anonymous")
		}
		return c.JSON(http.StatusOK, map[string]int{"user_id": uid})
	})
	e.POST("/visit", func(c echo.Context) error {
		s := Get(c)
		n, _, err := sessionplus.GetAs[int](s, "visits")
		if err != nil {
			return err
		}
		if err := s.Set("visits", n+1); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]int{"visits": n + 1})
	})
	e.POST("/silent", func(c echo.Context) error { // writes nothing: saved after the handler
		return Get(c).Set("theme", "dark")
	})
	e.POST("/logout", func(c echo.Context) error {
		if err := Get(c).Destroy(); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	e.POST("/redirect", func(c echo.Context) error {
		if err := Get(c).Set("user_id", 1); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/done")
	})
	return e
}

func TestEndToEnd(t *testing.T) {
	srv := httptest.NewServer(app(t, Config{}))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := srv.Client()
	client.Jar = jar
	u, _ := url.Parse(srv.URL)
	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	cookies := func() map[string]string {
		m := map[string]string{}
		for _, c := range jar.Cookies(u) {
			m[c.Name] = c.Value
		}
		return m
	}

	if res, body := do("GET", "/me"); res.StatusCode != http.StatusUnauthorized || len(res.Header["Set-Cookie"]) != 0 {
		t.Fatalf("anonymous /me: %d %q, Set-Cookie %v", res.StatusCode, body, res.Header["Set-Cookie"])
	}
	res, _ := do("POST", "/login")
	if res.StatusCode != http.StatusOK || res.Header.Get("Vary") != "Cookie" || !strings.Contains(res.Header.Get("Cache-Control"), "no-cache") {
		t.Fatalf("login: %d, Vary %q, Cache-Control %q", res.StatusCode, res.Header.Get("Vary"), res.Header.Get("Cache-Control"))
	}
	c := cookies()
	if len(c) != 2 || c["csrf"] == "" || c["session"] == "" {
		t.Fatalf("after login the browser holds %v, want csrf and session", c)
	}
	if strings.Contains(c["session"], "ada") || len(c["session"]) > 60 {
		t.Errorf("session cookie %q is not an opaque id", c["session"])
	}
	if _, body := do("GET", "/me"); !strings.Contains(body, `"user_id":42`) {
		t.Errorf("/me after login = %q", body)
	}
	for want := 1; want <= 3; want++ {
		if _, body := do("POST", "/visit"); !strings.Contains(body, `"visits":`+string(rune('0'+want))) {
			t.Errorf("visit %d: %q", want, body)
		}
	}
	if cookies()["data"] == "" {
		t.Error("the auto field did not land in the data cookie")
	}
	if res, _ := do("POST", "/silent"); res.StatusCode != http.StatusOK || len(res.Header["Set-Cookie"]) != 1 {
		t.Errorf("a handler that writes nothing: %d, Set-Cookie %v (want the data cookie)", res.StatusCode, res.Header["Set-Cookie"])
	}

	// Tampering starts fresh: no 500.
	jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "garbage"}, {Name: "data", Value: c["csrf"]}})
	if res, body := do("GET", "/me"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered cookies: %d %q, want a fresh anonymous session", res.StatusCode, body)
	}

	do("POST", "/login")
	old := cookies()["session"]
	do("POST", "/login") // regenerates again
	if cookies()["session"] == old {
		t.Error("login did not regenerate the session id")
	}
	if res, _ := do("POST", "/logout"); res.StatusCode != http.StatusNoContent {
		t.Errorf("logout: %d", res.StatusCode)
	}
	if c := cookies(); len(c) != 0 {
		t.Errorf("after logout the browser still holds %v", c)
	}
}

// failing wraps a memory store whose writes fail.
type failing struct {
	*memory.Store
	mu   sync.Mutex
	fail error
}

func (f *failing) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	f.mu.Lock()
	err := f.fail
	f.mu.Unlock()
	if err != nil {
		return "", err
	}
	return f.Store.Save(ctx, token, u)
}

func TestFailedSaveIsNeverASuccess(t *testing.T) {
	store := &failing{Store: memory.New(), fail: errors.New("backend down")}
	sessions := seedSessions()
	sessions[1] = sessionplus.Options{"cookie_name": "session", "store": store, "session_fields": []string{"user_id", "user_data"}}
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	e := app(t, Config{Sessions: sessions, Logger: logger})

	for _, tc := range []struct {
		name, path string
	}{
		{"ok, response written by the handler", "/login"},
		{"ok, a redirect", "/redirect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tc.path, nil))
			if rec.Code != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503", rec.Code)
			}
			if rec.Header().Get("Location") != "" {
				t.Errorf("the failed response still redirects to %q", rec.Header().Get("Location"))
			}
			if strings.Contains(rec.Body.String(), "logged in") {
				t.Errorf("body %q reports a success that was not saved", rec.Body.String())
			}
			for _, c := range rec.Result().Cookies() {
				if c.Name == "session" {
					t.Errorf("a session cookie was sent for unsaved data: %v", c)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "backend down") || !strings.Contains(logs.String(), `session \"session\"`) {
		t.Errorf("the failure was not logged with the session's name: %s", logs.String())
	}
}

func TestFailedSaveAfterHandler(t *testing.T) {
	store := &failing{Store: memory.New(), fail: errors.New("backend down")}
	mw, err := Config{SecretKeys: [][]byte{testKey}, Logger: slog.New(slog.DiscardHandler), Sessions: []sessionplus.Options{
		{"cookie_name": "session", "store": store},
	}}.ToMiddleware()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(mw)
	e.POST("/", func(c echo.Context) error { return Get(c).Set("x", 1) })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || len(rec.Result().Cookies()) != 0 {
		t.Errorf("status %d, cookies %v; want 503 and none", rec.Code, rec.Result().Cookies())
	}
}

// brokenLoad is a store whose reads fail.
type brokenLoad struct{ *memory.Store }

func (brokenLoad) Load(context.Context, string) (sessionplus.Record, error) {
	return sessionplus.Record{}, errors.New("timeout")
}

func TestLoadErrorReturnedByHandlerIs503(t *testing.T) {
	mw, err := Config{SecretKeys: [][]byte{testKey}, Logger: slog.New(slog.DiscardHandler), Sessions: []sessionplus.Options{
		{"cookie_name": "session", "store": brokenLoad{memory.New()}, "session_fields": []string{"user_id"}},
		{"cookie_name": "data", "session_fields": "auto"},
	}}.ToMiddleware()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/", func(c echo.Context) error {
		if _, _, err := Get(c).Get("user_id"); err != nil {
			return err
		}
		return c.String(http.StatusOK, "ok")
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.s0.0"})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a failed read returned by the handler gave %d, want 503", rec.Code)
	}
}

func TestSkipperAndMissingMiddleware(t *testing.T) {
	mw, err := Config{
		SecretKeys: [][]byte{testKey},
		Sessions:   seedSessions(),
		Skipper:    func(c echo.Context) bool { return c.Path() == "/health" },
	}.ToMiddleware()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	var got error
	h := func(c echo.Context) error {
		got = Get(c).Set("theme", "x")
		return c.NoContent(http.StatusOK)
	}
	e.GET("/health", h, mw)
	e.GET("/plain", h)
	for _, path := range []string{"/health", "/plain"} {
		got = nil
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if !errors.Is(got, sessionplus.ErrNoSession) {
			t.Errorf("%s: Set without a session: err = %v, want ErrNoSession", path, got)
		}
		if len(rec.Header()["Set-Cookie"]) != 0 {
			t.Errorf("%s set cookies", path)
		}
	}
}

func TestChangeAfterResponseIsAnError(t *testing.T) {
	e := app(t, Config{})
	var got error
	e.GET("/late", func(c echo.Context) error {
		if err := c.String(http.StatusOK, "done"); err != nil {
			return err
		}
		got = Get(c).Set("theme", "late")
		return nil
	})
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/late", nil))
	if !errors.Is(got, sessionplus.ErrClosed) {
		t.Errorf("Set after the response was written: err = %v, want ErrClosed", got)
	}
}

func TestGetPart(t *testing.T) {
	e := app(t, Config{})
	e.GET("/part", func(c echo.Context) error {
		p, err := GetPart(c, "session")
		if err != nil {
			return err
		}
		if p.Type() != "memory" || p.ClientSide() || !p.Owns("user_id") || p.Owns("theme") {
			t.Errorf("Part(session): type %q, client-side %v", p.Type(), p.ClientSide())
		}
		if _, err := GetPart(c, "nope"); err == nil || !strings.Contains(err.Error(), "csrf, session, data") {
			t.Errorf("GetPart(nope) error = %v", err)
		}
		return c.NoContent(http.StatusOK)
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/part", nil))
	if rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
}

func TestConfigManager(t *testing.T) {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{"cookie_name": "s", "session_type": "memory"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := echo.New()
	e.Use(MiddlewareWithConfig(Config{Manager: m}))
	e.GET("/", func(c echo.Context) error {
		if err := Get(c).Set("x", 1); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if len(rec.Result().Cookies()) != 1 {
		t.Errorf("middleware over a Manager set cookies %v", rec.Result().Cookies())
	}
}

func TestFlushSendsTheCookies(t *testing.T) {
	e := app(t, Config{})
	late := make(chan error, 1)
	e.GET("/stream", func(c echo.Context) error {
		if err := Get(c).Set("theme", "dark"); err != nil {
			return err
		}
		c.Response().Header().Set("Content-Type", "text/event-stream")
		c.Response().Flush() // headers go out here
		_, err := c.Response().Write([]byte("data: hi\n\n"))
		late <- Get(c).Set("theme", "light")
		return err
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var names []string
	for _, c := range res.Cookies() {
		names = append(names, c.Name)
	}
	if len(names) != 1 || names[0] != "data" {
		t.Errorf("a response flushed before writing set cookies %v, want the data cookie", names)
	}
	if err := <-late; !errors.Is(err, sessionplus.ErrClosed) {
		t.Errorf("Set after the flush: err = %v, want ErrClosed", err)
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

func TestSlowKeepAliveDoesNotFailCookieFields(t *testing.T) {
	mw, err := Config{SecretKeys: [][]byte{testKey}, Logger: slog.New(slog.DiscardHandler), Sessions: []sessionplus.Options{
		// A lifetime of 1 s makes the keep-alive due on the next second.
		{"cookie_name": "session", "store": hanging{memory.New()}, "session_fields": []string{"user_id"}, "session_lifetime": 1},
		{"cookie_name": "data", "session_fields": "auto"},
	}}.ToMiddleware()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(mw)
	e.POST("/", func(c echo.Context) error {
		if err := errors.Join(Get(c).Set("user_id", 1), Get(c).Set("theme", "x")); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	})
	e.POST("/theme", func(c echo.Context) error {
		if err := Get(c).Set("theme", "y"); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
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
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
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
