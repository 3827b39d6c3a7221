package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// TestMain runs main itself when the test binary is started by
// TestMainExitCode, with the arguments in mainArgsEnv.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(mainArgsEnv); ok {
		os.Args = append([]string{"example"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const mainArgsEnv = "SESSIONPLUS_EXAMPLE_TEST_MAIN_ARGS"

const testSecret = "0123456789abcdef0123456789abcdef-test-only"

// startApp serves the app built by newApp with cfg (defaults filled in).
func startApp(t *testing.T, cfg appConfig) *httptest.Server {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = testSecret
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	if cfg.Context == nil {
		cfg.Context = t.Context()
	}
	e, closeApp, err := newApp(cfg)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		if err := closeApp(); err != nil {
			t.Errorf("closing the app: %v", err)
		}
	})
	return srv
}

// browser is a client with a cookie jar that does not follow redirects, so
// every response's Set-Cookie lines can be checked.
type browser struct {
	t      *testing.T
	base   *url.URL
	jar    *cookiejar.Jar
	client *http.Client
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	t.Helper()
	return newBrowserAt(t, srv.URL)
}

// newBrowserAt is newBrowser for the app at rawURL.
func newBrowserAt(t *testing.T, rawURL string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	base, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, jar: jar, client: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	}
	return res, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base.JoinPath(path).String(), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// getOK gets path and fails the test unless the status is 200.
