package main

import (
	"cmp"
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser test drives the app in a real headless Chromium, Debian's
// chromium package, which ./scripts/test installs (scripts/backends/chromium.sh).

const (
	// defaultChromium is where Debian's chromium package puts the browser.
	defaultChromium = "/usr/bin/chromium"
	// chromiumEnv overrides defaultChromium; ./scripts/test exports it.
	chromiumEnv = "SESSIONPLUS_CHROMIUM"
	// artifactsEnv names the folder the screenshot is saved in; default a
	// temporary folder of the test.
	artifactsEnv = "SESSIONPLUS_ARTIFACTS_DIR"
	// updateScreenshotEnv=1 also copies the screenshot to readmeScreenshot,
	// the picture of the README.
	updateScreenshotEnv = "SESSIONPLUS_UPDATE_SCREENSHOT"
	readmeScreenshot    = "testdata/where.png"

	// browserTimeout bounds the whole test: starting the browser and every
	// step after it.
	browserTimeout = 60 * time.Second
)

// idCookieForm is the form of the session cookie: a 256-bit id in unpadded
// base64url, ".", "p" for a permanent session and its creation time, ".",
// and when the next keep-alive is due, times in base 36. Nothing else: no
// user data.
var idCookieForm = regexp.MustCompile(`^[A-Za-z0-9_-]{43}\.p[0-9a-z]+\.[0-9a-z]+$`)

// chromium returns the browser's path. When it is missing the test is
// skipped, except under CI=true, where that fails it.
func chromium(t *testing.T) string {
	t.Helper()
	path := cmp.Or(os.Getenv(chromiumEnv), defaultChromium)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no browser: %v; under CI=true the browser test must run (./scripts/test installs Debian's chromium)", err)
		}
		t.Skipf("no browser: %v; skipping the browser test (./scripts/test installs it, or: apt-get install chromium)", err)
	}
	return path
}

// startBrowser starts a headless Chromium with a fresh profile and returns
// its context, bounded by browserTimeout; the browser is stopped, and waited
// for, when the test ends.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	profile := t.TempDir() // removed after the browser has exited: cleanups run last-in first-out
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	)
	t.Cleanup(cancelAlloc) // waits for the browser process to exit
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first Do starts the browser and binds it to ctx, which has no
	// timeout; every later step runs under the test's deadline.
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("starting %s: %v", path, err)
		}
	case <-time.After(browserTimeout):
		t.Fatalf("starting %s: no answer after %s", path, browserTimeout)
	}
	version, err := chromedp.Run(ctx, chromedp.Evaluate[string]("navigator.userAgent"))
	if err != nil {
		t.Fatalf("asking the browser its version: %v", err)
	}
	t.Logf("browser started in %s: %s", time.Since(start).Round(time.Millisecond), version)

	deadline, cancel := context.WithTimeout(ctx, browserTimeout-time.Since(start))
	t.Cleanup(cancel)
	return deadline
}

