// Package adaptertest is the test suite that every middleware of
// sessionplus runs: the net/http one (Manager.Middleware), multisession
// (Echo v4) and multisessionv5 (Echo v5). The handlers are written once,
// against [Call]; each middleware's test implements [Adapter] to build its
// app from a [Config] and calls [Run].
package adaptertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie" // secure_cookie
	_ "github.com/sessionplus/sessionplus/drivers/memory" // memory
)

// Key is the secret key of the suite's sessions.
var Key = []byte("0123456789abcdef0123456789abcdef")

// SeedSessions are flask-session-plus's three sessions: the CSRF token in a
// secure cookie, the user server-side, everything else in a second secure
// cookie.
func SeedSessions() []sessionplus.Options {
	return []sessionplus.Options{
		{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
		{"cookie_name": "session", "session_type": "memory", "session_fields": []string{"user_id", "user_data"}},
		{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
	}
}

// withSession returns the seed's sessions with one key of one session changed.
func withSession(i int, key string, value any) []sessionplus.Options {
	s := SeedSessions()
	s[i][key] = value
	return s
}

// Config is what the suite asks of a middleware: each Adapter maps it onto
// its own Config, field by field.
type Config struct {
	Sessions   []sessionplus.Options
	SecretKeys [][]byte
	Logger     *slog.Logger
	Manager    *sessionplus.Manager

	// Skip, when set, is the Skipper: the middleware does not run for the
	// requests it reports.
	Skip func(*http.Request) bool
	// Bare mounts the handler without the middleware.
	Bare bool
	// ErrorPage, when set, is the error handler: the status and message of
	// the response to a session error. Nil is the middleware's default.
	ErrorPage func(err error) (code int, message string)
}

// Call is one request, as a handler of the suite sees it.
type Call struct {
	W       http.ResponseWriter // c.Response() under Echo
	R       *http.Request
	Session *sessionplus.Session                               // multisession.Get(c), sessionplus.FromRequest(r)
	Part    func(cookieName string) (*sessionplus.Part, error) // multisession.GetPart(c, name), Session.Part
	// Serve runs h the framework's way of mounting a net/http handler
	// (echo.WrapHandler).
	Serve func(h http.Handler) error
}

// Handler is a handler of the suite. A returned error is answered the
// framework's way: returned to Echo, written with sessionplus.ErrorStatus
// under net/http.
type Handler func(*Call) error

// Adapter is one middleware under test.
type Adapter interface {
	// App builds the middleware of cfg, as its ToMiddleware does (an error
	// is ToMiddleware's), in front of h on every path and method.
	App(cfg Config, h Handler) (http.Handler, error)
	// LateErrorBody is the body of the framework's answer to a session error
	// of status code that the middleware returns after the handler.
	LateErrorBody(code int) string
}

// Panicker is implemented by an Adapter whose MiddlewareWithConfig panics
// on a configuration error.
type Panicker interface {
	MustApp(cfg Config, h Handler) http.Handler
}

// Run runs the suite against a.
func Run(t *testing.T, a Adapter) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, Adapter)
	}{
		{"ToMiddleware", testToMiddleware},
		{"MiddlewareWithConfigPanicsOnError", testPanicsOnError},
		{"EndToEnd", testEndToEnd},
		{"FailedSaveIsNeverASuccess", testFailedSaveIsNeverASuccess},
		{"FailedSaveAfterHandler", testFailedSaveAfterHandler},
		{"LoadErrorReturnedByHandlerIs503", testLoadErrorIs503},
		{"SkipperAndMissingMiddleware", testSkipperAndMissingMiddleware},
		{"ChangeAfterHeadersIsAnError", testChangeAfterHeadersIsAnError},
		{"GetPart", testGetPart},
		{"ConfigManager", testConfigManager},
		{"FlushSendsTheCookies", testFlushSendsTheCookies},
		{"FlushFailedSave", testFlushFailedSave},
		{"SessionInRequestContext", testSessionInRequestContext},
		{"ErrorHandler", testErrorHandler},
		{"HijackSavesFirst", testHijackSavesFirst},
		{"SlowKeepAliveDoesNotFailCookieFields", testSlowKeepAlive},
		{"TokenHeader", testTokenHeader},
		{"VaryOnRead", testVaryOnRead},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, a) })
	}
}