func (b *browser) getOK(path string) string {
	b.t.Helper()
	res, body := b.get(path)
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: status %d, want 200; body:\n%s", path, res.StatusCode, body)
	}
	return body
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base.JoinPath(path).String(), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// cookies returns the cookies the jar would send to the app, by name.
func (b *browser) cookies() map[string]string {
	out := map[string]string{}
	for _, c := range b.jar.Cookies(b.base) {
		out[c.Name] = c.Value
	}
	return out
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// csrfToken returns the CSRF token of the form in body.
func csrfToken(t *testing.T, body string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		t.Fatalf("no csrf_token in the page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

var visitsRE = regexp.MustCompile(`<strong id="visits">(\d+)</strong>`)

func visits(t *testing.T, body string) int {
	t.Helper()
	m := visitsRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no visit counter in the page:\n%s", body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// setCookie returns the Set-Cookie of res for name, or nil.
func setCookie(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// login logs in through the form and returns the 303 response.
func (b *browser) login(name string, remember bool) *http.Response {
	b.t.Helper()
	token := csrfToken(b.t, b.getOK("/login"))
	form := url.Values{"csrf_token": {token}, "username": {name}}
	if remember {
		form.Set("remember", "on")
	}
	res, body := b.post("/login", form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		b.t.Fatalf("POST /login: status %d, Location %q; want 303 to /; body:\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	return res
}

// whereRow returns the cells of the /where row of field, tags removed.
func whereRow(t *testing.T, body, field string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<tr data-field="` + regexp.QuoteMeta(field) + `">(.*?)</tr>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/where has no row for %q:\n%s", field, body)
	}
	return m[1]
}

func TestLoginPrefsWhereLogout(t *testing.T) {
	srv := startApp(t, appConfig{})
	b := newBrowser(t, srv)

	if body := b.getOK("/"); !strings.Contains(body, "Nobody is logged in") {
		t.Fatalf("home before log-in:\n%s", body)
	}
	if got := b.cookies(); len(got) != 0 {
		t.Fatalf("the home page of a new visitor set cookies %v; a session that holds nothing must set none", got)
	}

	// The form brings the CSRF token, in its own cookie.
	token := csrfToken(t, b.getOK("/login"))
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
		t.Errorf("csrf token %q: want 32 bytes in base64url (err %v)", token, err)
	}
	if _, ok := b.cookies()["csrf"]; !ok {
		t.Fatalf("after GET /login the jar has %v, want a csrf cookie", b.cookies())
	}
	if again := csrfToken(t, b.getOK("/login")); again != token {
		t.Errorf("the csrf token changed between two forms: %q, then %q", token, again)
	}

	// A wrong or missing token is refused.
	for name, form := range map[string]url.Values{
		"wrong token":   {"csrf_token": {token + "x"}, "username": {"alice"}},
		"missing token": {"username": {"alice"}},
	} {
		res, body := b.post("/login", form)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF check failed") {
			t.Errorf("%s: status %d, want 403 with a message; body:\n%s", name, res.StatusCode, body)
		}
	}
	if _, ok := b.cookies()["session"]; ok {
		t.Fatal("a refused log-in set the session cookie")
	}

	// The right token logs in.
	res, body := b.post("/login", url.Values{"csrf_token": {token}, "username": {"alice"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("POST /login: status %d, Location %q, want 303 to /; body:\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	if ck := setCookie(res, "session"); ck == nil || ck.MaxAge != 0 || !ck.Expires.IsZero() || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie without remember me: %v; want an HttpOnly, SameSite=Lax cookie that ends with the browser session", ck)
	}
	jar := b.cookies()
	for _, name := range []string{"csrf", "session", "data"} {
		if _, ok := jar[name]; !ok {
			t.Fatalf("after log-in the jar has %v, want csrf, session and data cookies", jar)
		}
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_.-]{20,100}$`).MatchString(jar["session"]) {
		t.Errorf("session cookie %q: want an opaque id", jar["session"])
	}
	uid := strconv.Itoa(userID("alice"))
	for name, value := range jar {
		for _, plain := range []string{"alice", "Alice", uid, "user_id", "user_data", "LoggedInAt", token} {
			if strings.Contains(value, plain) {
				t.Errorf("cookie %s holds %q in plaintext: %q", name, plain, value)
			}
		}
	}
	sessionID := jar["session"]

	body = b.getOK("/")
	if !strings.Contains(body, "Logged in as <strong>alice</strong>") || !strings.Contains(body, "user_id "+uid) {
		t.Fatalf("home after log-in:\n%s", body)
	}
	if !strings.Contains(body, "Welcome, alice.") {
		t.Errorf("home after log-in shows no welcome message:\n%s", body)
	}
	if strings.Contains(b.getOK("/"), "Welcome, alice.") {
		t.Error("the welcome message is shown twice")
	}
	token = csrfToken(t, body) // the log-out button's

	// The visit counter goes through "auto" into the data cookie.
	if n := visits(t, b.getOK("/prefs")); n != 1 {
		t.Errorf("first visit of /prefs: counter %d, want 1", n)
	}
	body = b.getOK("/prefs")
	if n := visits(t, body); n != 2 {
		t.Errorf("second visit of /prefs: counter %d, want 2", n)
	}
	if res, body := b.post("/prefs", url.Values{"csrf_token": {"forged"}, "theme": {"dark"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("POST /prefs with a forged token: status %d, want 403; body:\n%s", res.StatusCode, body)
	}
	if res, body := b.post("/prefs", url.Values{"csrf_token": {csrfToken(t, body)}, "theme": {"dark"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /prefs: status %d, want 303; body:\n%s", res.StatusCode, body)
	}
	if body := b.getOK("/prefs"); !strings.Contains(body, `class="theme-dark"`) || !strings.Contains(body, "Preferences saved.") {
		t.Errorf("after saving theme dark, /prefs shows neither the theme nor the message:\n%s", body)
	}

	// Where is my data?
	body = b.getOK("/where")
	for field, want := range map[string][]string{
		"user_id":    {`class="value"><code>` + uid + `</code>`, `class="owner">session<`, `class="backend">redis<`, "on the server"},
		"user_data":  {`&#34;Name&#34;:&#34;alice&#34;`, `class="owner">session<`, `class="backend">redis<`},
		"csrf_token": {`class="owner">csrf<`, `class="backend">secure_cookie<`, "in the cookie"},
		"theme":      {`<code>dark</code>`, `class="owner">data<`, `class="backend">secure_cookie<`, "in the cookie"},
		"visits":     {`<code>3</code>`, `class="owner">data<`, `class="backend">secure_cookie<`, "in the cookie"},
	} {
		row := whereRow(t, body, field)
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("/where row of %s lacks %q:\n%s", field, w, row)
			}
		}
	}
	if strings.Contains(body, sessionID) {
		t.Error("/where shows the session id")
	}
	for _, want := range []string{`data-session="csrf"`, `data-session="session"`, `data-session="data"`, "user_id, user_data", `"auto": every field that no other session names`} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("/where lacks %q in the list of sessions", want)
		}
	}

	// Log-out needs the token too.
	if res, _ := b.post("/logout", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("POST /logout without a token: status %d, want 403", res.StatusCode)
	}
	if res, _ := b.get("/logout"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: status %d, want 405", res.StatusCode)
	}
	res, body = b.post("/logout", url.Values{"csrf_token": {token}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("POST /logout: status %d, Location %q, want 303 to /; body:\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	for _, name := range []string{"csrf", "session"} {
		if ck := setCookie(res, name); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("log-out: cookie %s is %v, want it expired", name, ck)
		}
	}
	// The data cookie starts again, holding only the flash message.
	if got := b.cookies(); len(got) != 1 || got["data"] == "" {
		t.Errorf("after log-out the jar has %v, want only the data cookie with the flash message", got)
	}
	if body := b.getOK("/"); !strings.Contains(body, "Nobody is logged in") || !strings.Contains(body, "You are logged out.") {
		t.Errorf("home after log-out, want the flash message:\n%s", body)
	}
	if got := b.cookies(); len(got) != 0 {
		t.Errorf("the home page after log-out set cookies %v", got)
	}

	// The old session id is worthless: its record was deleted.
	stale := newBrowser(t, srv)
	stale.jar.SetCookies(stale.base, []*http.Cookie{{Name: "session", Value: sessionID}})
	res, body = stale.get("/")
	if !strings.Contains(body, "Nobody is logged in") {
		t.Errorf("home with the session id from before log-out:\n%s", body)
	}
	if ck := setCookie(res, "session"); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("a stale session cookie was not expired: %v", ck)
	}
}

func TestRememberMe(t *testing.T) {
	srv := startApp(t, appConfig{})
	b := newBrowser(t, srv)
	res := b.login("bob", true)

	const month = 31 * 24 * 60 * 60
	// Only the user's session is remembered; the CSRF and data cookies end
	// with the browser session.
	if ck := setCookie(res, "session"); ck == nil || ck.MaxAge < month-60 || ck.MaxAge > month {
		t.Errorf("remember me: the session cookie is %v, want a Max-Age of about 31 days (%d s)", ck, month)
	}
	for _, name := range []string{"csrf", "data"} {
		if ck := setCookie(res, name); ck != nil && ck.MaxAge != 0 {
			t.Errorf("remember me: cookie %s is %v, want a browser-session cookie", name, ck)
		}
	}
	body := b.getOK("/")
	if !strings.Contains(body, "Remembered for 31 days") {
		t.Errorf("home after remember me:\n%s", body)
	}
	// The home page showed the welcome message, emptying the data cookie;
	// a session the browser starts later takes its permanence from one it
	// holds (as in Flask), so the data cookie that /prefs starts again is
	// permanent too.
	res, _ = b.get("/prefs")
	if ck := setCookie(res, "data"); ck == nil || ck.MaxAge < month-60 || ck.MaxAge > month {
		t.Errorf("remember me: the data cookie started after log-in is %v, want a Max-Age of about 31 days", ck)
	}
	if body := b.getOK("/where"); !strings.Contains(body, "until the expiry (permanent session)") {
		t.Errorf("/where does not say the sessions are permanent:\n%s", body)
	}
}

// TestRegenerateAtLogin checks that logging in again gives the session a
// new id and ends the old one.
func TestRegenerateAtLogin(t *testing.T) {
	srv := startApp(t, appConfig{})
	b := newBrowser(t, srv)
	b.login("carol", false)
	before := b.cookies()["session"]
	b.login("carol", false)
	after := b.cookies()["session"]
	if before == "" || after == "" || before == after {
		t.Fatalf("session cookie before and after the second log-in: %q, %q; want two different ids", before, after)
	}
	old := newBrowser(t, srv)
	old.jar.SetCookies(old.base, []*http.Cookie{{Name: "session", Value: before}})
	if body := old.getOK("/"); !strings.Contains(body, "Nobody is logged in") {
		t.Errorf("the id from before the second log-in still logs in:\n%s", body)
	}
}

func TestBadLoginName(t *testing.T) {
	b := newBrowser(t, startApp(t, appConfig{}))
	token := csrfToken(t, b.getOK("/login"))
	res, body := b.post("/login", url.Values{"csrf_token": {token}, "username": {"<script>"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "only letters, digits") || strings.Contains(body, "<script>") {
		t.Errorf("log-in as <script>: status %d; body:\n%s", res.StatusCode, body)
	}
	if _, ok := b.cookies()["session"]; ok {
		t.Error("a refused log-in set the session cookie")
	}
}

func TestStaticHasNoSession(t *testing.T) {
	b := newBrowser(t, startApp(t, appConfig{}))
	b.login("dave", false)
	res, body := b.get("/static/style.css")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "theme-dark") {
		t.Fatalf("GET /static/style.css: status %d", res.StatusCode)
	}
	if len(res.Cookies()) > 0 || res.Header.Get("Vary") != "" {
		t.Errorf("the style sheet's response carries session headers: %v", res.Header)
	}
}

// flakyStore is a memory store that fails while down is set.
type flakyStore struct {
	*memory.Store
	down atomic.Bool
}

var errDown = errors.New("backend down")

func (s *flakyStore) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	if s.down.Load() {
		return sessionplus.Record{}, errDown
	}
	return s.Store.Load(ctx, token)
}

func (s *flakyStore) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	if s.down.Load() {
		return "", errDown
	}
	return s.Store.Save(ctx, token, u)
}

