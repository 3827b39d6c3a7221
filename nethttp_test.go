package sessionplus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

var httpTestKey = []byte("0123456789abcdef0123456789abcdef")

// seedHTTPSessions are flask-session-plus's three sessions: the CSRF token
// in a secure cookie, the user server-side, everything else in a second
// secure cookie.
func seedHTTPSessions() []sessionplus.Options {
	return []sessionplus.Options{
		{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
		{"cookie_name": "session", "session_type": "memory", "session_fields": []string{"user_id", "user_data"}},
		{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
	}
}

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

// sessionError answers a request whose session failed, as a handler should.
func sessionError(w http.ResponseWriter, err error) {
	code := sessionplus.ErrorStatus(err)
	http.Error(w, http.StatusText(code), code)
}

// handlers registers the handlers of the end-to-end tests with route, which
// takes a method, a path and a handler (ServeMux and chi alike).
func handlers(route func(method, path string, h http.HandlerFunc)) {
	route(http.MethodPost, "/login", func(w http.ResponseWriter, r *http.Request) {
		s := sessionplus.FromRequest(r)
		if err := errors.Join(s.Set("csrf_token", "tok"), s.Set("user_id", 42),
			s.Set("user_data", map[string]string{"name": "ada"}), s.Regenerate()); err != nil {
			sessionError(w, err)
			return
		}
		fmt.Fprint(w, "logged in")
	})
	route(http.MethodGet, "/me", func(w http.ResponseWriter, r *http.Request) {
		uid, ok, err := sessionplus.GetAs[int](sessionplus.FromRequest(r), "user_id")
		if err != nil {
			sessionError(w, err)
			return
		}
		if !ok {
			http.Error(w, "anonymous", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int{"user_id": uid})
	})
	route(http.MethodPost, "/visit", func(w http.ResponseWriter, r *http.Request) {
		s := sessionplus.FromRequest(r)
		n, _, err := sessionplus.GetAs[int](s, "visits")
		if err == nil {
			err = s.Set("visits", n+1)
		}
		if err != nil {
			sessionError(w, err)
			return
		}
		json.NewEncoder(w).Encode(map[string]int{"visits": n + 1})
	})
	route(http.MethodPost, "/silent", func(w http.ResponseWriter, r *http.Request) {
		// Writes nothing: saved after the handler.
		if err := sessionplus.FromRequest(r).Set("theme", "dark"); err != nil {
			sessionError(w, err)
		}
	})
	route(http.MethodPost, "/silent-login", func(w http.ResponseWriter, r *http.Request) {
		if err := sessionplus.FromRequest(r).Set("user_id", 7); err != nil {
			sessionError(w, err)
		}
	})
	route(http.MethodPost, "/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessionplus.FromRequest(r).Destroy(); err != nil {
			sessionError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	route(http.MethodPost, "/redirect", func(w http.ResponseWriter, r *http.Request) {
		if err := sessionplus.FromRequest(r).Set("user_id", 1); err != nil {
			sessionError(w, err)
			return
		}
		http.Redirect(w, r, "/done", http.StatusSeeOther)
	})
}

func serveMuxApp(m *sessionplus.Manager) http.Handler {
	mux := http.NewServeMux()
	handlers(func(method, path string, h http.HandlerFunc) { mux.HandleFunc(method+" "+path, h) })
	return m.Middleware(mux)
}

func chiApp(m *sessionplus.Manager) http.Handler {
	r := chi.NewRouter()
	r.Use(m.Middleware)
	handlers(func(method, path string, h http.HandlerFunc) { r.MethodFunc(method, path, h) })
	return r
}

// jarClient is an HTTP client with a cookie jar.
type jarClient struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
	jar    *cookiejar.Jar
	u      *url.URL
}

func newJarClient(t *testing.T, h http.Handler) *jarClient {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := srv.Client()
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u, _ := url.Parse(srv.URL)
	return &jarClient{t: t, srv: srv, client: client, jar: jar, u: u}
}

func (b *jarClient) do(method, path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.srv.URL+path, nil)
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func (b *jarClient) cookies() map[string]string {
	m := map[string]string{}
	for _, c := range b.jar.Cookies(b.u) {
		m[c.Name] = c.Value
	}
	return m
}

func TestHTTPEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  func(*sessionplus.Manager) http.Handler
	}{
		{"ok, http.ServeMux", serveMuxApp},
		{"ok, chi", chiApp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newJarClient(t, tc.app(newHTTPManager(t, nil, nil)))

			if res, body := b.do("GET", "/me"); res.StatusCode != http.StatusUnauthorized || len(res.Header["Set-Cookie"]) != 0 {
				t.Fatalf("anonymous /me: %d %q, Set-Cookie %v", res.StatusCode, body, res.Header["Set-Cookie"])
			}
			res, body := b.do("POST", "/login")
			if res.StatusCode != http.StatusOK || body != "logged in" || res.Header.Get("Vary") != "Cookie" ||
				!strings.Contains(res.Header.Get("Cache-Control"), "no-cache") {
				t.Fatalf("login: %d %q, Vary %q, Cache-Control %q", res.StatusCode, body, res.Header.Get("Vary"), res.Header.Get("Cache-Control"))
			}
			c := b.cookies()
			if len(c) != 2 || c["csrf"] == "" || c["session"] == "" {
				t.Fatalf("after login the jarClient holds %v, want csrf and session", c)
			}
			if strings.Contains(c["session"], "ada") || len(c["session"]) > 60 {
				t.Errorf("session cookie %q is not an opaque id", c["session"])
			}
			if _, body := b.do("GET", "/me"); !strings.Contains(body, `"user_id":42`) {
				t.Errorf("/me after login = %q", body)
			}
			for want := 1; want <= 3; want++ {
				if _, body := b.do("POST", "/visit"); !strings.Contains(body, fmt.Sprintf(`"visits":%d`, want)) {
					t.Errorf("visit %d: %q", want, body)
				}
			}
			if b.cookies()["data"] == "" {
				t.Error("the auto field did not land in the data cookie")
			}
			if res, _ := b.do("POST", "/silent"); res.StatusCode != http.StatusOK || len(res.Header["Set-Cookie"]) != 1 {
				t.Errorf("a handler that writes nothing: %d, Set-Cookie %v (want the data cookie)", res.StatusCode, res.Header["Set-Cookie"])
			}
			if res, _ := b.do("POST", "/redirect"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/done" {
				t.Errorf("redirect: %d to %q", res.StatusCode, res.Header.Get("Location"))
			}

			// Tampering starts fresh: no 500.
			b.jar.SetCookies(b.u, []*http.Cookie{{Name: "session", Value: "garbage"}, {Name: "data", Value: c["csrf"]}})
			if res, body := b.do("GET", "/me"); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("tampered cookies: %d %q, want a fresh anonymous session", res.StatusCode, body)
			}

			b.do("POST", "/login")
			old := b.cookies()["session"]
			b.do("POST", "/login") // regenerates again
			if b.cookies()["session"] == old {
				t.Error("login did not regenerate the session id")
			}
			if res, _ := b.do("POST", "/logout"); res.StatusCode != http.StatusNoContent {
				t.Errorf("logout: %d", res.StatusCode)
			}
			if c := b.cookies(); len(c) != 0 {
				t.Errorf("after logout the jarClient still holds %v", c)
			}
		})
	}
}

