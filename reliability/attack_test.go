package reliability

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math/bits"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// forgedID returns a well-formed id cookie of a session the backend never
// held.
func forgedID() (id, cookie string) {
	b := make([]byte, 32)
	rand.Read(b)
	id = base64.RawURLEncoding.EncodeToString(b)
	return id, id + ".s" + strconv.FormatInt(time.Now().Unix(), 36) + "." + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 36)
}

// attackApp returns an app whose server-side session is on kind, and an
// inspector of its backend (nil for memory).
func attackApp(t *testing.T, kind string) (*app, *backend, *inspector) {
	b := newBackend(t, kind, false)
	a := newApp(t, appConfig{server: b.driverOptions(t, tuning{})})
	return a, b, b.inspect(t)
}

// stored reports whether the backend holds the record of a session cookie.
func stored(b *backend, ins *inspector, cookie string) bool {
	_, ok := ins.record(storageKey(b.scope, cookie))
	return ok
}

// TestFixation: an id the backend does not know is never adopted, whether
// the browser only reads, writes a field or logs in with it; and an
// attacker who plants the id of a real session of their own in a victim's
// browser gains nothing when the victim logs in: the session moves to a
// new id and the planted one loads nothing any more.
func TestFixation(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) {
			a, b, ins := attackApp(t, kind)
			checked := 0
			for _, path := range []string{"/me", "/set", "/login"} {
				id, planted := forgedID()
				v := a.browser()
				v.setCookie(sessionCookie, planted)
				var r reply
				switch path {
				case "/me":
					r = v.do("GET", "/me", nil)
				case "/set":
					r = v.do("POST", "/set", url.Values{"field": {"note"}, "value": {"fixation-" + randomHex(4)}})
				case "/login":
					r = v.do("POST", "/login", url.Values{"user": {"fixed-" + randomHex(4)}})
				}
				if r.status != http.StatusOK {
					t.Fatalf("%s with a planted id: %s", path, r)
				}
				if got := idOf(v.cookie(sessionCookie)); got == id {
					t.Errorf("%s: the planted id was adopted", path)
				}
				if stored(b, ins, planted) {
					t.Errorf("%s: the backend holds a record under the planted id", path)
				}
				checked++
			}

			attacker := a.browser()
			attacker.login(t, "attacker-"+randomHex(4))
			planted := attacker.cookie(sessionCookie)
			victim := a.browser()
			victim.setCookie(sessionCookie, planted)
			user := "victim-" + randomHex(4)
			victim.login(t, user)
			if idOf(victim.cookie(sessionCookie)) == idOf(planted) {
				t.Errorf("the victim logged in under the id the attacker planted")
			}
			if r := attacker.do("GET", "/me", nil); r.status != http.StatusOK || r.body["user"] != nil {
				t.Errorf("the attacker's planted id after the victim's login: %s, want a fresh session", r)
			}
			if stored(b, ins, planted) {
				t.Errorf("the planted id still has a record after the victim's login")
			}
			checked++
			report(t, "backend", kind, "planted ids", checked, "adopted", 0)
		})
	}
}

// TestRegenerateOldID: after Regenerate (a login), the old id loads
// nothing, in the app and in the backend, and the session lives on under
// the new one.
func TestRegenerateOldID(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) {
			a, b, ins := attackApp(t, kind)
			br := a.browser()
			br.login(t, "first-"+randomHex(4))
			note := "kept-" + randomHex(6)
			if r := br.do("POST", "/set", url.Values{"field": {"note"}, "value": {note}}); r.status != http.StatusOK {
				t.Fatal(r)
			}
			old := br.cookie(sessionCookie)
			user := "second-" + randomHex(4)
			br.login(t, user)
			now := br.cookie(sessionCookie)
			if idOf(old) == idOf(now) {
				t.Fatal("the login did not change the id")
			}
			replay := a.browser()
			replay.setCookie(sessionCookie, old)
			if got := replay.do("GET", "/dump", nil).fields(); got["note"] != "" || got["user_id"] != "" {
				t.Errorf("the old id still loads %v", got)
			}
			if stored(b, ins, old) {
				t.Errorf("the backend still holds the record of the old id")
			}
			if got := br.do("GET", "/dump", nil).fields(); got["note"] != note || got["user_id"] != user {
				t.Errorf("under the new id the session holds %v, want note %q and user %q", got, note, user)
			}
			report(t, "backend", kind, "old id loads", "nothing")
		})
	}
}

// cookieApps returns an app with the two secure cookies and two use_signer
// sessions that share one store and key prefix, under the given keys.
func cookieApp(t *testing.T, shared *memory.Store, keys ...[]byte) *app {
	return newApp(t, appConfig{keys: keys, extra: []sessionplus.Options{
		{"cookie_name": "signed", "session_type": "memory", "store": shared, "key_prefix": "sg", "use_signer": true,
			"session_fields": []string{"x_signed"}},
		{"cookie_name": "signed2", "session_type": "memory", "store": shared, "key_prefix": "sg", "use_signer": true,
			"session_fields": []string{"x_signed2"}},
	}})
}