func (s *flakyStore) Delete(ctx context.Context, token string) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Delete(ctx, token)
}

// TestBackendDown checks that a failing server-side backend is a 503, never
// a logged-out page or a lost session, with a backend added to the table of
// -backend values the way issue 7's backends will be.
func TestBackendDown(t *testing.T) {
	store := &flakyStore{Store: memory.New()}
	backends["flaky"] = backend{
		about: "test: a memory store that can fail",
		open: func(context.Context, string, func(string) string) (*serverBackend, error) {
			return &serverBackend{options: sessionplus.Options{"store": store}, where: "a flaky test store"}, nil
		},
	}
	t.Cleanup(func() { delete(backends, "flaky") })

	b := newBrowser(t, startApp(t, appConfig{Backend: "flaky"}))
	b.login("erin", false)
	token := csrfToken(t, b.getOK("/"))

	store.down.Store(true)
	for _, path := range []string{"/", "/where", "/prefs"} {
		if res, body := b.get(path); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the backend down: status %d, want 503; body:\n%s", path, res.StatusCode, body)
		}
	}
	if res, body := b.post("/logout", url.Values{"csrf_token": {token}}); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST /logout with the backend down: status %d, want 503; body:\n%s", res.StatusCode, body)
	}

	store.down.Store(false)
	if body := b.getOK("/"); !strings.Contains(body, "Logged in as <strong>erin</strong>") {
		t.Errorf("after the backend came back, the user is not logged in:\n%s", body)
	}
}