// App is a's app for cfg, with the seed's sessions and Key where cfg has
// none, serving [Routes] with extra.
func App(t *testing.T, a Adapter, cfg Config, extra map[string]Handler) http.Handler {
	t.Helper()
	if cfg.SecretKeys == nil && cfg.Manager == nil {
		cfg.SecretKeys = [][]byte{Key}
	}
	if cfg.Sessions == nil && cfg.Manager == nil {
		cfg.Sessions = SeedSessions()
	}
	h, err := a.App(cfg, Routes(extra))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Routes is the handler of the end-to-end tests, plus extra, each under
// "METHOD /path". An unknown route is 404.
func Routes(extra map[string]Handler) Handler {
	routes := map[string]Handler{
		"POST /login": func(c *Call) error {
			s := c.Session
			if err := errors.Join(s.Set("csrf_token", "tok"), s.Set("user_id", 42),
				s.Set("user_data", map[string]string{"name": "ada"}), s.Regenerate()); err != nil {
				return err
			}
			return text(c.W, http.StatusOK, "logged in")
		},
		"GET /me": func(c *Call) error {
			uid, ok, err := sessionplus.GetAs[int](c.Session, "user_id")
			if err != nil {
				return err
			}
			if !ok {
				return text(c.W, http.StatusUnauthorized, "anonymous")
			}
			return jsonBody(c.W, map[string]int{"user_id": uid})
		},
		"POST /visit": func(c *Call) error {
			n, _, err := sessionplus.GetAs[int](c.Session, "visits")
			if err == nil {
				err = c.Session.Set("visits", n+1)
			}
			if err != nil {
				return err
			}
			return jsonBody(c.W, map[string]int{"visits": n + 1})
		},
		// Write nothing: saved after the handler.
		"POST /silent":       func(c *Call) error { return c.Session.Set("theme", "dark") },
		"POST /silent-login": func(c *Call) error { return c.Session.Set("user_id", 7) },
		"POST /logout": func(c *Call) error {
			if err := c.Session.Destroy(); err != nil {
				return err
			}
			c.W.WriteHeader(http.StatusNoContent)
			return nil
		},
		"POST /redirect": func(c *Call) error {
			if err := c.Session.Set("user_id", 1); err != nil {
				return err
			}
			http.Redirect(c.W, c.R, "/done", http.StatusSeeOther)
			return nil
		},
	}
	for k, h := range extra {
		routes[k] = h
	}
	return func(c *Call) error {
		h, ok := routes[c.R.Method+" "+c.R.URL.Path]
		if !ok {
			http.NotFound(c.W, c.R)
			return nil
		}
		return h(c)
	}
}

func text(w http.ResponseWriter, code int, body string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, err := io.WriteString(w, body)
	return err
}

func jsonBody(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// Client is an HTTP client with a cookie jar, of a test server; it does not
// follow redirects.
type Client struct {
	T      *testing.T
	Server *httptest.Server
	Client *http.Client
	Jar    *cookiejar.Jar
	URL    *url.URL
}

// NewClient starts a test server of h, closed when the test ends.
func NewClient(t *testing.T, h http.Handler) *Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := srv.Client()
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u, _ := url.Parse(srv.URL)
	return &Client{T: t, Server: srv, Client: client, Jar: jar, URL: u}
}

// Do sends a request and reads the whole response.
func (b *Client) Do(method, path string) (*http.Response, string) {
	b.T.Helper()
	req, _ := http.NewRequest(method, b.Server.URL+path, nil)
	res, err := b.Client.Do(req)
	if err != nil {
		b.T.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// Cookies returns the jar's cookies of the server by name.
func (b *Client) Cookies() map[string]string {
	m := map[string]string{}
	for _, c := range b.Jar.Cookies(b.URL) {
		m[c.Name] = c.Value
	}
	return m
}

// serve sends one request to h through a recorder.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func cookieNames(cs []*http.Cookie) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

// visits is the body of the n-th visit.
func visits(n int) string { return fmt.Sprintf(`"visits":%d`, n) }
