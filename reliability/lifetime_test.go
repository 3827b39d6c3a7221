package reliability

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
)

// The attacks of "Sessions the server controls": a client editing or
// replaying cookie bytes to lengthen its session or make it permanent, and
// a request in flight bringing back a session that a log-out or login just
// ended. Each runs on every backend.

// forgePermanent returns an id cookie edited to claim a permanent session
// whose keep-alive is due: "<id>.p0" in the form the cookie had before its
// terms were bound to the record, "<id>.p<created>.0" since.
func forgePermanent(v string) string {
	f := strings.Split(v, ".")
	switch len(f) {
	case 2:
		return f[0] + ".p0"
	case 3:
		return f[0] + ".p" + f[1][1:] + ".0"
	}
	return v
}

// storedExpiry returns the expiry of the record of a session cookie, read
// through the driver from the backend.
func storedExpiry(t *testing.T, b *backend, cookie string) (time.Time, bool) {
	t.Helper()
	key := storageKey(b.scope, cookie)
	if key == "" {
		t.Fatalf("%q is not an id cookie of the current form", cookie)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec, err := b.openStore(t, tuning{}).Load(ctx, key)
	if errors.Is(err, sessionplus.ErrNotFound) {
		return time.Time{}, false
	}
	if err != nil {
		t.Fatalf("reading the record back: %v", err)
	}
	return rec.Expiry, true
}

// persistent reports the persistent cookies named name in r.
func persistentCookie(r reply, name string) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == name && (c.MaxAge > 0 || !c.Expires.IsZero() && c.Expires.After(time.Now())) {
			return c
		}
	}
	return nil
}

// TestAttackForgedPermanentFlag: rewriting the id cookie's suffix to
// claim permanence (default configuration, no use_signer) neither moves the
// stored expiry to session_permanent_lifetime nor brings back a persistent
// cookie; the edited cookie is a fresh session.
func TestAttackForgedPermanentFlag(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) {
			a, b, _ := attackApp(t, kind)
			victim := a.browser()
			user := "victim-" + randomHex(4)
			victim.login(t, user)
			real := victim.cookie(sessionCookie)
			thief := a.browser()
			thief.setCookie(sessionCookie, forgePermanent(real))
			for _, path := range []string{"/prefs", "/me"} { // a keep-alive only, then a read
				r := thief.do("GET", path, nil)
				if r.status != http.StatusOK {
					t.Fatalf("%s with the forged cookie: %s", path, r)
				}
				if c := persistentCookie(r, sessionCookie); c != nil {
					t.Errorf("%s with the forged cookie brought back a persistent cookie (Max-Age %d)", path, c.MaxAge)
				}
				if path == "/me" && r.body["user"] != nil {
					t.Errorf("the forged cookie reads the victim's session: %s", r)
				}
			}
			exp, ok := storedExpiry(t, b, real)
			if !ok {
				t.Fatal("the victim's record is gone")
			}
			if left := time.Until(exp); left > sessionplus.DefaultLifetime+5*time.Second {
				t.Errorf("the victim's record now expires in %v: the forged cookie stretched it past session_lifetime (%v)",
					left.Round(time.Second), sessionplus.DefaultLifetime)
			}
			if r := victim.do("GET", "/terms/"+sessionCookie, nil); r.status != http.StatusOK || r.body["permanent"] != false {
				t.Errorf("the victim's session after the forgery: %s, want not permanent", r)
			}
			report(t, "backend", kind, "stored lifetime after forging", "unchanged")
		})
	}
}

// TestAttackForgedHint: replacing the keep-alive hint of a valid secure
// cookie by "permanent, due now" makes the server decode the cookie and
// take its lifetime from the record inside: no newly signed permanent
// cookie comes back.
func TestAttackForgedHint(t *testing.T) {
	a, _, _ := attackApp(t, "memory")
	br := a.browser()
	br.login(t, "hint-"+randomHex(4))
	if r := br.do("POST", "/prefs", url.Values{"theme": {"dark"}}); r.status != http.StatusOK {
		t.Fatal(r)
	}
	for _, name := range []string{dataCookie, csrfCookie} {
		v := br.cookie(name)
		i := strings.LastIndexByte(v, '~')
		if i < 0 {
			t.Fatalf("the %s cookie %q has no hint", name, v)
		}
		forger := a.browser()
		forger.setCookie(name, v[:i]+"~p0")
		r := forger.do("GET", "/me", nil)
		if r.status != http.StatusOK {
			t.Fatal(r)
		}
		if c := persistentCookie(r, name); c != nil {
			t.Errorf("a %s cookie with a forged hint was re-signed as permanent (Max-Age %d)", name, c.MaxAge)
		}
		if r := forger.do("GET", "/terms/"+name, nil); r.status != http.StatusOK || r.body["permanent"] != false {
			t.Errorf("after the forged hint the %s session is %s, want not permanent", name, r)
		}
	}
}

// TestAttackGarbageCookieInheritance: a garbage cookie claiming permanence
// sent with the login request does not make the new server-side session
// permanent.
func TestAttackGarbageCookieInheritance(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) {
			a, b, _ := attackApp(t, kind)
			br := a.browser()
			br.setCookie(dataCookie, "x~p1")
			r := br.do("POST", "/login", url.Values{"user": {"garbage-" + randomHex(4)}})
			if r.status != http.StatusOK {
				t.Fatal(r)
			}
			if c := persistentCookie(r, sessionCookie); c != nil {
				t.Errorf("the login beside a garbage cookie is permanent (Max-Age %d)", c.MaxAge)
			}
			exp, ok := storedExpiry(t, b, br.cookie(sessionCookie))
			if !ok {
				t.Fatal("the login stored nothing")
			}
			if left := time.Until(exp); left > sessionplus.DefaultLifetime+5*time.Second {
				t.Errorf("the new session is stored for %v, past session_lifetime", left.Round(time.Second))
			}
		})
	}
}