func TestBadBackend(t *testing.T) {
	const all = "available: firestore, memcache, memory, mongodb, postgres, redis"
	// The Firestore client reads the emulator's address from the process's
	// environment, and retries an unreachable one until the probe's limit.
	t.Setenv(firestoreEmuEnv, "127.0.0.1:1")
	limit := firestoreProbeLimit
	firestoreProbeLimit = 300 * time.Millisecond
	t.Cleanup(func() { firestoreProbeLimit = limit })
	for _, tt := range []struct {
		name                string
		givenBackend        string
		givenURL            string
		givenEnv            map[string]string
		expectErrorContains []string
	}{
		{
			name:                "nok, unknown backend",
			givenBackend:        "reddis",
			expectErrorContains: []string{`unknown -backend "reddis"; ` + all},
		},
		{
			name:         "nok, unreachable redis",
			givenBackend: "redis", givenURL: "redis://127.0.0.1:1/0",
			expectErrorContains: []string{"-backend redis (Redis at redis://127.0.0.1:1/0)", "cannot reach the server", "connection refused"},
		},
		{
			name:         "nok, unreachable redis from the environment",
			givenBackend: "redis", givenEnv: map[string]string{redisURLEnv: "redis://127.0.0.1:1/0"},
			expectErrorContains: []string{"-backend redis (Redis at redis://127.0.0.1:1/0)", "connection refused"},
		},
		{
			name:         "nok, bad redis URL",
			givenBackend: "redis", givenURL: "http://127.0.0.1:6379",
			expectErrorContains: []string{"-backend redis", `"url"`},
		},
		{
			name:         "nok, unreachable memcache",
			givenBackend: "memcache", givenURL: "127.0.0.1:1",
			expectErrorContains: []string{"-backend memcache (memcached at 127.0.0.1:1)"},
		},
		{
			name:                "nok, memcache without servers",
			givenBackend:        "memcache",
			expectErrorContains: []string{"-backend memcache: needs the memcached servers: -backend-url host:port[,host:port...], or " + memcacheAddrsEnv},
		},
		{
			name:                "nok, mongodb without a URL",
			givenBackend:        "mongodb",
			expectErrorContains: []string{"-backend mongodb: needs a server: -backend-url mongodb://host:port/..., or " + mongoURLEnv},
		},
		{
			name:                "nok, firestore without a project",
			givenBackend:        "firestore",
			expectErrorContains: []string{"-backend firestore: needs a Google Cloud project: -backend-url PROJECT_ID, or " + firestoreProjectEnv, firestoreEmuEnv},
		},
		{
			name:         "nok, unreachable firestore emulator",
			givenBackend: "firestore", givenEnv: map[string]string{firestoreEmuEnv: "127.0.0.1:1"},
			expectErrorContains: []string{
				"-backend firestore: cannot reach Firestore project " + emulatorProjectID + ", collection sessions, on the emulator at 127.0.0.1:1: no answer within 300ms",
			},
		},
		{
			name:         "nok, memory with a URL",
			givenBackend: "memory", givenURL: "redis://127.0.0.1:6379",
			expectErrorContains: []string{"-backend memory: takes no -backend-url"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := newApp(appConfig{
				Backend:    tt.givenBackend,
				BackendURL: tt.givenURL,
				Getenv:     func(k string) string { return tt.givenEnv[k] },
				Secret:     testSecret,
				Logger:     slog.New(slog.DiscardHandler),
			})
			if err == nil {
				t.Fatal("newApp: no error")
			}
			for _, want := range tt.expectErrorContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("newApp: error %q lacks %q", err, want)
				}
			}
		})
	}

	var stderr bytes.Buffer
	err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-backend", "reddis"}, func(string) string { return "" }, &stderr)
	if err == nil || !strings.Contains(err.Error(), `unknown -backend "reddis"`) {
		t.Fatalf("run -backend reddis: error %v", err)
	}
}

