package reliability

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// badNumber is how many bad requests TestBadCookies sends.
const badNumber = 10000

// badApp is an app with every kind of session at once: the CSRF and data
// secure cookies, a server-side session on each backend that can run here
// (unsigned ids), and two use_signer sessions that share one store and one
// key prefix, so that an id moved from one to the other, or signed with
// another key, would load a record if its signature did not bind the cookie
// name and the key.
type badApp struct {
	a      *app
	names  []string          // every cookie name
	field  map[string]string // cookie name -> the field it owns
	kind   map[string]string // cookie name -> "secure", "server" or "signed"
	vics   []*victim
	others []*victim // victims of the same app under another secret key
}

type victim struct {
	cookies map[string]string
	fields  map[string]string
}

// sessionsFor returns the sessions of a bad-input app whose signed
// sessions use shared, and whose unsigned server-side sessions use the
// backends given (or memory stores of their own).
func sessionsFor(t *testing.T, backends []*backend, shared *memory.Store) ([]sessionplus.Options, map[string]string, map[string]string) {
	field := map[string]string{csrfCookie: "csrf_token", sessionCookie: "user_id", dataCookie: "theme"}
	kind := map[string]string{csrfCookie: "secure", sessionCookie: "server", dataCookie: "secure"}
	var extra []sessionplus.Options
	for _, b := range backends {
		name := "s_" + strings.ReplaceAll(b.kind, "-", "_")
		o := b.driverOptions(t, tuning{})
		o["cookie_name"], o["session_fields"] = name, []string{"x_" + name}
		extra = append(extra, o)
		field[name], kind[name] = "x_"+name, "server"
	}
	for _, name := range []string{"signed", "signed2"} {
		extra = append(extra, sessionplus.Options{"cookie_name": name, "session_type": "memory", "store": shared,
			"key_prefix": "sg", "use_signer": true, "session_fields": []string{"x_" + name}})
		field[name], kind[name] = "x_"+name, "signed"
	}
	return extra, field, kind
}

func newBadApp(t *testing.T) *badApp {
	shared := memory.New()
	var backends []*backend
	for _, k := range serverKinds {
		if !available(k) {
			if underCI() {
				t.Fatalf("%s: its server is not available; under CI=true every backend must be", k)
			}
			t.Logf("%s: its server is not available here: the app goes without it", k)
			continue
		}
		backends = append(backends, newBackend(t, k, false))
	}
	extra, field, kind := sessionsFor(t, backends, shared)
	ba := &badApp{field: field, kind: kind}
	ba.a = newApp(t, appConfig{server: sessionplus.Options{"session_type": "memory", "store": memory.New()}, extra: extra})

	// The same app under another key: its server-side sessions in memory
	// (their ids are unknown to the first app's backends anyway), its
	// signed ones in the same store as the first app's.
	oextra := make([]sessionplus.Options, 0, len(extra))
	for _, o := range extra {
		if o["session_type"] == "memory" {
			oextra = append(oextra, o)
			continue
		}
		oextra = append(oextra, sessionplus.Options{"cookie_name": o["cookie_name"], "session_type": "memory",
			"store": memory.New(), "session_fields": o["session_fields"]})
	}
	other := newApp(t, appConfig{server: sessionplus.Options{"session_type": "memory", "store": memory.New()}, extra: oextra, keys: [][]byte{keyB}})

	for n := range field {
		ba.names = append(ba.names, n)
	}
	sort.Strings(ba.names)
	for i := range 4 {
		ba.vics = append(ba.vics, ba.makeVictim(t, ba.a, fmt.Sprintf("victim%d", i)))
	}
	for i := range 2 {
		ba.others = append(ba.others, ba.makeVictim(t, other, fmt.Sprintf("other%d", i)))
	}
	return ba
}

// makeVictim logs a browser in and sets a field of every session.
func (ba *badApp) makeVictim(t *testing.T, a *app, name string) *victim {
	br := a.browser()
	v := &victim{fields: map[string]string{}}
	user := name + "-" + randomHex(6)
	br.login(t, user)
	v.fields["user_id"] = user
	for _, n := range ba.names {
		f := ba.field[n]
		if f == "user_id" || f == "csrf_token" {
			continue
		}
		val := "secret-" + n + "-" + randomHex(6)
		if r := br.do("POST", "/set", url.Values{"field": {f}, "value": {val}}); r.status != http.StatusOK {
			t.Fatalf("%s: set %s: %s", name, f, r)
		}
		v.fields[f] = val
	}
	got := br.do("GET", "/dump", nil).fields()
	for f, val := range v.fields {
		if got[f] != val {
			t.Fatalf("%s: field %s reads %q, want %q", name, f, got[f], val)
		}
	}
	v.fields["csrf_token"] = got["csrf_token"]
	v.cookies = map[string]string{}
	for _, n := range ba.names {
		if c := br.cookie(n); c != "" {
			v.cookies[n] = c
		} else {
			t.Fatalf("%s: no %s cookie", name, n)
		}
	}
	return v
}

