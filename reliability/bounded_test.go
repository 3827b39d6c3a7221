package reliability

import (
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sessionplus/sessionplus/drivers/memcache"
	"github.com/sessionplus/sessionplus/drivers/mongo"
	"github.com/sessionplus/sessionplus/drivers/redis"
	"github.com/sessionplus/sessionplus/multisession"
)

// boundedKinds are the backends of TestBounded: every server kind but
// firestore, whose driver is being reworked.
var boundedKinds = []string{"redis", "redis-cluster", "memcache", "mongodb"}

// defaultTimeout is each driver's default timeout, the bound of each of
// its operations when the options give none.
var defaultTimeout = map[string]time.Duration{
	"redis":         redis.DefaultTimeout,
	"redis-cluster": redis.DefaultTimeout,
	"memcache":      memcache.DefaultTimeout,
	"mongodb":       mongo.DefaultTimeout,
}

// boundedSlack is how much later than the driver's timeout a request may
// be answered: the 503 is written right after the failed operation, but a
// machine running the race detector and other servers can be slow.
const boundedSlack = 2 * time.Second

// TestBounded (issue 15): net/http gives a request no deadline, so with a
// backend that hangs (accepts connections, never answers) the driver's own
// timeout is all that stands between a request and a wait without end.
// For each backend, with the driver's default timeout (no "timeout" key:
// the tuning of the other tests is removed), an app whose requests carry
// no deadline serves a logged-in user; then the backend hangs, through
// the suite's proxy. A read of the server-side session (GET /me) and a new
// session's save (POST /login) must each get a 503 within the driver's
// timeout plus boundedSlack, the failed save must be logged with the
// timeout as its cause, and once the proxy relays again the app serves the
// user again, still logged in.
func TestBounded(t *testing.T) {
	for _, kind := range boundedKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel() // each waits out its driver's timeout twice
			testBounded(t, kind)
		})
	}
}

func testBounded(t *testing.T, kind string) {
	timeout := defaultTimeout[kind]
	bound := timeout + boundedSlack
	b := newBackend(t, kind, true)
	srv := b.driverOptions(t, tuning{})
	delete(srv, "timeout") // the driver's default
	a := newAppWithoutDeadline(t, appConfig{server: srv})

	if r := a.browser().do("GET", "/deadline", nil); r.status != http.StatusOK || r.body["deadline"] != false {
		t.Fatalf("GET /deadline: %s, want a request context without deadline", r)
	}
	user := "bounded-" + randomHex(6)
	br := a.browser()
	br.login(t, user)
	if r := br.do("GET", "/me", nil); r.status != http.StatusOK || r.body["user"] != user {
		t.Fatalf("GET /me before the hang: %s, want the user %q", r, user)
	}

	b.via.set(hang)
	from := logs.len()
	me := br.do("GET", "/me", nil)
	newcomer := a.browser()
	login := newcomer.do("POST", "/login", url.Values{"user": {"newcomer-" + randomHex(6)}})
	lines := logs.since(from)
	b.via.set(pass)

	for _, c := range []struct {
		what string
		r    reply
	}{{"GET /me (a read of the session)", me}, {"POST /login (a save of a new session)", login}} {
		switch {
		case c.r.err != nil:
			t.Errorf("%s while the backend hangs: no answer: %v", c.what, c.r.err)
		case c.r.status != http.StatusServiceUnavailable:
			t.Errorf("%s while the backend hangs: %s, want 503", c.what, c.r)
		}
		if c.r.elapsed() > bound {
			t.Errorf("%s while the backend hangs took %v, want at most the driver's timeout %v + %v",
				c.what, c.r.elapsed().Round(time.Millisecond), timeout, boundedSlack)
		}
	}
	if newcomer.cookie(sessionCookie) != "" {
		t.Errorf("POST /login while the backend hangs set the %s cookie of a session that was not saved", sessionCookie)
	}
	var logged string
	readLogged := false // a failed read is the handler's error to report: figures only
	for _, l := range lines {
		if logged == "" && strings.Contains(l, "saving the sessions failed") && strings.Contains(l, "path=/login") {
			logged = l
		}
		readLogged = readLogged || strings.Contains(l, "path=/me")
	}
	switch {
	case logged == "":
		t.Errorf("the failed save of POST /login was not logged; the log lines during the hang:\n\t%s", strings.Join(lines, "\n\t"))
	case !strings.Contains(logged, "(the store's timeout)"):
		t.Errorf("the failed save of POST /login is logged without the store's timeout as its cause: %s", logged)
	}

	// The backend relays again: the app serves the user's session, kept.
	waitServing(t, br)
	if r := br.do("GET", "/me", nil); r.status != http.StatusOK || r.body["user"] != user {
		t.Errorf("GET /me after the hang: %s, want the user %q", r, user)
	}
	report(t, "backend", kind, "driver timeout (default)", timeout, "request deadline", "none",
		"GET /me while hung", me.String()+" after "+me.elapsed().Round(time.Millisecond).String(),
		"POST /login while hung", login.String()+" after "+login.elapsed().Round(time.Millisecond).String(),
		"failed save logged", logged != "", "failed read logged", readLogged, "panics", a.panics.Load())
}

// newAppWithoutDeadline is newApp with requests that keep the context
// net/http gives them, which has no deadline: newApp gives each request a
// deadline (appConfig.deadline, 2s when zero), and no value of it means
// none. It serves the same routes, through the same manager, on a server of
// its own, plus GET /deadline, which says whether the request's context
// has a deadline; the server newApp started stays idle.
func newAppWithoutDeadline(t *testing.T, cfg appConfig) *app {
	t.Helper()
	a := newApp(t, cfg)
	t.Cleanup(a.srv.Close) // newApp's server: its own cleanup closes a.srv, which is replaced below
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(logs)
	e.Use(a.recoverPanics)
	e.Use(multisession.MiddlewareWithConfig(multisession.Config{Manager: a.m, Logger: testLogger}))
	a.routes(e)
	e.GET("/deadline", func(c echo.Context) error {
		_, ok := c.Request().Context().Deadline()
		return c.JSON(http.StatusOK, map[string]any{"deadline": ok})
	})
	srv := httptest.NewUnstartedServer(e)
	srv.Config.ErrorLog = log.New(logs, "net/http: ", 0)
	srv.Start()
	a.e, a.srv, a.url = e, srv, srv.URL
	return a
}
