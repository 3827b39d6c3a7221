package reliability

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/multisession"
)

// The app of the tests is the configuration the seed's README describes: a
// CSRF token in a small signed cookie, the logged-in user in a server-side
// session, and everything else in an encrypted cookie ("auto").
const (
	csrfCookie    = "csrf"
	sessionCookie = "session"
	dataCookie    = "data"
)

// serverFields are the fields of the server-side session.
var serverFields = []string{"user_id", "counter", "visits", "note", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"}

// The secret keys of the apps: keyA signs and encrypts; keyB is a second
// key for rotation tests and for cookies "wrongly signed".
var keyA, keyB = newKey(), newKey()

func newKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// appConfig configures a test app.
type appConfig struct {
	server       sessionplus.Options   // the "session" session (driver keys, key_prefix); nil: none
	extra        []sessionplus.Options // more sessions, after "session" and before "data"
	keys         [][]byte              // Config.SecretKeys; default keyA
	deadline     time.Duration         // deadline of each request; default 2 s
	dataLifetime any                   // session_lifetime of the data cookie; nil: the default
	common       sessionplus.Options   // more keys for every session (such as session_absolute_lifetime)
	userField    string                // Config.UserField; "" for none
}

// app is an Echo app with the multisession middleware, served by httptest
// on a loopback port.
type app struct {
	t      testing.TB
	e      *echo.Echo
	srv    *httptest.Server
	url    string
	m      *sessionplus.Manager
	client *http.Client
	cfg    appConfig

	served    atomic.Int64
	panics    atomic.Int64
	lastPanic atomic.Pointer[string]
	gates     sync.Map          // name -> *gate
	prefix    map[string]string // cookie name of a server-side session -> its key_prefix
}

// panicsSeen counts the panics of every app of the run.
var panicsSeen atomic.Int64

// newApp builds and starts an app, stopped when the test ends.
func newApp(t testing.TB, cfg appConfig) *app {
	t.Helper()
	if cfg.keys == nil {
		cfg.keys = [][]byte{keyA}
	}
	if cfg.deadline == 0 {
		cfg.deadline = 2 * time.Second
	}
	a := &app{t: t, cfg: cfg, prefix: map[string]string{}}
	sessions := []sessionplus.Options{
		{"cookie_name": csrfCookie, "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
	}
	if cfg.server != nil {
		o := maps.Clone(cfg.server)
		o["cookie_name"] = sessionCookie
		o["session_fields"] = serverFields
		sessions = append(sessions, o)
	}
	sessions = append(sessions, cfg.extra...)
	data := sessionplus.Options{"cookie_name": dataCookie, "session_type": "secure_cookie", "session_fields": "auto"}
	if cfg.dataLifetime != nil {
		data["session_lifetime"] = cfg.dataLifetime
	}
	sessions = append(sessions, data)
	for _, o := range sessions {
		maps.Copy(o, cfg.common)
	}
	for _, o := range sessions {
		if o["session_type"] == "secure_cookie" {
			continue
		}
		p, _ := o["key_prefix"].(string)
		if p == "" {
			p = sessionplus.DefaultKeyPrefix
		}
		a.prefix[o["cookie_name"].(string)] = p
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := sessionplus.New(ctx, sessionplus.Config{Sessions: sessions, SecretKeys: cfg.keys, Logger: testLogger, UserField: cfg.userField})
	if err != nil {
		t.Fatalf("sessionplus.New: %v", err)
	}
	a.m = m

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(logs)
	e.Use(a.recoverPanics, withDeadline(cfg.deadline))
	e.Use(multisession.MiddlewareWithConfig(multisession.Config{Manager: m, Logger: testLogger}))
	a.routes(e)
	a.e = e

	a.srv = httptest.NewUnstartedServer(e)
	a.srv.Config.ErrorLog = log.New(logs, "net/http: ", 0)
	a.srv.Start()
	a.url = a.srv.URL
	a.client = &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	t.Cleanup(func() {
		a.srv.Close()
		a.client.CloseIdleConnections()
		m.Close()
	})
	return a
}

// recoverPanics turns a panic into a 500 and counts it; every test asserts
// there were none.
func (a *app) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		a.served.Add(1)
		defer func() {
			if r := recover(); r != nil {
				a.panics.Add(1)
				panicsSeen.Add(1)
				msg := fmt.Sprintf("panic serving %s %s: %v\n%s", c.Request().Method, c.Request().URL.Path, r, debug.Stack())
				a.lastPanic.Store(&msg)
				if _, fuzzing := a.t.(*testing.F); !fuzzing { // a fuzz target reads lastPanic instead
					a.t.Error(msg)
				}
				err = echo.NewHTTPError(http.StatusInternalServerError, "panic")
			}
		}()
		return next(c)
	}
}

// withDeadline gives each request a deadline, as a server's timeout would.
func withDeadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

// gate holds a request of /naive between its read and its end.
type gate struct {
	loaded  chan error    // the error of the request's read of user_id
	release chan struct{} // closed by the test to let the request go on
}

func (a *app) gate(name string) *gate {
	g, _ := a.gates.LoadOrStore(name, &gate{loaded: make(chan error, 1), release: make(chan struct{})})
	return g.(*gate)
}

func (a *app) routes(e *echo.Echo) {
	// Log in: the user's id goes to the server-side session, a new CSRF
	// token to its cookie, and the server-side session gets a new id.
	e.POST("/login", func(c echo.Context) error {
		sess := multisession.Get(c)
		user := c.FormValue("user")
		if err := sess.Set("user_id", user); err != nil {
			return err
		}
		tok := randomHex(16)
		secrets.add("value csrf_token", tok)
		if err := sess.Set("csrf_token", tok); err != nil {
			return err
		}
		if err := sess.Regenerate(); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"user": user, "csrf": tok})
	})
	// The logged-in user and the counter: reads the server-side session.
	e.GET("/me", func(c echo.Context) error {
		sess := multisession.Get(c)
		user, ok, err := sessionplus.GetAs[string](sess, "user_id")
		if err != nil {
			return err
		}
		n, _, err := sessionplus.GetAs[int](sess, "counter")
		if err != nil {
			return err
		}
		out := map[string]any{"user": nil, "counter": n}
		if ok {
			out["user"] = user
		}
		return c.JSON(http.StatusOK, out)
	})
	// Increment the counter of the server-side session.
	e.POST("/incr", func(c echo.Context) error {
		sess := multisession.Get(c)
		user, ok, err := sessionplus.GetAs[string](sess, "user_id")
		if err != nil {
			return err
		}
		n, _, err := sessionplus.GetAs[int](sess, "counter")
		if err != nil {
			return err
		}
		if err := sess.Set("counter", n+1); err != nil {
			return err
		}
		out := map[string]any{"user": nil, "counter": n + 1}
		if ok {
			out["user"] = user
		}
		return c.JSON(http.StatusOK, out)
	})
	// Preferences: only cookie-owned fields (the CSRF token and the theme).
	e.GET("/prefs", func(c echo.Context) error {
		sess := multisession.Get(c)
		theme, _, err := sessionplus.GetAs[string](sess, "theme")
		if err != nil {
			return err
		}
		csrf, _, err := sessionplus.GetAs[string](sess, "csrf_token")
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"theme": theme, "csrf": csrf})
	})
	e.POST("/prefs", func(c echo.Context) error {
		if err := multisession.Get(c).Set("theme", c.FormValue("theme")); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"theme": c.FormValue("theme")})
	})
	// Set one field.
	e.POST("/set", func(c echo.Context) error {
		if err := multisession.Get(c).Set(c.FormValue("field"), c.FormValue("value")); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"ok": true})
	})
	// Every field of every session of the request.
	e.GET("/dump", func(c echo.Context) error {
		sess := multisession.Get(c)
		keys, err := sess.Keys()
		if err != nil {
			return err
		}
		fields := map[string]any{}
		for _, k := range keys {
			v, _, err := sess.Get(k)
			if err != nil {
				return err
			}
			fields[k] = fmt.Sprint(v)
		}
		return c.JSON(http.StatusOK, map[string]any{"fields": fields})
	})
	// The lifetime terms of one session, as the server sees them.
	e.GET("/terms/:name", func(c echo.Context) error {
		p, err := multisession.Get(c).Part(c.Param("name"))
		if err != nil {
			return err
		}
		exp, err := p.Expiry()
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"permanent": p.Permanent(), "expiry": exp.Unix()})
	})
	e.POST("/logout", func(c echo.Context) error {
		if err := multisession.Get(c).Destroy(); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"ok": true})
	})
	// A careless handler, as many are: it reads the user, ignores the
	// error, waits for the test (which mends the backend meanwhile), then
	// changes the session as the form says, ignoring errors again, and
	// answers 200. The seed's package wiped a logged-in user's data this
	// way: a failed read gave an empty session, which was then saved.
	e.POST("/naive", func(c echo.Context) error {
		sess := multisession.Get(c)
		_, _, err := sessionplus.GetAs[string](sess, "user_id")
		g := a.gate(c.Request().Header.Get("X-Gate"))
		g.loaded <- err
		<-g.release
		switch c.FormValue("mode") {
		case "set":
			_ = sess.Set("visits", 1)
		case "overwrite":
			_ = sess.Set("user_id", "someone-else")
		case "delete":
			_ = sess.Delete("user_id")
		case "regenerate":
			_ = sess.Regenerate()
		case "save":
			_ = sess.Set("note", "written-after-a-failed-read")
			_ = sess.Save()
		case "login":
			_ = sess.Set("user_id", c.FormValue("user"))
			_ = sess.Regenerate()
		case "none":
		}
		return c.JSON(http.StatusOK, map[string]any{"ok": true})
	})
}

