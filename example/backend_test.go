package main

import (
	"bytes"
	"context"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus/drivers/drivertest"
)

// logWatch is the stderr of run: it keeps the logs and hands over the
// address of the "listening" line.
type logWatch struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m := listeningRE.FindSubmatch(p); m != nil {
		w.listening <- string(m[1]) // buffered: there is one such line
	}
	return w.buf.Write(p)
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

var miniredisRE = regexp.MustCompile(`where="embedded miniredis at (127\.0\.0\.1:\d+)`)

// TestRunDefault runs the app as `go run ./example` does, with no flag and
// no server: the server-side session runs on the redis driver against the
// embedded miniredis, which is closed when the app stops.
func TestRunDefault(t *testing.T) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	logs := &logWatch{listening: make(chan string, 1)}
	env := map[string]string{secretEnv: testSecret}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, logs)
	}()

	var addr string
	select {
	case addr = <-logs.listening:
	case err := <-done:
		t.Fatalf("run returned before listening: %v; logs:\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("run is not listening after 30s; logs:\n%s", logs)
	}
	m := miniredisRE.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("the startup logs do not say that the session runs on the embedded miniredis:\n%s", logs)
	}
	redisAddr := m[1]

	b := newBrowserAt(t, "http://"+addr)
	b.login("alice", true)
	body := html.UnescapeString(b.getOK("/where"))
	for _, want := range []string{"-backend redis</code>: embedded miniredis at " + redisAddr, `"Name":"alice"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/where lacks %q:\n%s", want, body)
		}
	}
	if c, err := net.Dial("tcp", redisAddr); err != nil {
		t.Fatalf("the embedded miniredis at %s does not answer while the app runs: %v", redisAddr, err)
	} else {
		c.Close()
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v; logs:\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not return 30s after its context ended; logs:\n%s", logs)
	}
	if c, err := net.Dial("tcp", redisAddr); err == nil {
		c.Close()
		t.Errorf("the embedded miniredis at %s still answers after the app stopped", redisAddr)
	}
}

// TestRealBackends runs the app with each -backend on a real server, found
// through the environment variables that ./scripts/test exports, as main
// reads them. Without a server the backend's test is skipped, except under
// CI=true, where that fails it.
func TestRealBackends(t *testing.T) {
	for _, tt := range []struct {
		backend, env string
		expectWhere  string
	}{
		{backend: "redis", env: redisURLEnv, expectWhere: "Redis at redis://"},
		{backend: "memcache", env: memcacheAddrsEnv, expectWhere: "memcached at "},
		{backend: "mongodb", env: mongoURLEnv, expectWhere: "MongoDB at mongodb://"},
		{backend: "postgres", env: postgresURLEnv, expectWhere: "PostgreSQL at postgres://"},
		{backend: "firestore", env: firestoreEmuEnv, expectWhere: "Firestore project "},
	} {
		t.Run(tt.backend, func(t *testing.T) {
			drivertest.ServerFromEnv(t, tt.env)
			srv := startApp(t, appConfig{Backend: tt.backend, Getenv: os.Getenv})
			b := newBrowser(t, srv)
			b.login("alice", true)
			sessionID := b.cookies()["session"]
			body := html.UnescapeString(b.getOK("/where"))
			for _, want := range []string{
				"-backend " + tt.backend + "</code>: " + tt.expectWhere,
				`class="backend">` + tt.backend + `<`,
				`"Name":"alice"`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/where lacks %q:\n%s", want, body)
				}
			}

			// The record is shared: a second instance of the app on the
			// same backend, with the same secret, knows the user.
			other := newBrowser(t, startApp(t, appConfig{Backend: tt.backend, Getenv: os.Getenv}))
			other.jar.SetCookies(other.base, b.jar.Cookies(b.base))
			if body := other.getOK("/"); !strings.Contains(body, "Logged in as <strong>alice</strong>") {
				t.Errorf("a second instance on the same backend does not know the user:\n%s", body)
			}

			token := csrfToken(t, b.getOK("/"))
			if res, body := b.post("/logout", url.Values{"csrf_token": {token}}); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST /logout: status %d; body:\n%s", res.StatusCode, body)
			}
			// Log-out deleted the record: the old id is worthless.
			stale := newBrowser(t, srv)
			stale.jar.SetCookies(stale.base, []*http.Cookie{{Name: "session", Value: sessionID}})
			if body := stale.getOK("/"); !strings.Contains(body, "Nobody is logged in") {
				t.Errorf("the session id from before log-out still logs in:\n%s", body)
			}
		})
	}
}