// fill sets a field of every session of a cookieApp and returns the values.
func fill(t *testing.T, br *browser) map[string]string {
	want := map[string]string{}
	for _, f := range []string{"csrf_token", "theme", "x_signed", "x_signed2"} {
		v := f + "-" + randomHex(6)
		if r := br.do("POST", "/set", url.Values{"field": {f}, "value": {v}}); r.status != http.StatusOK {
			t.Fatalf("set %s: %s", f, r)
		}
		want[f] = v
	}
	return want
}

// TestMovedCookie: a cookie value sent under another cookie name is
// rejected: secure cookies bind their name in the MAC, use_signer ids in
// their signature (the two signed sessions share a store and a key prefix,
// so only the signature keeps one's id from loading the other's record).
func TestMovedCookie(t *testing.T) {
	a := cookieApp(t, memory.New(), keyA)
	br := a.browser()
	fill(t, br)
	names := []string{csrfCookie, dataCookie, "signed", "signed2"}
	moved := 0
	for _, from := range names {
		for _, to := range names {
			if from == to {
				continue
			}
			x := a.browser()
			x.setCookie(to, br.cookie(from))
			r := x.do("GET", "/dump", nil)
			if r.status != http.StatusOK || len(r.fields()) != 0 {
				t.Errorf("the %s cookie's value sent as %s: %s, want a fresh session", from, to, r)
			}
			moved++
		}
	}
	report(t, "moves", moved, "accepted", 0)
}

// TestExpiredSecureCookie: a secure cookie whose record has expired is
// rejected even if the browser keeps sending it (the expiry is inside the
// signed, encrypted record; the cookie itself ends with the browser
// session).
func TestExpiredSecureCookie(t *testing.T) {
	a := newApp(t, appConfig{dataLifetime: "1s"})
	br := a.browser()
	theme := "expiring-" + randomHex(6)
	// The expiry is kept to the second: start on a full second, so that
	// the record lives for a whole second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	if r := br.do("POST", "/prefs", url.Values{"theme": {theme}}); r.status != http.StatusOK {
		t.Fatal(r)
	}
	value := br.cookie(dataCookie)
	if got := br.do("GET", "/prefs", nil); got.body["theme"] != theme {
		t.Fatalf("before the expiry: %s", got)
	}
	time.Sleep(1200 * time.Millisecond)
	replay := a.browser()
	replay.setCookie(dataCookie, value)
	r := replay.do("GET", "/prefs", nil)
	if r.status != http.StatusOK || r.body["theme"] != "" {
		t.Errorf("the expired cookie sent again: %s, want no theme", r)
	}
	expired := false
	for _, ck := range r.cookies {
		expired = expired || (ck.Name == dataCookie && ck.MaxAge < 0)
	}
	if !expired {
		t.Errorf("the response does not expire the stale %s cookie", dataCookie)
	}
	report(t, "expired cookie sent after", "1.2s (lifetime 1s)", "accepted", 0)
}

// TestKeyRotation: with a new key put in front, cookies made under the old
// key still decode and new ones are made under the new key; once the old
// key is dropped, its cookies no longer decode (a fresh session), and the
// new key's still do. Secure cookies and use_signer ids alike.
func TestKeyRotation(t *testing.T) {
	shared := memory.New()
	old := cookieApp(t, shared, keyA)
	br := old.browser()
	want := fill(t, br)
	oldCookies := map[string]string{}
	for _, n := range []string{csrfCookie, dataCookie, "signed", "signed2"} {
		oldCookies[n] = br.cookie(n)
	}

	rotated := cookieApp(t, shared, keyB, keyA) // keyB new, keyA still accepted
	rb := rotated.browser()
	for n, v := range oldCookies {
		rb.setCookie(n, v)
	}
	if got := rb.do("GET", "/dump", nil).fields(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the cookies of the old key under [new, old]: %v, want %v", got, want)
	}
	want = fill(t, rb) // rewrites every cookie, under the new key
	for n, v := range oldCookies {
		if rb.cookie(n) == v {
			t.Errorf("the %s cookie was not rewritten", n)
		}
	}

	dropped := cookieApp(t, shared, keyB) // keyA dropped
	ob := dropped.browser()
	for n, v := range oldCookies {
		ob.setCookie(n, v)
	}
	if got := ob.do("GET", "/dump", nil).fields(); len(got) != 0 {
		t.Errorf("the cookies of the dropped key still decode: %v", got)
	}
	nb := dropped.browser()
	for _, n := range []string{csrfCookie, dataCookie, "signed", "signed2"} {
		nb.setCookie(n, rb.cookie(n))
	}
	if got := nb.do("GET", "/dump", nil).fields(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the cookies of the new key under [new]: %v, want %v", got, want)
	}
	report(t, "cookies checked per key set", 4, "old key after it was dropped", "rejected", "new key", "accepted")
}