// flakyStore is a memory store whose writes fail while fail is set.
type flakyStore struct {
	*memory.Store
	mu   sync.Mutex
	fail error
}

func (f *flakyStore) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	f.mu.Lock()
	err := f.fail
	f.mu.Unlock()
	if err != nil {
		return "", err
	}
	return f.Store.Save(ctx, token, u)
}

func failingSessions(store sessionplus.Store) []sessionplus.Options {
	s := seedHTTPSessions()
	s[1] = sessionplus.Options{"cookie_name": "session", "store": store, "session_fields": []string{"user_id", "user_data"}}
	return s
}

func TestHTTPFailedSaveIsNeverASuccess(t *testing.T) {
	var logs syncBuffer
	m := newHTTPManager(t, failingSessions(&flakyStore{Store: memory.New(), fail: errors.New("backend down")}),
		slog.New(slog.NewTextHandler(&logs, nil)))
	for _, app := range []struct {
		name    string
		handler http.Handler
	}{{"ServeMux", serveMuxApp(m)}, {"chi", chiApp(m)}} {
		b := newJarClient(t, app.handler)
		for _, tc := range []struct {
			name, path string
		}{
			{"nok, response written by the handler", "/login"},
			{"nok, a redirect", "/redirect"},
			{"nok, nothing written by the handler", "/silent-login"},
		} {
			t.Run(app.name+"/"+tc.name, func(t *testing.T) {
				res, body := b.do(http.MethodPost, tc.path)
				if res.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("status %d, want 503", res.StatusCode)
				}
				if loc := res.Header.Get("Location"); loc != "" {
					t.Errorf("the failed response still redirects to %q", loc)
				}
				if body != "Service Unavailable\n" {
					t.Errorf("body %q, want the error's status text only", body)
				}
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type %q", ct)
				}
				for _, c := range res.Cookies() {
					if c.Name == "session" {
						t.Errorf("a session cookie was sent for unsaved data: %v", c)
					}
				}
			})
		}
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

