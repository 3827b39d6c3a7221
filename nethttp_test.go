package sessionplus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
	"github.com/sessionplus/sessionplus/internal/adaptertest"
)

// TestHTTPAdapter runs the suite that every middleware runs, under the
// standard http.ServeMux and under chi.
func TestHTTPAdapter(t *testing.T) {
	t.Run("ServeMux", func(t *testing.T) { adaptertest.Run(t, httpAdapter{}) })
	t.Run("chi", func(t *testing.T) { adaptertest.Run(t, httpAdapter{chi: true}) })
}

// httpAdapter is Manager.MiddlewareWithErrorHandler, for package
// adaptertest: a Manager built from the Config, in front of a router.
type httpAdapter struct{ chi bool }

func (a httpAdapter) App(cfg adaptertest.Config, h adaptertest.Handler) (http.Handler, error) {
	m := cfg.Manager
	if m != nil && cfg.Sessions != nil {
		// A net/http app has no Config that holds both (it builds its
		// Manager itself): answer the suite's case as the Echo adapters do.
		return nil, sessionplus.ConfigErrorf("sessionplus: Config.Manager is set, so Sessions must be empty")
	}
	if m == nil {
		var err error
		if m, err = sessionplus.New(context.Background(), sessionplus.Config{
			Sessions: cfg.Sessions, SecretKeys: cfg.SecretKeys, Logger: cfg.Logger,
		}); err != nil {
			return nil, err
		}
	}
	var errorHandler func(http.ResponseWriter, *http.Request, error)
	if cfg.ErrorPage != nil {
		errorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			code, msg := cfg.ErrorPage(err)
			http.Error(w, msg, code)
		}
	}
	return a.router(m.MiddlewareWithErrorHandler(errorHandler), cfg, h), nil
}

// router serves h on every path, behind mw unless cfg is bare or skips the
// request (net/http has no Skipper: the router goes round the middleware).
func (a httpAdapter) router(mw func(http.Handler) http.Handler, cfg adaptertest.Config, h adaptertest.Handler) http.Handler {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessionplus.FromRequest(r)
		serve := func(h http.Handler) error { h.ServeHTTP(w, r); return nil }
		if err := h(&adaptertest.Call{W: w, R: r, Session: s, Part: s.Part, Serve: serve}); err != nil {
			sessionError(w, err)
		}
	})
	withSessions := mw(handler)
	route := func(w http.ResponseWriter, r *http.Request) {
		if cfg.Bare || cfg.Skip != nil && cfg.Skip(r) {
			handler.ServeHTTP(w, r)
			return
		}
		withSessions.ServeHTTP(w, r)
	}
	if a.chi {
		r := chi.NewRouter()
		r.HandleFunc("/*", route)
		return r
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", route)
	return mux
}

// LateErrorBody is what a handler writes with sessionError, and the default
// error handler.
func (httpAdapter) LateErrorBody(code int) string { return http.StatusText(code) + "\n" }

// sessionError answers a request whose session failed, as a handler should.
func sessionError(w http.ResponseWriter, err error) {
	code := sessionplus.ErrorStatus(err)
	http.Error(w, http.StatusText(code), code)
}

// seedHTTPSessions are flask-session-plus's three sessions.
func seedHTTPSessions() []sessionplus.Options { return adaptertest.SeedSessions() }

var httpTestKey = adaptertest.Key

