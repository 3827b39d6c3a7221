package main

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var handleInput = regexp.MustCompile(`name="handle" value="([^"]+)"`)

// handles returns the handles of the sign-out buttons of /sessions.
func handles(body string) []string {
	var out []string
	for _, m := range handleInput.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// loggedInAs returns who the home page says is logged in, "" for nobody.
func (b *browser) loggedInAs() string {
	b.t.Helper()
	body := b.getOK("/")
	m := regexp.MustCompile(`Logged in as <strong>([^<]+)</strong>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestYourSessions: alice logs in on three browsers and bob on one. The
// "your sessions" page of alice lists her three, marks the browser showing
// it, signs out one of the others and then all the others; a handle of
// bob's sent by alice's browser signs out nothing.
func TestYourSessions(t *testing.T) {
	srv := startApp(t, appConfig{})
	a1, a2, a3, bob := newBrowser(t, srv), newBrowser(t, srv), newBrowser(t, srv), newBrowser(t, srv)
	for _, b := range []*browser{a1, a2, a3} {
		b.login("alice", false)
	}
	bob.login("bob", false)

	if res, _ := newBrowser(t, srv).get("/sessions"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Errorf("GET /sessions logged out: status %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
	}
	page := a1.getOK("/sessions")
	if rows := strings.Count(page, "<tr>") + strings.Count(page, `<tr class="this">`); rows != 1+3 {
		t.Fatalf("alice's /sessions has %d rows, want a header and her 3 sessions:\n%s", rows, page)
	}
	if n := strings.Count(page, "this browser"); n != 1 {
		t.Errorf("alice's /sessions marks %d rows as this browser, want 1", n)
	}
	hs := handles(page)
	if len(hs) != 2 {
		t.Fatalf("alice's /sessions has %d sign-out buttons, want 2 (not one for this browser)", len(hs))
	}
	bobHandles := handles(bob.getOK("/sessions"))
	if len(bobHandles) != 0 || !strings.Contains(bob.getOK("/sessions"), `id="no-others"`) {
		t.Errorf("bob's /sessions offers %d sign-outs, want none: he is logged in on one browser", len(bobHandles))
	}

	// A handle is useless as a cookie.
	thief := newBrowser(t, srv)
	thief.jar.SetCookies(thief.base, []*http.Cookie{{Name: "session", Value: hs[0]}})
	if who := thief.loggedInAs(); who != "" {
		t.Errorf("a browser holding a handle as its session cookie is logged in as %q", who)
	}

	// A browser's own handle, which a client can work out from its own
	// cookie, is refused: Log out ends this browser's session. a1 lists a2
	// and a3, a2 lists a1 and a3: what only a1 lists is a2's.
	page2 := a2.getOK("/sessions")
	own := ""
	for _, h := range hs {
		if !slices.Contains(handles(page2), h) {
			own = h
		}
	}
	if res, body := a2.post("/sessions/revoke", url.Values{"csrf_token": {csrfToken(t, page2)}, "handle": {own}}); res.StatusCode != http.StatusBadRequest || a2.loggedInAs() != "alice" {
		t.Errorf("a browser signing out its own session by handle: status %d (want 400), logged in as %q (want alice); body:\n%s", res.StatusCode, a2.loggedInAs(), body)
	}

	// Sign out one device.
	csrf := csrfToken(t, page)
	res, body := a1.post("/sessions/revoke", url.Values{"csrf_token": {csrf}, "handle": {hs[0]}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /sessions/revoke: status %d, want 303; body:\n%s", res.StatusCode, body)
	}
	out := 0
	for _, b := range []*browser{a2, a3} {
		if b.loggedInAs() == "" {
			out++
		}
	}
	if out != 1 || a1.loggedInAs() != "alice" {
		t.Fatalf("after signing out one device, %d of alice's other browsers are logged out (want 1), and this one is logged in as %q", out, a1.loggedInAs())
	}
	if res, _ := a1.post("/sessions/revoke", url.Values{"csrf_token": {csrf}, "handle": {hs[0]}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("signing out the same device again: status %d, want 404", res.StatusCode)
	}
	if res, _ := a1.post("/sessions/revoke", url.Values{"handle": {hs[1]}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a sign-out without the CSRF token: status %d, want 403", res.StatusCode)
	}

	// A handle of someone else's session, sent by alice's browser, is not
	// hers: nothing is signed out.
	bob2 := newBrowser(t, srv)
	bob2.login("bob", false)
	bobs := handles(bob.getOK("/sessions"))
	if len(bobs) != 1 {
		t.Fatalf("bob's /sessions with a second browser has %d sign-out buttons, want 1", len(bobs))
	}
	if res, _ := a1.post("/sessions/revoke", url.Values{"csrf_token": {csrf}, "handle": {bobs[0]}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("alice signing out a session of bob's: status %d, want 404", res.StatusCode)
	}
	if who := bob2.loggedInAs(); who != "bob" {
		t.Errorf("bob's second browser is logged in as %q after alice sent its handle, want bob", who)
	}

	// Sign out all the others.
	res, body = a1.post("/sessions/revoke-others", url.Values{"csrf_token": {csrf}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /sessions/revoke-others: status %d, want 303; body:\n%s", res.StatusCode, body)
	}
	for i, b := range []*browser{a2, a3} {
		if who := b.loggedInAs(); who != "" {
			t.Errorf("alice's browser %d is still logged in as %q after signing out all others", i+2, who)
		}
	}
	page = a1.getOK("/sessions")
	if !strings.Contains(page, "Signed out 1 other session.") || !strings.Contains(page, `id="no-others"`) {
		t.Errorf("after signing out all others, /sessions says:\n%s", page)
	}
	if who := bob.loggedInAs(); who != "bob" {
		t.Errorf("bob's browser is logged in as %q after alice signed out her other sessions, want bob", who)
	}
}