func TestHTTPErrorHandler(t *testing.T) {
	m := newHTTPManager(t, failingSessions(&flakyStore{Store: memory.New(), fail: errors.New("backend down")}),
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

func TestHTTPLoadErrorAnswered503(t *testing.T) {
	m := newHTTPManager(t, []sessionplus.Options{
		{"cookie_name": "session", "store": brokenStore{memory.New()}, "session_fields": []string{"user_id"}},
		{"cookie_name": "data", "session_fields": "auto"},
	}, slog.New(slog.DiscardHandler))
	b := newJarClient(t, serveMuxApp(m))
	b.jar.SetCookies(b.u, []*http.Cookie{{Name: "session", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.s0.0"}})
	if res, body := b.do("GET", "/me"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a failed read: %d %q, want 503", res.StatusCode, body)
	}
}

// brokenStore is a store whose reads fail.
type brokenStore struct{ *memory.Store }

func (brokenStore) Load(context.Context, string) (sessionplus.Record, error) {
	return sessionplus.Record{}, errors.New("timeout")
}

func TestHTTPChangeAfterHeadersIsAnError(t *testing.T) {
	m := newHTTPManager(t, nil, nil)
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
			b := newJarClient(t, m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := sessionplus.FromRequest(r)
				before = s.Set("theme", "early")
				if err := tc.write(w); err != nil {
					t.Error(err)
				}
				after = s.Set("theme", "late")
			})))
			res, _ := b.do("GET", "/")
			if before != nil || !errors.Is(after, sessionplus.ErrClosed) {
				t.Errorf("Set before the headers: %v; after: %v, want ErrClosed", before, after)
			}
			if len(res.Cookies()) != 1 || res.Cookies()[0].Name != "data" {
				t.Errorf("cookies %v, want the data cookie saved before the headers", res.Cookies())
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

func TestHTTPHijack(t *testing.T) {
	m := newHTTPManager(t, nil, nil)
	var after error
	b := newJarClient(t, m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessionplus.FromRequest(r)
		if err := s.Set("theme", "dark"); err != nil {
			t.Error(err)
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		after = s.Set("theme", "late")
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		rw.Flush()
	})))
	if _, body := b.do("GET", "/"); body != "hi" || !errors.Is(after, sessionplus.ErrClosed) {
		t.Errorf("hijacked: body %q, Set after Hijack = %v", body, after)
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