// reply is one response as a test sees it.
type reply struct {
	status     int
	body       map[string]any
	text       string
	cookies    []*http.Cookie
	start, end time.Time
	err        error
}

func (r reply) elapsed() time.Duration { return r.end.Sub(r.start) }

// str returns a string field of the JSON body; ok is false for null or
// missing.
func (r reply) str(k string) (string, bool) {
	s, ok := r.body[k].(string)
	return s, ok
}

func (r reply) num(k string) int {
	f, _ := r.body[k].(float64)
	return int(f)
}

func (r reply) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, strings.TrimSpace(r.text))
}

// send makes one request with the given Cookie header, sent as is.
func (a *app) send(method, path string, form url.Values, cookie string, hdr http.Header) reply {
	for _, vs := range form {
		for _, v := range vs {
			secrets.add("value", v)
		}
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, a.url+path, body)
	if err != nil {
		return reply{err: err}
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	r := reply{start: time.Now()}
	res, err := a.client.Do(req)
	if err != nil {
		r.end, r.err = time.Now(), err
		return r
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	r.end = time.Now()
	r.status, r.text, r.cookies, r.err = res.StatusCode, string(b), res.Cookies(), err
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		json.Unmarshal(b, &r.body)
	}
	a.absorbSecrets(r.cookies)
	return r
}

// absorbSecrets records the cookie values, session ids and storage keys
// that a response hands out, so that TestMain can look for them in the logs.
func (a *app) absorbSecrets(cookies []*http.Cookie) {
	for _, ck := range cookies {
		if ck.Value == "" {
			continue
		}
		secrets.add("cookie "+ck.Name, ck.Value)
		if p, ok := a.prefix[ck.Name]; ok {
			if id := idOf(ck.Value); id != "" {
				secrets.add("id", id)
				secrets.add("storage-key", storageKey(p, ck.Value))
			}
		}
	}
}

// browser is one client with cookies of its own, kept as a browser keeps
// them (a cookie expired by the server is dropped). Safe for concurrent
// requests.
type browser struct {
	a   *app
	mu  sync.Mutex
	jar map[string]string
}

func (a *app) browser() *browser { return &browser{a: a, jar: map[string]string{}} }

// do makes a request with the browser's cookies and keeps the cookies of
// the response.
func (b *browser) do(method, path string, form url.Values) reply {
	return b.doHeader(method, path, form, nil)
}

func (b *browser) doHeader(method, path string, form url.Values, hdr http.Header) reply {
	r := b.a.send(method, path, form, b.header(), hdr)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ck := range r.cookies {
		if ck.MaxAge < 0 || (!ck.Expires.IsZero() && ck.Expires.Before(time.Now())) {
			delete(b.jar, ck.Name)
		} else {
			b.jar[ck.Name] = ck.Value
		}
	}
	return r
}

// header returns the Cookie header the browser sends.
func (b *browser) header() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.jar))
	for n := range b.jar {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + b.jar[n]
	}
	return strings.Join(parts, "; ")
}

func (b *browser) cookie(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.jar[name]
}

func (b *browser) setCookie(name, value string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if value == "" {
		delete(b.jar, name)
		return
	}
	b.jar[name] = value
}

// login logs the browser in as user, failing the test otherwise.
func (b *browser) login(t testing.TB, user string) {
	t.Helper()
	r := b.do("POST", "/login", url.Values{"user": {user}})
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("login: %v", r)
	}
	if b.cookie(sessionCookie) == "" {
		t.Fatalf("login: no %s cookie", sessionCookie)
	}
}

// fields returns what /dump shows.
func (r reply) fields() map[string]string {
	out := map[string]string{}
	m, _ := r.body["fields"].(map[string]any)
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}