// TestAttackInFlightRevival: request A reads the session; request B logs
// out (or logs in again); then A changes the session. The ended id must
// never load anything again, A answers without a 5xx, and the backend holds
// no record of it.
func TestAttackInFlightRevival(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) {
			a, b, _ := attackApp(t, kind)
			revived := 0
			for _, end := range []string{"/logout", "/login"} {
				for _, mode := range []string{"set", "overwrite", "delete", "regenerate", "save"} {
					br := a.browser()
					br.login(t, "inflight-"+randomHex(4))
					old := br.cookie(sessionCookie)
					gate := "revive-" + randomHex(6)
					done := make(chan reply, 1)
					go func() {
						done <- br.doHeader("POST", "/naive", url.Values{"mode": {mode}}, http.Header{"X-Gate": {gate}})
					}()
					g := a.gate(gate)
					if err := <-g.loaded; err != nil { // A has read the session
						t.Fatalf("request A's read: %v", err)
					}
					other := a.browser() // B: the same browser, another tab
					other.setCookie(sessionCookie, old)
					var form url.Values
					if end == "/login" {
						form = url.Values{"user": {"again-" + randomHex(4)}}
					}
					if r := other.do("POST", end, form); r.status != http.StatusOK {
						t.Fatalf("%s: %s", end, r)
					}
					close(g.release) // A goes on and changes the session
					r := <-done
					if r.status >= 500 {
						t.Errorf("%s during %s: request A answered %s", end, mode, r)
					}
					replay := a.browser()
					replay.setCookie(sessionCookie, old)
					if got := replay.do("GET", "/dump", nil).fields(); len(serverOnly(got)) != 0 {
						t.Errorf("after %s, request A (%s) brought the old id back: it loads %v", end, mode, got)
						revived++
					}
					if _, ok := storedExpiry(t, b, old); ok {
						t.Errorf("after %s, request A (%s) left a record under the old id", end, mode)
					}
				}
			}
			report(t, "backend", kind, "interleavings", 10, "revived", revived)
		})
	}
}

// serverOnly keeps the fields of the server-side session.
func serverOnly(fields map[string]string) map[string]string {
	out := map[string]string{}
	for _, f := range serverFields {
		if v, ok := fields[f]; ok {
			out[f] = v
		}
	}
	return out
}

// TestAbsoluteLifetime: with session_absolute_lifetime on every session, an
// active user's sessions end that long after the login, however often they
// are used; no stored expiry passes that point; the next request is a fresh
// session, never a 5xx.
func TestAbsoluteLifetime(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) {
			// memcached drops an item up to about 5 s before the record's
			// expiry (the driver's 3 s margin, its rounding to whole seconds
			// and memcached's clock tick: drivers/memcache, # Expiry), and a
			// record that ends within the margin is not stored at all, so
			// memcache gets a longer absolute lifetime and tolerance here.
			absolute, earlyOK := 5*time.Second, time.Second
			if kind == "memcache" {
				absolute, earlyOK = 10*time.Second, 6*time.Second
			}
			b := newBackend(t, kind, false)
			a := newApp(t, appConfig{server: b.driverOptions(t, tuning{}),
				common: sessionplus.Options{"session_absolute_lifetime": absolute.String(), "session_lifetime": "1h"}})
			br := a.browser()
			start := time.Now().Truncate(time.Second) // creation times are kept to the second
			br.login(t, "absolute-"+randomHex(4))
			if r := br.do("POST", "/prefs", url.Values{"theme": {"dark"}}); r.status != http.StatusOK {
				t.Fatal(r)
			}
			if exp, ok := storedExpiry(t, b, br.cookie(sessionCookie)); !ok || exp.After(start.Add(absolute+time.Second)) {
				t.Errorf("the record is stored until login%+v (%v), past the absolute lifetime of %v", exp.Sub(start), ok, absolute)
			}
			for {
				me := br.do("GET", "/me", nil)
				prefs := br.do("GET", "/prefs", nil)
				if me.status != http.StatusOK || prefs.status != http.StatusOK {
					t.Fatalf("an active session near its absolute deadline: %s, %s", me, prefs)
				}
				if me.body["user"] == nil && prefs.body["theme"] == "" && prefs.body["csrf"] == "" {
					break
				}
				if me.body["user"] == nil || prefs.body["theme"] == "" || prefs.body["csrf"] == "" {
					// One ended before the others: allowed only at the deadline.
					if early := absolute - time.Since(start); early > earlyOK {
						t.Fatalf("a session ended %v before its absolute deadline: user %v, theme %v, csrf %v",
							early, me.body["user"], prefs.body["theme"], prefs.body["csrf"])
					}
				}
				if late := time.Since(start) - absolute; late > time.Second {
					t.Fatalf("still served %v after the absolute deadline: user %v, theme %v, csrf %v",
						late, me.body["user"], prefs.body["theme"], prefs.body["csrf"])
				}
				time.Sleep(100 * time.Millisecond) // an active user's pace
			}
			if early := absolute - time.Since(start); early > earlyOK {
				t.Errorf("the sessions ended %v before their absolute deadline", early)
			}
			report(t, "backend", kind, "ended after", time.Since(start).Round(100*time.Millisecond))
		})
	}
}