// TestMainExitCode runs main in a child process: a bad -backend value or
// an unreachable server is an error message and exit code 1.
func TestMainExitCode(t *testing.T) {
	for _, tt := range []struct {
		args, want string
	}{
		{"-backend nope", `example: unknown -backend "nope"; available: firestore, memcache, memory, mongodb, postgres, redis`},
		{"-backend redis -backend-url redis://127.0.0.1:1/0", "example: -backend redis (Redis at redis://127.0.0.1:1/0): "},
		{"-backend-url redis://127.0.0.1:1/0", "cannot reach the server at 127.0.0.1:1"},
		{"-config example/sessions.yaml -backend memory", "example: -config replaces -backend: give one or the other"},
		{"-config nosuch.yaml", "nosuch.yaml"},
	} {
		t.Run(tt.args, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), mainArgsEnv+"=-addr 127.0.0.1:0 "+tt.args, secretEnv+"=")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("main %s: %v, want exit code 1; output:\n%s", tt.args, err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("main %s printed:\n%s\nwant %q", tt.args, out, tt.want)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	_, closeApp, err := newApp(appConfig{Logger: logger})
	if err != nil {
		t.Fatalf("newApp without a secret: %v", err)
	}
	if err := closeApp(); err != nil {
		t.Errorf("closing the app: %v", err)
	}
	if !strings.Contains(logs.String(), "SESSIONPLUS_SECRET is not set") || !strings.Contains(logs.String(), "will not survive a restart") {
		t.Errorf("no notice about the random secret key; logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `backend=redis where="embedded miniredis at 127.0.0.1:`) {
		t.Errorf("the startup logs do not name the backend:\n%s", logs.String())
	}

	_, _, err = newApp(appConfig{Secret: "too short", Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "SESSIONPLUS_SECRET is 9 bytes") {
		t.Errorf("newApp with a short secret: error %v", err)
	}
}

// TestSecretSurvivesRestart checks that, with the same secret, a second
// instance of the app reads the cookies the first one wrote.
func TestSecretSurvivesRestart(t *testing.T) {
	b := newBrowser(t, startApp(t, appConfig{}))
	body := b.getOK("/prefs")
	token := csrfToken(t, body)
	if res, _ := b.post("/prefs", url.Values{"csrf_token": {token}, "theme": {"sepia"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /prefs: status %d", res.StatusCode)
	}
	second := startApp(t, appConfig{})
	b2 := newBrowser(t, second)
	b2.jar.SetCookies(b2.base, b.jar.Cookies(b.base))
	if body := b2.getOK("/prefs"); !strings.Contains(body, `class="theme-sepia"`) || visits(t, body) != 2 {
		t.Errorf("a second instance with the same secret lost the data cookie:\n%s", body)
	}
}

// TestConfigFile runs the app on a configuration file: the sessions, their
// backends and the environment variable of the secret key come from it.
func TestConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sessions.yaml")
	if err := os.WriteFile(file, []byte(`
secret_keys_env: [EXAMPLE_TEST_SECRET]
sessions:
  - {cookie_name: csrf, session_type: secure_cookie, session_fields: [csrf_token]}
  - {cookie_name: session, session_type: memory, session_fields: [user_id, user_data], session_lifetime: 2h}
  - {cookie_name: data, session_type: secure_cookie, session_fields: auto}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EXAMPLE_TEST_SECRET", testSecret)
	srv := startApp(t, appConfig{ConfigFile: file})
	b := newBrowser(t, srv)
	b.login("erin", false)
	if body := b.getOK("/where"); !strings.Contains(body, "memory") || !strings.Contains(body, "-config "+file) {
		t.Errorf("the where page does not show the file's memory session:\n%s", body)
	}

	t.Setenv("EXAMPLE_TEST_SECRET", "")
	_, _, err := newApp(appConfig{ConfigFile: file, Context: t.Context()})
	if err == nil || !strings.Contains(err.Error(), "EXAMPLE_TEST_SECRET") || !strings.Contains(err.Error(), file) {
		t.Errorf("a missing secret: err = %v, want one naming the file and the variable", err)
	}
}
