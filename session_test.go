package sessionplus_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

type profile struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

func TestSeedRoutingAndTypes(t *testing.T) {
	sessions, sp, mem := seed()
	m := newManager(t, sessions)
	b := newBrowser()

	w, err := b.do(t, m, func(s *sessionplus.Session) error {
		for k, v := range map[string]any{
			"csrf_token": "tok-123",
			"user_id":    42,
			"user_data":  profile{Name: "ada", Roles: []string{"admin"}},
			"theme":      "dark",
		} {
			if err := s.Set(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := setCookies(w)
	for _, name := range []string{"csrf", "session", "data"} {
		c, ok := got[name]
		if !ok {
			t.Fatalf("no %s cookie set; got %v", name, w.Header()["Set-Cookie"])
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
			t.Errorf("%s cookie: HttpOnly=%v SameSite=%v Path=%q, want the seed's defaults (true, Lax, /)", name, c.HttpOnly, c.SameSite, c.Path)
		}
		if c.MaxAge != 0 {
			t.Errorf("%s cookie has Max-Age %d; a session that is not permanent ends with the browser", name, c.MaxAge)
		}
	}
	if v := got["session"].Value; len(v) > 60 || strings.Contains(v, "ada") {
		t.Errorf("the server-side cookie should carry only an id, got %q", v)
	}
	if w.Header().Get("Vary") != "Cookie" || w.Header().Get("Cache-Control") != `no-cache="Set-Cookie"` {
		t.Errorf("response that sets cookies has Vary %q and Cache-Control %q", w.Header().Get("Vary"), w.Header().Get("Cache-Control"))
	}
	if len(sp.saves) != 1 || len(sp.saves[0].Set) != 2 {
		t.Fatalf("server-side store got saves %+v, want one holding user_id and user_data", sp.saves)
	}
	if _, ok := sp.saves[0].Set["csrf_token"]; ok {
		t.Error("csrf_token was written to the server-side session")
	}
	if mem.Len() != 1 {
		t.Errorf("memory store holds %d records, want 1", mem.Len())
	}

	sp.reset()
	_, err = b.do(t, m, func(s *sessionplus.Session) error {
		uid, ok, err := sessionplus.GetAs[int](s, "user_id")
		if err != nil || !ok || uid != 42 {
			t.Errorf("GetAs[int](user_id) = %v, %v, %v; want 42", uid, ok, err)
		}
		p, ok, err := sessionplus.GetAs[profile](s, "user_data")
		if err != nil || !ok || !reflect.DeepEqual(p, profile{Name: "ada", Roles: []string{"admin"}}) {
			t.Errorf("GetAs[profile](user_data) = %+v, %v, %v", p, ok, err)
		}
		v, ok, err := s.Get("theme")
		if err != nil || !ok || v != "dark" {
			t.Errorf("Get(theme) = %v, %v, %v; want dark", v, ok, err)
		}
		tok, _, _ := sessionplus.GetAs[string](s, "csrf_token")
		if tok != "tok-123" {
			t.Errorf("csrf_token = %q", tok)
		}
		if _, _, err := sessionplus.GetAs[string](s, "user_id"); !errors.Is(err, sessionplus.ErrWrongType) {
			t.Errorf("reading an int as a string: err = %v, want ErrWrongType", err)
		}
		keys, err := s.Keys()
		if err != nil || strings.Join(keys, ",") != "csrf_token,theme,user_data,user_id" {
			t.Errorf("Keys() = %v, %v", keys, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sp.loads != 1 {
		t.Errorf("the server-side session was read %d times in one request, want once", sp.loads)
	}
	if len(sp.saves) != 0 {
		t.Errorf("a request that changed nothing wrote %d times", len(sp.saves))
	}
}

func TestLazyRead(t *testing.T) {
	sessions, sp, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("csrf_token", "x"), s.Set("user_id", 1))
	}); err != nil {
		t.Fatal(err)
	}
	sp.reset()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		_, _, err := s.Get("csrf_token")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if sp.loads != 0 || len(sp.saves) != 0 {
		t.Errorf("a request touching only a cookie field made %d reads and %d writes of the server-side session", sp.loads, len(sp.saves))
	}
}

func TestSetIsRead(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	_, err := newBrowser().do(t, m, func(s *sessionplus.Session) error {
		v := map[string]int{"a": 1}
		if err := s.Set("prefs", v); err != nil {
			return err
		}
		got, _, err := s.Get("prefs")
		if reflect.ValueOf(got).Pointer() != reflect.ValueOf(v).Pointer() {
			t.Errorf("Get after Set returned %#v, not the value set", got)
		}
		typed, _, err2 := sessionplus.GetAs[map[string]int](s, "prefs")
		if typed["a"] != 1 {
			t.Errorf("GetAs after Set = %v", typed)
		}
		return errors.Join(err, err2)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnownedField(t *testing.T) {
	m := newManager(t, []sessionplus.Options{
		{"cookie_name": "a", "session_fields": []string{"x"}},
		{"cookie_name": "b", "session_type": "memory", "session_fields": map[string]any{"include": []any{"y"}}},
	})
	_, err := newBrowser().do(t, m, func(s *sessionplus.Session) error {
		err := s.Set("z", 1)
		if !errors.Is(err, sessionplus.ErrUnownedField) || !strings.Contains(err.Error(), `"z"`) {
			t.Errorf("Set of an unowned field: err = %v, want ErrUnownedField naming the field", err)
		}
		if _, ok, err := s.Get("z"); ok || err != nil {
			t.Errorf("Get of an unowned field = %v, %v", ok, err)
		}
		p, _ := s.Part("a")
		if err := p.Set("y", 1); !errors.Is(err, sessionplus.ErrUnownedField) {
			t.Errorf("Part(a).Set(y) err = %v, want ErrUnownedField", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFailedReadNeverWritesBack(t *testing.T) {
	sessions, sp, mem := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", 7) }); err != nil {
		t.Fatal(err)
	}
	down := errors.New("connection refused")
	sp.failLoad = down
	sp.reset()
	w, err := b.do(t, m, func(s *sessionplus.Session) error {
		_, ok, err := s.Get("user_id")
		var se *sessionplus.StoreError
		if ok || !errors.As(err, &se) || !errors.Is(err, down) || errors.Is(err, sessionplus.ErrNotFound) {
			t.Errorf("Get with the backend down = %v, %v; want a StoreError wrapping the backend's error", ok, err)
		} else if se.Session != "session" || se.Op != "load" {
			t.Errorf("StoreError names session %q op %q", se.Session, se.Op)
		}
		if err := s.Set("user_id", 8); !errors.Is(err, sessionplus.ErrLoadFailed) {
			t.Errorf("Set after a failed read: err = %v, want ErrLoadFailed", err)
		}
		return s.Set("theme", "light") // a cookie-owned field still works
	})
	if !errors.Is(err, sessionplus.ErrLoadFailed) {
		t.Fatalf("save after a refused change: err = %v, want ErrLoadFailed", err)
	}
	if len(sp.saves) != 0 || sp.deletes != 0 {
		t.Fatalf("a session whose read failed was written (%d saves, %d deletes)", len(sp.saves), sp.deletes)
	}
	if _, ok := setCookies(w)["session"]; ok {
		t.Error("a cookie was sent for the session whose read failed")
	}
	sp.failLoad = nil
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		uid, _, err := sessionplus.GetAs[int](s, "user_id")
		if uid != 7 {
			t.Errorf("after the backend came back user_id = %d, want the stored 7", uid)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if mem.Len() != 1 {
		t.Errorf("memory holds %d records", mem.Len())
	}
}

func TestEmptiedSessionIsDeleted(t *testing.T) {
	sessions, sp, mem := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_id", 1), s.Set("theme", "x"))
	}); err != nil {
		t.Fatal(err)
	}
	w, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Delete("user_id"), s.Delete("theme"))
	})
	if err != nil {
		t.Fatal(err)
	}
	got := setCookies(w)
	for _, name := range []string{"session", "data"} {
		if c, ok := got[name]; !ok || c.MaxAge >= 0 {
			t.Errorf("emptied session %s: cookie %+v, want it expired", name, c)
		}
	}
	if mem.Len() != 0 || sp.deletes != 1 {
		t.Errorf("emptied server-side session: %d records left, %d deletes", mem.Len(), sp.deletes)
	}
}

func TestNewEmptySessionSetsNothing(t *testing.T) {
	sessions, sp, _ := seed()
	m := newManager(t, sessions)
	w, err := newBrowser().do(t, m, func(s *sessionplus.Session) error {
		_, _, err := s.Get("user_id")
		return errors.Join(err, s.Delete("theme"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Header()["Set-Cookie"]) != 0 || len(sp.saves) != 0 || sp.loads != 0 {
		t.Errorf("an empty new session set cookies %v, saved %d, read %d", w.Header()["Set-Cookie"], len(sp.saves), sp.loads)
	}
	// The handler read the session: the response depends on the cookies
	// (their absence too), so a shared cache must key it by them.
	if w.Header().Get("Vary") != "Cookie" {
		t.Errorf("Vary = %q on a response that read the session, want Cookie", w.Header().Get("Vary"))
	}
	w, _ = newBrowser().do(t, m, func(s *sessionplus.Session) error { return nil })
	if v := w.Header().Get("Vary"); v != "" {
		t.Errorf("Vary = %q on a response that never touched a session", v)
	}
}

// TestVaryWithoutSetCookie: after a login, a page that reads the user and
// sets no cookie (no keep-alive due) still says Vary: Cookie, so a shared
// cache cannot serve one user's page to another.
func TestVaryWithoutSetCookie(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	login(t, m, b)
	for name, h := range map[string]func(s *sessionplus.Session) error{
		"server-side read": func(s *sessionplus.Session) error { _, _, err := s.Get("user_id"); return err },
		"cookie read":      func(s *sessionplus.Session) error { _, _, err := s.Get("theme"); return err },
	} {
		w, err := b.do(t, m, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Header()["Set-Cookie"]) != 0 {
			t.Fatalf("%s: Set-Cookie %q, want none (no keep-alive due)", name, w.Header()["Set-Cookie"])
		}
		if w.Header().Get("Vary") != "Cookie" {
			t.Errorf("%s: Vary = %q, want Cookie", name, w.Header().Get("Vary"))
		}
	}
}

func TestUnknownIDIsNeverAdopted(t *testing.T) {
	sessions, _, mem := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	// A well-formed id cookie the backend has never seen (an attacker's plant).
	planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.s0.0"
	b.cookies["session"] = planted
	w, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", 1) })
	if err != nil {
		t.Fatal(err)
	}
	c := setCookies(w)["session"]
	if c == nil || strings.HasPrefix(c.Value, "AAAA") {
		t.Fatalf("the planted id was adopted: %+v", c)
	}
	if mem.Len() != 1 {
		t.Fatalf("records = %d", mem.Len())
	}
}

func TestTamperedCookiesStartFresh(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("csrf_token", "t"), s.Set("theme", "x"), s.Set("user_id", 3))
	}); err != nil {
		t.Fatal(err)
	}
	good := b.cookies
	for name, value := range map[string]string{
		"csrf":    good["data"],                       // a data cookie sent as csrf
		"data":    good["data"][:len(good["data"])/2], // cut in its sealed part
		"session": flip(good["session"]),              // another id: unknown to the backend
	} {
		tb := newBrowser()
		for k, v := range good {
			tb.cookies[k] = v
		}
		tb.cookies[name] = value
		w, err := tb.do(t, m, func(s *sessionplus.Session) error {
			keys, err := s.Keys()
			for _, k := range keys {
				if owners := s.Owners(k); owners[0] == name {
					t.Errorf("tampered %s cookie still served field %q", name, k)
				}
			}
			return err
		})
		if err != nil {
			t.Fatalf("tampered %s cookie: %v", name, err)
		}
		if c := setCookies(w)[name]; c == nil || c.MaxAge >= 0 {
			t.Errorf("tampered %s cookie was not expired: %+v", name, c)
		}
	}
}

func TestRegenerate(t *testing.T) {
	sessions, sp, mem := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", 5) }); err != nil {
		t.Fatal(err)
	}
	old := b.cookies["session"]
	if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Regenerate() }); err != nil {
		t.Fatal(err)
	}
	if b.cookies["session"] == old || b.cookies["session"][:43] == old[:43] {
		t.Fatal("Regenerate kept the id")
	}
	if mem.Len() != 1 || sp.deletes != 1 {
		t.Errorf("after Regenerate: %d records, %d deletes; want the old record deleted", mem.Len(), sp.deletes)
	}
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		uid, _, err := sessionplus.GetAs[int](s, "user_id")
		if uid != 5 {
			t.Errorf("user_id after Regenerate = %d, want 5", uid)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	attacker := newBrowser()
	attacker.cookies["session"] = old
	if _, err := attacker.do(t, m, func(s *sessionplus.Session) error {
		if _, ok, _ := s.Get("user_id"); ok {
			t.Error("the old id still loads the session after Regenerate")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestDestroy(t *testing.T) {
	sessions, _, mem := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("csrf_token", "t"), s.Set("user_id", 1), s.Set("theme", "x"), s.SetPermanent(true))
	}); err != nil {
		t.Fatal(err)
	}
	w, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Destroy() })
	if err != nil {
		t.Fatal(err)
	}
	if len(b.cookies) != 0 || mem.Len() != 0 {
		t.Errorf("after Destroy the browser holds %v and the store %d records", b.cookies, mem.Len())
	}
	if n := len(w.Header()["Set-Cookie"]); n != 3 {
		t.Errorf("Destroy sent %d Set-Cookie lines, want 3 expiring ones", n)
	}
}

func TestPermanent(t *testing.T) {
	sessions, sp, _ := seed()
	m := newManager(t, sessions)
	clk := &clock{t: time.Now()}
	sessionplus.SetClock(m, clk.now)
	b := newBrowser()
	w, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_id", 1), s.Set("theme", "x"), s.SetPermanent(true))
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range setCookies(w) {
		if want := int(sessionplus.DefaultPermanentLifetime / time.Second); c.MaxAge != want {
			t.Errorf("permanent %s cookie Max-Age = %d, want %d", name, c.MaxAge, want)
		}
	}
	if got := sp.saves[0].Expiry.Sub(clk.now()); got != sessionplus.DefaultPermanentLifetime {
		t.Errorf("permanent record expiry in %v, want %v", got, sessionplus.DefaultPermanentLifetime)
	}
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		if !s.Permanent() {
			t.Error("Permanent() = false in the next request")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// A session the browser starts after "remember me" is permanent too.
	b2 := newBrowser()
	if _, err := b2.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_id", 2), s.SetPermanent(true))
	}); err != nil {
		t.Fatal(err)
	}
	w, err = b2.do(t, m, func(s *sessionplus.Session) error {
		p, _ := s.Part("data")
		if !p.Permanent() {
			t.Error("Part(data).Permanent() = false for a session started after SetPermanent(true)")
		}
		return s.Set("theme", "dark")
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := setCookies(w)["data"]; c == nil || c.MaxAge != int(sessionplus.DefaultPermanentLifetime/time.Second) {
		t.Errorf("a data cookie started after SetPermanent(true) is %+v, want a permanent one", c)
	}
}

func TestKeepAlive(t *testing.T) {
	sessions, sp, _ := seed()
	sessions[1]["session_lifetime"] = "100s" // keep-alive due every 10s
	sessions[2]["session_lifetime"] = 100
	m := newManager(t, sessions)
	clk := &clock{t: time.Now()}
	sessionplus.SetClock(m, clk.now)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_id", 1), s.Set("theme", "x"))
	}); err != nil {
		t.Fatal(err)
	}
	untouched := func(*sessionplus.Session) error { return nil }

	sp.reset()
	clk.advance(5 * time.Second)
	w, _ := b.do(t, m, untouched)
	if len(sp.saves) != 0 || len(w.Header()["Set-Cookie"]) != 0 {
		t.Errorf("before the keep-alive is due: %d saves, cookies %v", len(sp.saves), w.Header()["Set-Cookie"])
	}

	clk.advance(6 * time.Second)
	w, err := b.do(t, m, untouched)
	if err != nil {
		t.Fatal(err)
	}
	if sp.loads != 0 || len(sp.saves) != 1 || sp.saves[0].Kind != sessionplus.Touch {
		t.Fatalf("keep-alive of an untouched session: %d reads, saves %+v; want one keep-alive and no read", sp.loads, sp.saves)
	}
	if got := sp.saves[0].Expiry.Sub(clk.now()); got != 100*time.Second {
		t.Errorf("keep-alive moved the expiry to now+%v, want now+100s", got)
	}
	if c := setCookies(w); c["session"] == nil || c["data"] == nil {
		t.Errorf("keep-alive did not renew the cookies: %v", w.Header()["Set-Cookie"])
	}

	sp.reset()
	clk.advance(time.Second)
	b.do(t, m, untouched)
	if len(sp.saves) != 0 {
		t.Errorf("a second keep-alive followed within the interval")
	}

	// Past the lifetime, the cookie session is gone even though the browser sends it.
	clk.advance(200 * time.Second)
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		if _, ok, _ := s.Get("theme"); ok {
			t.Error("an expired secure cookie was accepted")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentRequestsChangeDifferentFields(t *testing.T) {
	mem := memory.New()
	m := newManager(t, []sessionplus.Options{{"cookie_name": "s", "store": mem}})
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("a", 0) }); err != nil {
		t.Fatal(err)
	}
	// Two requests of one browser interleave: both read, then both save.
	begin := func() (*sessionplus.Session, *httptest.ResponseRecorder) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: "s", Value: b.cookies["s"]})
		w := httptest.NewRecorder()
		return m.Begin(w, r), w
	}
	s1, _ := begin()
	s2, _ := begin()
	if err := errors.Join(s1.Set("a", 1), s2.Set("b", 2), s1.Commit(), s2.Commit()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		a, _, _ := sessionplus.GetAs[int](s, "a")
		bv, _, _ := sessionplus.GetAs[int](s, "b")
		if a != 1 || bv != 2 {
			t.Errorf("after two concurrent requests a=%d b=%d, want 1 and 2", a, bv)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCookieTooLarge(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	w, err := newBrowser().do(t, m, func(s *sessionplus.Session) error {
		return s.Set("blob", strings.Repeat("x", 5000))
	})
	if !errors.Is(err, sessionplus.ErrCookieTooLarge) || !strings.Contains(err.Error(), `"data"`) {
		t.Fatalf("err = %v, want ErrCookieTooLarge naming the session", err)
	}
	if len(w.Header()["Set-Cookie"]) != 0 {
		t.Errorf("a cookie was sent for an unsaved session: %v", w.Header()["Set-Cookie"])
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey := []byte(strings.Repeat("o", 32))
	newKey := []byte(strings.Repeat("n", 32))
	opts := func() []sessionplus.Options {
		return []sessionplus.Options{{"cookie_name": "c"}, {"cookie_name": "s", "session_type": "memory", "use_signer": true, "store": nil}}
	}
	_ = opts
	conf := func() []sessionplus.Options { return []sessionplus.Options{{"cookie_name": "c"}} }
	b := newBrowser()
	if _, err := b.do(t, newManager(t, conf(), oldKey), func(s *sessionplus.Session) error { return s.Set("x", 1) }); err != nil {
		t.Fatal(err)
	}
	read := func(m *sessionplus.Manager) (ok bool) {
		if _, err := b.do(t, m, func(s *sessionplus.Session) error {
			_, ok, _ = s.Get("x")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	saved := b.cookies["c"]
	if !read(newManager(t, conf(), newKey, oldKey)) {
		t.Error("a cookie made with the older key was refused during rotation")
	}
	b.cookies["c"] = saved
	if read(newManager(t, conf(), newKey)) {
		t.Error("a cookie made with a rotated-out key was accepted")
	}
}

func TestClosedAfterCommit(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	s := m.Begin(httptest.NewRecorder(), r)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("theme", "x"); !errors.Is(err, sessionplus.ErrClosed) {
		t.Errorf("Set after Commit: err = %v, want ErrClosed", err)
	}
}

func TestUnavailable(t *testing.T) {
	s := sessionplus.Unavailable(sessionplus.ErrNoSession)
	if _, _, err := s.Get("x"); !errors.Is(err, sessionplus.ErrNoSession) {
		t.Errorf("Get: %v", err)
	}
	if err := s.Set("x", 1); !errors.Is(err, sessionplus.ErrNoSession) {
		t.Errorf("Set: %v", err)
	}
	if _, _, err := sessionplus.GetAs[int](s, "x"); !errors.Is(err, sessionplus.ErrNoSession) {
		t.Errorf("GetAs: %v", err)
	}
}

func TestCanceledContextIsNotAnEmptySession(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", 1) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	for k, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	s := m.Begin(httptest.NewRecorder(), r)
	if _, ok, err := s.Get("user_id"); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context = %v, %v; want context.Canceled", ok, err)
	}
}

// flip changes the first character of v.
func flip(v string) string {
	if v[0] == 'B' {
		return "C" + v[1:]
	}
	return "B" + v[1:]
}

func TestSignedIDCookie(t *testing.T) {
	mem := memory.New()
	m := newManager(t, []sessionplus.Options{{"cookie_name": "s", "store": mem, "use_signer": true}})
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("uid", 1) }); err != nil {
		t.Fatal(err)
	}
	v := b.cookies["s"]
	if strings.Count(v, ".") != 3 {
		t.Fatalf("signed id cookie %q has no signature", v)
	}
	for _, bad := range []string{v + "x", strings.Replace(v, ".s", ".p", 1), v[:strings.LastIndex(v, ".")]} {
		tb := newBrowser()
		tb.cookies["s"] = bad
		if _, err := tb.do(t, m, func(s *sessionplus.Session) error {
			if _, ok, err := s.Get("uid"); ok || err != nil {
				t.Errorf("cookie %q with a bad signature: Get = %v, %v", bad, ok, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// picky is a store that accepts only short key prefixes.
type picky struct{ *memory.Store }

func (picky) CheckKeyPrefix(p string) error {
	if len(p) > 3 {
		return sessionplus.ConfigErrorf(`picky: key "key_prefix": %d bytes is too long`, len(p))
	}
	return nil
}

func TestKeyPrefixChecker(t *testing.T) {
	_, err := sessionplus.New(context.Background(), sessionplus.Config{Sessions: []sessionplus.Options{
		{"cookie_name": "s", "store": picky{memory.New()}, "key_prefix": "toolong"},
	}})
	if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), `session "s" (custom): picky: key "key_prefix"`) {
		t.Errorf("err = %v, want the store's key_prefix error naming the session", err)
	}
	newManager(t, []sessionplus.Options{{"cookie_name": "s", "store": picky{memory.New()}, "key_prefix": "ok"}})
}

// clientSpy is a spy over a client-side store.
type clientSpy struct{ *spy }

func (clientSpy) ClientSide() bool { return true }

func TestUntouchedCookieIsNotDecoded(t *testing.T) {
	st, err := cookie.New("data", [][]byte{testKey})
	if err != nil {
		t.Fatal(err)
	}
	sp := clientSpy{&spy{Store: st}}
	m := newManager(t, []sessionplus.Options{{"cookie_name": "data", "store": sp}})
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("theme", "dark") }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.cookies["data"], "~s") {
		t.Fatalf("client-side cookie %q carries no keep-alive hint", b.cookies["data"])
	}
	sp.reset()
	w, err := b.do(t, m, func(*sessionplus.Session) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if sp.loads != 0 || len(sp.saves) != 0 || len(w.Header()["Set-Cookie"]) != 0 {
		t.Errorf("an untouched secure cookie with no keep-alive due: %d decodes, %d encodes, cookies %v", sp.loads, len(sp.saves), w.Header()["Set-Cookie"])
	}
	// A forged hint changes nothing but the cookie's own keep-alive: the
	// record inside still decides.
	v := b.cookies["data"]
	b.cookies["data"] = v[:strings.LastIndexByte(v, '~')] + "~p0"
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		if th, _, _ := sessionplus.GetAs[string](s, "theme"); th != "dark" {
			t.Errorf("theme = %q after a forged hint", th)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