// TestBrowser logs in, checks the cookies the browser holds, bumps the
// visit counter, takes a screenshot of "where is my data", submits a forged
// CSRF token and logs out, all in a real browser, against the app on its
// default backend (the redis driver on the embedded miniredis).
func TestBrowser(t *testing.T) {
	began := time.Now()
	ctx := startBrowser(t)
	srv := startApp(t, appConfig{})
	t.Logf("app on %s", srv.URL)

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	text := func(what, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("browser: %s: reading %s: %v", what, sel, err)
		}
		return strings.Join(strings.Fields(s), " ")
	}
	submit := func(what, button string) int64 {
		t.Helper()
		res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button)))
		if err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
		return res.Status
	}
	cookies := func(what string) map[string]*network.Cookie {
		t.Helper()
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL}})
		if err != nil {
			t.Fatalf("browser: %s: reading the cookies: %v", what, err)
		}
		out := map[string]*network.Cookie{}
		for _, c := range res.Cookies {
			out[c.Name] = c
		}
		return out
	}

	// Log in: type the name, tick "remember me", submit.
	do("open the log-in form",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.Click(chromedp.CSS(`input[name="remember"]`)),
	)
	if status := submit("log in", `form.card button[type="submit"]`); status != 200 {
		t.Fatalf("log in: the page after the redirect has status %d, want 200", status)
	}
	do("wait for the home page", chromedp.WaitVisible(chromedp.CSS("#who.in")))
	if who := text("home after log-in", "#who"); !strings.Contains(who, "Logged in as alice") || !strings.Contains(who, "Remembered for 31 days") {
		t.Fatalf("home after log-in says %q", who)
	}

	// The visit counter goes through "auto" into the data cookie, and goes
	// up with every reload.
	for i, nav := range []chromedp.Action[chromedp.Void]{chromedp.Navigate(srv.URL + "/prefs"), chromedp.Reload(), chromedp.Reload()} {
		do("open /prefs", nav, chromedp.WaitVisible(chromedp.ID("visits")))
		if n, err := strconv.Atoi(text("/prefs", "#visits")); err != nil || n != i+1 {
			t.Errorf("visit %d of /prefs: the counter says %d (%v), want %d", i+1, n, err, i+1)
		}
	}

	// The cookies the browser holds.
	jar := cookies("after log-in")
	names := slices.Sorted(maps.Keys(jar))
	if !slices.Equal(names, []string{"csrf", "data", "session"}) {
		t.Fatalf("the browser holds the cookies %q, want csrf, data and session", names)
	}
	uid := strconv.Itoa(userID("alice"))
	month := time.Now().Add(31 * 24 * time.Hour)
	for _, c := range jar {
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Secure {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %q, Path %q, Secure %v; want HttpOnly, SameSite Lax, Path /, not Secure (plain http)",
				c.Name, c.HTTPOnly, c.SameSite, c.Path, c.Secure)
		}
		// "Remember me" remembers the user's session only: its cookie
		// outlives the browser session, the CSRF cookie does not.
		switch exp := time.Unix(int64(c.Expires), 0); c.Name {
		case "session":
			if c.Session || exp.Before(month.Add(-time.Hour)) || exp.After(month.Add(time.Hour)) {
				t.Errorf("cookie %s: session cookie %v, expires %s; want it to expire in 31 days (remember me)", c.Name, c.Session, exp)
			}
		case "csrf":
			if !c.Session {
				t.Errorf("cookie %s expires %s; want a browser-session cookie (only the user's session is remembered)", c.Name, exp)
			}
		}
		for _, plain := range []string{"alice", uid, "user_id", "user_data"} {
			if strings.Contains(c.Value, plain) {
				t.Errorf("cookie %s holds %q in plaintext: %q", c.Name, plain, c.Value)
			}
		}
	}
	sessionCookie := jar["session"].Value
	if !idCookieForm.MatchString(sessionCookie) {
		t.Errorf("the session cookie is %q; want only an opaque id (%s)", sessionCookie, idCookieForm)
	}

	// Where is my data: the page the README shows.
	do("open /where", chromedp.Navigate(srv.URL+"/where"), chromedp.WaitVisible(chromedp.ID("fields")))
	for sel, want := range map[string]string{
		`tr[data-field="user_id"] td.value`:      uid,
		`tr[data-field="user_id"] td.owner`:      "session",
		`tr[data-field="user_id"] td.backend`:    "redis",
		`tr[data-field="visits"] td.value`:       "3",
		`tr[data-field="visits"] td.owner`:       "data",
		`tr[data-field="csrf_token"] td.owner`:   "csrf",
		`tr[data-field="csrf_token"] td.backend`: "secure_cookie",
	} {
		if got := text("/where", sel); got != want {
			t.Errorf("/where: %s is %q, want %q", sel, got, want)
		}
	}
	if got := text("/where", "#backend"); !strings.Contains(got, "-backend redis: embedded miniredis at 127.0.0.1:") {
		t.Errorf("/where says of the backend: %q", got)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("browser: screenshot of /where: %v", err)
	}
	saveScreenshot(t, shot)

	// A forged CSRF token is refused: 403, and the session is unchanged.
	do("open the log-in form again",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form.card input[name="csrf_token"]').value = "forged"`),
		chromedp.SendKeys(chromedp.ID("username"), "mallory"),
	)
	if status := submit("log in with a forged token", `form.card button[type="submit"]`); status != 403 {
		t.Errorf("log in with a forged token: status %d, want 403", status)
	}
	do("wait for the error page", chromedp.WaitVisible(chromedp.CSS("p.error")))
	if msg := text("the error page", "p.error"); !strings.Contains(msg, "CSRF check failed") {
		t.Errorf("the 403 page says %q", msg)
	}
	if c := cookies("after the forged log-in")["session"]; c == nil || c.Value != sessionCookie {
		t.Errorf("a refused log-in changed the session cookie to %v", c)
	}

	// Your sessions: alice is also logged in on a phone. The page lists
	// both, marks this browser, and its Sign out button ends the phone's.
	phone := newBrowser(t, srv)
	phone.login("alice", false)
	do("open /sessions", chromedp.Navigate(srv.URL+"/sessions"), chromedp.WaitVisible(chromedp.ID("devices")))
	if rows := text("/sessions", "#devices tbody"); strings.Count(rows, "UTC") != 2*3 || !strings.Contains(rows, "this browser") {
		t.Errorf("/sessions lists %q; want two sessions (three times each), one of them this browser", rows)
	}
	if status := submit("sign out the phone", `#devices button.revoke`); status != 200 {
		t.Errorf("sign out the phone: the page after the redirect has status %d, want 200", status)
	}
	do("wait for /sessions after the sign-out", chromedp.WaitVisible(chromedp.ID("no-others")))
	if who := phone.loggedInAs(); who != "" {
		t.Errorf("the phone is still logged in as %q after the browser signed it out", who)
	}

	// Log out with the button of the menu: every session cookie is gone.
	do("open the home page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#who.in")))
	if status := submit("log out", `form[action="/logout"] button`); status != 200 {
		t.Errorf("log out: the page after the redirect has status %d, want 200", status)
	}
	do("wait for the logged-out home page", chromedp.WaitVisible(chromedp.CSS("#who.out")))
	if left := cookies("after log-out"); len(left) != 0 {
		t.Errorf("after log-out the browser still holds the cookies %q", slices.Sorted(maps.Keys(left)))
	}
	t.Logf("browser test took %s", time.Since(began).Round(time.Millisecond))
}

// saveScreenshot writes the screenshot into the artifacts folder and, when
// asked, over the README's picture.
func saveScreenshot(t *testing.T, png []byte) {
	t.Helper()
	dir := os.Getenv(artifactsEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "where.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of /where: %s (%d bytes)", path, len(png))
	if os.Getenv(updateScreenshotEnv) == "1" {
		if err := os.WriteFile(readmeScreenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s=1: copied it to example/%s, the README's picture", updateScreenshotEnv, readmeScreenshot)
	}
}