// secretLen is the length of the part of a cookie value that must be kept
// whole for the cookie to be valid: all of a signed or secure cookie's value
// (up to the keep-alive hint of a secure cookie, after "~", which a browser
// may change at will), and the id of an unsigned server-side session (the
// rest, when it is due and whether it is permanent, is not secret).
func (ba *badApp) secretLen(name, value string) int {
	switch ba.kind[name] {
	case "server":
		return min(43, len(value))
	case "secure":
		if i := strings.LastIndexByte(value, '~'); i >= 0 {
			value = value[:i]
		}
		// Cutting only base64 padding ("=") may leave the same bytes.
		return len(strings.TrimRight(value, "="))
	}
	return len(value)
}

// broken returns a cookie value whose secret part is changed (one
// character, not in the last few of a secure cookie, whose base64 padding
// bits may not count).
func (ba *badApp) broken(r *mrand.Rand, name, v string) string {
	end := ba.secretLen(name, v)
	if ba.kind[name] == "secure" {
		end -= 4
	}
	i := r.IntN(end)
	c := v[i]
	for c == v[i] {
		c = b64chars[r.IntN(len(b64chars))]
	}
	return v[:i] + string(c) + v[i+1:]
}

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func randString(r *mrand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// badCookie returns a category and a Cookie header that holds only bad
// cookies of that category.
func (ba *badApp) badCookie(r *mrand.Rand) (string, string) {
	pick := func() (string, string) { // a victim's cookie: its name and value
		v := ba.vics[r.IntN(len(ba.vics))]
		n := ba.names[r.IntN(len(ba.names))]
		return n, v.cookies[n]
	}
	cats := []string{"random", "truncated", "bit-flipped", "wrongly signed", "swapped", "oversized", "forged", "malformed header"}
	cat := cats[r.IntN(len(cats))]
	var pairs []string
	count := 1 + r.IntN(3)
	for range count {
		switch cat {
		case "random":
			n := ba.names[r.IntN(len(ba.names))]
			if r.IntN(5) == 0 {
				n = "x" + randString(r, "abcdefghij", 4)
			}
			alpha := b64chars + "!#$%&'()*+./:<>?@[]^`{|}~"
			pairs = append(pairs, n+"="+randString(r, alpha, r.IntN(300)))
		case "truncated":
			n, v := pick()
			pairs = append(pairs, n+"="+v[:r.IntN(ba.secretLen(n, v))])
		case "bit-flipped":
			n, v := pick()
			pairs = append(pairs, n+"="+ba.broken(r, n, v))
		case "wrongly signed":
			v := ba.others[r.IntN(len(ba.others))]
			n := ba.names[r.IntN(len(ba.names))]
			if ba.kind[n] == "server" {
				n = "signed" // an unsigned id of another app is merely unknown: see forged
			}
			pairs = append(pairs, n+"="+v.cookies[n])
		case "swapped":
			n, v := pick()
			m := n
			for m == n {
				m = ba.names[r.IntN(len(ba.names))]
			}
			pairs = append(pairs, m+"="+v)
		case "oversized":
			n, v := pick()
			extra := randString(r, b64chars, 4000+r.IntN(12000))
			if r.IntN(2) == 0 {
				pairs = append(pairs, n+"="+ba.broken(r, n, v)+extra)
			} else {
				pairs = append(pairs, n+"="+extra)
			}
		case "forged":
			n := ba.names[r.IntN(len(ba.names))]
			id := make([]byte, 32)
			rand.Read(id)
			idc := base64.RawURLEncoding.EncodeToString(id) + ".s" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 36)
			switch ba.kind[n] {
			case "server":
				pairs = append(pairs, n+"="+idc)
			case "signed":
				pairs = append(pairs, n+"="+idc+"."+randString(r, b64chars, 43))
			default:
				body := fmt.Sprintf("%d|%s|%s", time.Now().Unix(), randString(r, b64chars, 80), randString(r, b64chars, 43))
				pairs = append(pairs, n+"="+base64.URLEncoding.EncodeToString([]byte(body)))
			}
		case "malformed header":
			n, v := pick()
			cut := v[:r.IntN(ba.secretLen(n, v))]
			forms := []string{
				n + `="` + cut + `"`, n + "=", "=" + cut, ";;;", n, n + "=" + cut + ";" + n + "=" + cut,
				n + "= " + cut, n + "=" + cut + "\t", n + "=\x80\xff" + cut, strings.Repeat("a=b; ", 200) + n + "=" + cut,
				n + "=" + strings.ReplaceAll(cut, "A", "%41"), strings.ToUpper(n) + "=" + v,
			}
			pairs = append(pairs, forms[r.IntN(len(forms))])
		}
	}
	return cat, strings.Join(pairs, "; ")
}