func newHTTPManager(t *testing.T, sessions []sessionplus.Options, logger *slog.Logger) *sessionplus.Manager {
	t.Helper()
	if sessions == nil {
		sessions = seedHTTPSessions()
	}
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		SecretKeys: [][]byte{httpTestKey}, Sessions: sessions, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// serveMuxApp is the suite's routes (adaptertest.Routes) on an
// http.ServeMux behind m's middleware.
func serveMuxApp(m *sessionplus.Manager) http.Handler {
	return httpAdapter{}.router(m.Middleware, adaptertest.Config{}, adaptertest.Routes(nil))
}

// jarClient is an HTTP client with a cookie jar.
type jarClient struct {
	*adaptertest.Client
	jar *cookiejar.Jar
	u   *url.URL
}

func newJarClient(t *testing.T, h http.Handler) *jarClient {
	c := adaptertest.NewClient(t, h)
	return &jarClient{Client: c, jar: c.Jar, u: c.URL}
}

func (b *jarClient) do(method, path string) (*http.Response, string) {
	b.T.Helper()
	return b.Do(method, path)
}

// failingSessions are the seed's sessions with the server-side one on store.
func failingSessions(store sessionplus.Store) []sessionplus.Options {
	s := seedHTTPSessions()
	s[1] = sessionplus.Options{"cookie_name": "session", "store": store, "session_fields": []string{"user_id", "user_data"}}
	return s
}

func TestHTTPErrorHandler(t *testing.T) {
	m := newHTTPManager(t, failingSessions(&adaptertest.Failing{Store: memory.New(), Fail: errors.New("backend down")}),
		slog.New(slog.DiscardHandler))
	login := func(w http.ResponseWriter, r *http.Request) {
		if err := sessionplus.FromRequest(r).Set("user_id", 1); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		fmt.Fprint(w, `{"ok":true}`)
	}
	for _, tc := range []struct {
		name         string
		errorHandler func(http.ResponseWriter, *http.Request, error)
		expectCode   int
		expectBody   string
	}{
		{
			name: "ok, custom page",
			errorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if !strings.Contains(err.Error(), "backend down") {
					t.Errorf("error handler got %v", err)
				}
				w.Header().Set("Retry-After", "5")
				w.WriteHeader(sessionplus.ErrorStatus(err))
				fmt.Fprint(w, "please retry")
			},
			expectCode: http.StatusServiceUnavailable,
			expectBody: "please retry",
		},
		{
			name:         "ok, a handler that writes nothing gets the default",
			errorHandler: func(http.ResponseWriter, *http.Request, error) {},
			expectCode:   http.StatusServiceUnavailable,
			expectBody:   "Service Unavailable\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			m.MiddlewareWithErrorHandler(tc.errorHandler)(http.HandlerFunc(login)).
				ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
			if rec.Code != tc.expectCode || rec.Body.String() != tc.expectBody {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.expectCode, tc.expectBody)
			}
			if rec.Header().Get("ETag") != "" || rec.Header().Get("Content-Type") == "application/json" {
				t.Errorf("the error response kept the handler's headers: %v", rec.Header())
			}
		})
	}
}

func TestHTTPEarlyHintsDoNotCommit(t *testing.T) {
	m := newHTTPManager(t, nil, nil)
	var err error
	b := newJarClient(t, m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		err = sessionplus.FromRequest(r).Set("theme", "dark")
		fmt.Fprint(w, "ok")
	})))
	res, _ := b.do("GET", "/")
	if err != nil || len(res.Cookies()) != 1 {
		t.Errorf("Set after 103 Early Hints: %v, cookies %v", err, res.Cookies())
	}
}

func TestHTTPNoMiddleware(t *testing.T) {
	s := sessionplus.FromRequest(httptest.NewRequest(http.MethodGet, "/", nil))
	if err := s.Set("x", 1); !errors.Is(err, sessionplus.ErrNoSession) {
		t.Errorf("Set without the middleware: %v, want ErrNoSession", err)
	}
	if _, _, err := s.Get("x"); !errors.Is(err, sessionplus.ErrNoSession) {
		t.Errorf("Get without the middleware: %v, want ErrNoSession", err)
	}
}

func TestHTTPMiddlewareInstalledTwice(t *testing.T) {
	m := newHTTPManager(t, nil, nil)
	h := m.Middleware(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sessionplus.FromRequest(r).Set("theme", "dark"); err != nil {
			t.Error(err)
		}
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if n := len(rec.Result().Cookies()); n != 1 {
		t.Errorf("%d cookies, want 1", n)
	}
}

func TestErrorStatus(t *testing.T) {
	down := &sessionplus.StoreError{Session: "s", Type: "redis", Op: "save", Err: errors.New("down")}
	for _, tc := range []struct {
		name  string
		given error
		want  int
	}{
		{"backend down", down, http.StatusServiceUnavailable},
		{"joined", errors.Join(errors.New("x"), down), http.StatusServiceUnavailable},
		{"change after a failed read", fmt.Errorf("%w: %w", sessionplus.ErrLoadFailed, down), http.StatusServiceUnavailable},
		{"cookie too large", &sessionplus.StoreError{Session: "s", Op: "save", Err: sessionplus.ErrCookieTooLarge}, http.StatusInternalServerError},
		{"record too large", &sessionplus.StoreError{Session: "s", Op: "save", Err: sessionplus.ErrRecordTooLarge}, http.StatusInternalServerError},
		{"unowned field", sessionplus.ErrUnownedField, http.StatusInternalServerError},
		{"closed", sessionplus.ErrClosed, http.StatusInternalServerError},
	} {
		if got := sessionplus.ErrorStatus(tc.given); got != tc.want {
			t.Errorf("%s: ErrorStatus = %d, want %d", tc.name, got, tc.want)
		}
	}
}