// TestIDs: session ids are 256 random bits (43 base64url characters, all
// distinct, their bits balanced), and each backend stores a record under
// key_prefix ":" SHA-256(id), never under the id: no stored key and no
// stored record holds a raw id.
func TestIDs(t *testing.T) {
	const perKind = 40
	var all []string
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			a, b, ins := attackApp(t, kind)
			ids := map[string]bool{}
			for i := range perKind {
				br := a.browser()
				br.login(t, fmt.Sprintf("ids%d-%s", i, randomHex(4)))
				ids[br.cookie(sessionCookie)] = true
			}
			if len(ids) != perKind {
				t.Errorf("%d logins gave %d distinct ids", perKind, len(ids))
			}
			keys := ins.keys()
			hashed := map[string]bool{}
			for ck := range ids {
				hashed[storageKey(b.scope, ck)] = true
				all = append(all, idOf(ck))
			}
			for k, raw := range keys {
				if !hashed[k] {
					t.Errorf("the backend holds a key %q that is not the hash of an id handed out", k)
				}
				for id := range ids {
					if strings.Contains(k, id) || bytes.Contains(raw, []byte(id)) {
						t.Errorf("the backend holds the raw id %q (in key %q or its record)", id, k)
					}
				}
			}
			if len(keys) != perKind {
				t.Errorf("the backend holds %d records, want %d", len(keys), perKind)
			}
			report(t, "backend", kind, "ids", len(ids), "stored keys", len(keys), "stored under SHA-256(id)", len(keys),
				"raw ids found in the backend", 0)
		})
	}
	if len(all) == 0 {
		return
	}
	ones, total := 0, 0
	for _, id := range all {
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if len(id) != 43 || err != nil || len(b) != 32 {
			t.Errorf("id %q is not 32 bytes of base64url (err %v)", id, err)
			continue
		}
		for _, x := range b {
			ones += bits.OnesCount8(x)
		}
		total += 256
	}
	frac := float64(ones) / float64(total)
	// With n bits the fraction of ones is 0.5 ± 0.5/sqrt(n): 0.02 is
	// several standard deviations for the ~50,000 bits here.
	if frac < 0.48 || frac > 0.52 {
		t.Errorf("%d of %d id bits are ones (%.4f): not random", ones, total, frac)
	}
	report(t, "ids", len(all), "bits per id", 256, "fraction of one bits", fmt.Sprintf("%.4f", frac))
}

// TestLogsOnFailures makes the library log on every path that logs (failed
// saves, failed deletes, failed keep-alives, a cookie over the size limit)
// with sessions that hold known values, and checks these lines for every
// id, storage key, cookie and value the test used. (TestMain checks every
// line of the whole run the same way.)
func TestLogsOnFailures(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			b := newBackend(t, kind, true)
			tu := tuning{memcacheTimeout: "200ms", firestoreTimeout: "300ms", mongoQuery: "serverSelectionTimeoutMS=300"}
			srv := b.driverOptions(t, tu)
			srv["session_lifetime"] = "4s" // a keep-alive due every 400ms
			a := newApp(t, appConfig{server: srv, deadline: 2 * time.Second})
			from := logs.len()
			br := a.browser()
			br.login(t, "logged-"+randomHex(6))
			note := "private-" + randomHex(8)
			if r := br.do("POST", "/set", url.Values{"field": {"note"}, "value": {note}}); r.status != http.StatusOK {
				t.Fatal(r)
			}
			id := idOf(br.cookie(sessionCookie))
			mine := []string{id, storageKey(b.scope, br.cookie(sessionCookie)), br.cookie(sessionCookie), note}

			time.Sleep(450 * time.Millisecond) // a keep-alive is due
			b.via.set(refuse)
			br.do("GET", "/prefs", nil)                                                 // keep-alive fails
			br.do("POST", "/set", url.Values{"field": {"note"}, "value": {"x" + note}}) // load fails, change refused
			close(a.gate("open").release)
			br.doHeader("POST", "/naive", url.Values{"mode": {"set"}}, http.Header{"X-Gate": {"open"}}) // save refused
			b.via.set(pass)
			big := strings.Repeat("B", 5000) + note
			br.do("POST", "/prefs", url.Values{"theme": {big}}) // the data cookie is too large
			b.via.set(refuse)
			br.do("POST", "/logout", nil) // the delete fails
			b.via.set(pass)

			lines := logs.since(from)
			if len(lines) < 4 {
				t.Errorf("only %d log lines: the failures did not log", len(lines))
			}
			for _, line := range lines {
				for _, s := range mine {
					if strings.Contains(line, s) {
						t.Errorf("a log line holds %q: %s", s, line)
					}
				}
			}
			report(t, "backend", kind, "log lines of failures", len(lines), "holding an id, key, cookie or value", 0)
		})
	}
}