// TestBadCookies sends 10,000 requests with random, truncated, bit-flipped,
// wrongly signed, swapped, oversized, forged and malformed cookies (built
// from the real cookies of logged-in victims) to an app with every kind of
// session: no 5xx, no panic, every one a fresh session that shows no field
// of any victim and sets no cookie but deletions; the victims' sessions are
// intact afterwards.
func TestBadCookies(t *testing.T) {
	ba := newBadApp(t)
	a := ba.a
	perCat := map[string]int{}
	var mu sync.Mutex
	var fails, fivexx atomic.Int64
	var slowest atomic.Int64
	const workers = 8
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range workers {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), uint64(t0.UnixNano())))
			for i := w; i < badNumber; i += workers {
				cat, header := ba.badCookie(r)
				mu.Lock()
				perCat[cat]++
				mu.Unlock()
				res := a.send("GET", "/dump", nil, header, nil)
				if d := int64(res.elapsed()); d > slowest.Load() {
					slowest.Store(d)
				}
				if res.status >= 500 || res.err != nil {
					fivexx.Add(1)
				}
				bad := ""
				switch {
				case res.err != nil || res.status != http.StatusOK:
					bad = "answered " + res.String()
				case len(res.fields()) > 0:
					bad = fmt.Sprintf("served the fields %v", res.fields())
				}
				for _, ck := range res.cookies {
					if ck.MaxAge >= 0 && bad == "" {
						bad = "set a cookie other than a deletion: " + ck.String()
					}
				}
				if bad != "" && fails.Add(1) <= 10 {
					t.Errorf("%s cookie %q: %s", cat, trunc(header, 300), bad)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)

	// The victims are untouched.
	for i, v := range ba.vics {
		br := a.browser()
		for n, c := range v.cookies {
			br.setCookie(n, c)
		}
		got := br.do("GET", "/dump", nil).fields()
		for f, want := range v.fields {
			if got[f] != want {
				t.Errorf("victim %d: field %s reads %q after the bad requests, want %q", i, f, got[f], want)
			}
		}
	}
	if a.panics.Load() != 0 {
		t.Errorf("%d panics", a.panics.Load())
	}
	var cats []string
	for c, n := range perCat {
		cats = append(cats, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(cats)
	report(t, "sessions in the app", strings.Join(ba.names, ", "), "bad requests", badNumber, "by kind", strings.Join(cats, ", "),
		"5xx", fivexx.Load(), "not a fresh session", fails.Load(), "panics", a.panics.Load(),
		"duration", elapsed.Round(time.Millisecond), "slowest", time.Duration(slowest.Load()).Round(time.Millisecond))
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// FuzzCookieHeader sends arbitrary Cookie headers to an app with secure
// cookies, a server-side session and a use_signer one: every request is
// answered with 200 and a fresh, empty session, and nothing panics. The
// regular suite replays the seeds (and testdata/fuzz/FuzzCookieHeader);
// scripts/fuzz runs it for real.
func FuzzCookieHeader(f *testing.F) {
	a := newApp(f, appConfig{
		server: sessionplus.Options{"session_type": "memory", "store": memory.New()},
		extra: []sessionplus.Options{{"cookie_name": "signed", "session_type": "memory", "store": memory.New(),
			"use_signer": true, "session_fields": []string{"x_signed"}}},
	})
	id := strings.Repeat("A", 43)
	for _, s := range []string{
		"", "session=" + id + ".s0", "session=" + id + ".pzzzzzz", "signed=" + id + ".s1." + id,
		"csrf=MTIzfA==", "data=MTIzfHh8eQ==~s1", "csrf=; data=; session=; signed=",
		"session=" + id + ".s1; session=" + id + ".s2", `session="` + id + `.s1"`, "a=b; c=d; e",
		"data=" + strings.Repeat("x", 5000), "session=\x00\x01\x7f", "session=" + id, "session=" + id + ".",
		"session=" + id + ".s-1", "session=" + id + ".s" + strings.Repeat("z", 20),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/dump", nil)
		req.Header.Set("Cookie", header)
		rec := httptest.NewRecorder()
		before := a.panics.Load()
		a.e.ServeHTTP(rec, req)
		if a.panics.Load() != before {
			t.Fatalf("Cookie %q: %s", header, *a.lastPanic.Load())
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("Cookie %q: status %d: %s", header, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), `"fields":{"`) {
			t.Fatalf("Cookie %q: a fresh session holds fields: %s", header, rec.Body)
		}
		for _, line := range rec.Header().Values("Set-Cookie") {
			if ck, err := http.ParseSetCookie(line); err == nil && ck.MaxAge >= 0 {
				t.Fatalf("Cookie %q: sets a cookie other than a deletion: %s", header, line)
			}
		}
	})
}
