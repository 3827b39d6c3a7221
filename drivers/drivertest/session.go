package drivertest

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
)

// sessionCases run the store through the root session layer, as an
// application uses it: a Manager over the store, requests with cookies.
var sessionCases = []testCase{
	{name: "Session/RoundTrip", run: testSessionRoundTrip},
	{name: "Session/UpdateAndDelete", run: testSessionUpdateAndDelete},
	{name: "Session/EmptiedIsDeleted", run: testSessionEmptied},
	{name: "Session/Destroy", run: testSessionDestroy},
	{name: "Session/Regenerate", kind: serverSide, run: testSessionRegenerate},
	{name: "Session/UnknownIDNotAdopted", kind: serverSide, run: testSessionUnknownID},
	{name: "Session/ConcurrentRequests", kind: serverSide, run: testSessionConcurrent},
	{name: "Session/LogoutDuringRequest", kind: serverSide, run: testSessionLogoutDuringRequest},
	{name: "Session/ForgedTerms", kind: serverSide, run: testSessionForgedTerms},
	{name: "Session/AbsoluteLifetime", slow: true, run: testSessionAbsolute},
	{name: "Session/CanceledContext", kind: serverSide, run: testSessionCanceled},
}

var sessionKey = []byte("drivertest secret key: 32 bytes!")

// app is a Manager with one session, named "s", on the fixture's store.
type app struct {
	t *testing.T
	m *sessionplus.Manager
}

func (f *fixture) app(extra ...any) *app {
	f.t.Helper()
	return f.appWith(sessionplus.Config{}, extra...)
}

// appWith is app with cfg's UserField and other settings.
func (f *fixture) appWith(cfg sessionplus.Config, extra ...any) *app {
	f.t.Helper()
	opts := sessionplus.Options{"cookie_name": "s", "store": f.store}
	for i := 0; i+1 < len(extra); i += 2 {
		opts[extra[i].(string)] = extra[i+1]
	}
	if !f.stateless {
		opts["key_prefix"] = "drivertest-" + randomHex(6)
	}
	cfg.SecretKeys, cfg.Sessions = [][]byte{sessionKey}, []sessionplus.Options{opts}
	m, err := sessionplus.New(f.ctx, cfg)
	if err != nil {
		f.t.Fatalf("sessionplus.New over the store: %v", err)
	}
	return &app{t: f.t, m: m}
}

// request is one request of a browser that holds the cookie value in jar.
type request struct {
	s *sessionplus.Session
	w *httptest.ResponseRecorder
}

func (a *app) begin(cookie string) *request {
	r := httptest.NewRequestWithContext(a.t.Context(), http.MethodGet, "/", nil)
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: "s", Value: cookie})
	}
	w := httptest.NewRecorder()
	return &request{s: a.m.Begin(w, r), w: w}
}

// end commits the request and returns the cookie the browser holds next:
// the one set, "" for an expired one, or the one it sent.
func (a *app) end(rq *request, sent string) string {
	a.t.Helper()
	if err := rq.s.Commit(); err != nil {
		a.t.Fatalf("saving the session: %v", err)
	}
	for _, c := range rq.w.Result().Cookies() {
		if c.Name == "s" {
			if c.MaxAge < 0 {
				return ""
			}
			return c.Value
		}
	}
	return sent
}

// do runs one request with fn and returns the cookie held after it.
func (a *app) do(cookie string, fn func(s *sessionplus.Session) error) string {
	a.t.Helper()
	rq := a.begin(cookie)
	if err := fn(rq.s); err != nil {
		a.t.Fatalf("handler: %v", err)
	}
	return a.end(rq, cookie)
}

// destroy ends the session so that a case leaves nothing in the backend.
func (a *app) destroy(cookie string) {
	a.t.Helper()
	if cookie != "" {
		a.do(cookie, (*sessionplus.Session).Destroy)
	}
}

type sample struct {
	Name  string
	Roles []string
}

func testSessionRoundTrip(t *testing.T, f *fixture) {
	a := f.app()
	want := sample{Name: "ada", Roles: []string{"admin", "ops"}}
	ck := a.do("", func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_id", 42), s.Set("name", "ada"), s.Set("bytes", []byte{0, 0xff}), s.Set("profile", want))
	})
	defer a.destroy(ck)
	if ck == "" {
		t.Fatal("a session holding fields set no cookie")
	}
	a.do(ck, func(s *sessionplus.Session) error {
		uid, ok, err := sessionplus.GetAs[int](s, "user_id")
		if err != nil || !ok || uid != 42 {
			t.Errorf("user_id read back as %v, %v, %v; want the int 42", uid, ok, err)
		}
		b, _, _ := sessionplus.GetAs[[]byte](s, "bytes")
		if !reflect.DeepEqual(b, []byte{0, 0xff}) {
			t.Errorf("bytes read back as %v", b)
		}
		p, _, err := sessionplus.GetAs[sample](s, "profile")
		if err != nil || !reflect.DeepEqual(p, want) {
			t.Errorf("struct read back as %+v, %v", p, err)
		}
		keys, err := s.Keys()
		if err != nil || strings.Join(keys, ",") != "bytes,name,profile,user_id" {
			t.Errorf("Keys() = %v, %v", keys, err)
		}
		return nil
	})
}

func testSessionUpdateAndDelete(t *testing.T, f *fixture) {
	a := f.app()
	ck := a.do("", func(s *sessionplus.Session) error { return errors.Join(s.Set("a", 1), s.Set("b", 2), s.Set("c", 3)) })
	ck = a.do(ck, func(s *sessionplus.Session) error { return errors.Join(s.Delete("a"), s.Set("b", 20)) })
	defer a.destroy(ck)
	a.do(ck, func(s *sessionplus.Session) error {
		if _, ok, _ := s.Get("a"); ok {
			t.Error("a deleted field came back")
		}
		b, _, _ := sessionplus.GetAs[int](s, "b")
		c, _, _ := sessionplus.GetAs[int](s, "c")
		if b != 20 || c != 3 {
			t.Errorf("after an update b=%d c=%d, want 20 and the untouched 3", b, c)
		}
		return nil
	})
}

func testSessionEmptied(t *testing.T, f *fixture) {
	a := f.app()
	ck := a.do("", func(s *sessionplus.Session) error { return s.Set("a", 1) })
	if next := a.do(ck, func(s *sessionplus.Session) error { return s.Delete("a") }); next != "" {
		t.Errorf("an emptied session kept its cookie %q", next)
	}
	if !f.stateless {
		a.do(ck, func(s *sessionplus.Session) error {
			if keys, err := s.Keys(); len(keys) != 0 || err != nil {
				t.Errorf("the old cookie of an emptied session still loads %v, %v", keys, err)
			}
			return nil
		})
	}
}

func testSessionDestroy(t *testing.T, f *fixture) {
	a := f.app()
	ck := a.do("", func(s *sessionplus.Session) error { return s.Set("user_id", 1) })
	if next := a.do(ck, (*sessionplus.Session).Destroy); next != "" {
		t.Errorf("Destroy kept the cookie %q", next)
	}
	if !f.stateless {
		a.do(ck, func(s *sessionplus.Session) error {
			if _, ok, err := s.Get("user_id"); ok || err != nil {
				t.Errorf("a destroyed session's cookie still loads user_id (%v, %v)", ok, err)
			}
			return nil
		})
	}
}

func testSessionRegenerate(t *testing.T, f *fixture) {
	a := f.app()
	ck := a.do("", func(s *sessionplus.Session) error { return s.Set("user_id", 7) })
	next := a.do(ck, (*sessionplus.Session).Regenerate)
	defer a.destroy(next)
	if next == ck || next == "" {
		t.Fatalf("Regenerate left the cookie %q", next)
	}
	a.do(ck, func(s *sessionplus.Session) error {
		if _, ok, err := s.Get("user_id"); ok || err != nil {
			t.Errorf("the old id still loads after Regenerate (%v, %v)", ok, err)
		}
		return nil
	})
	a.do(next, func(s *sessionplus.Session) error {
		if uid, _, _ := sessionplus.GetAs[int](s, "user_id"); uid != 7 {
			t.Errorf("user_id under the new id = %d, want 7", uid)
		}
		return nil
	})
}

func testSessionUnknownID(t *testing.T, f *fixture) {
	a := f.app()
	planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.s0.0"
	ck := a.do(planted, func(s *sessionplus.Session) error { return s.Set("user_id", 1) })
	defer a.destroy(ck)
	if ck == "" || strings.HasPrefix(ck, "AAAA") {
		t.Fatalf("an id the backend does not know was adopted: %q", ck)
	}
}

func testSessionConcurrent(t *testing.T, f *fixture) {
	a := f.app()
	ck := a.do("", func(s *sessionplus.Session) error { return s.Set("a", 0) })
	defer a.destroy(ck)
	// Two requests of one browser: both read, then both save.
	r1, r2 := a.begin(ck), a.begin(ck)
	if err := errors.Join(r1.s.Set("a", 1), r2.s.Set("b", 2)); err != nil {
		t.Fatal(err)
	}
	a.end(r1, ck)
	a.end(r2, ck)
	a.do(ck, func(s *sessionplus.Session) error {
		av, _, _ := sessionplus.GetAs[int](s, "a")
		bv, _, _ := sessionplus.GetAs[int](s, "b")
		if av != 1 || bv != 2 {
			t.Errorf("two requests changing different fields: a=%d b=%d, want both changes (1 and 2)", av, bv)
		}
		return nil
	})
}

// testSessionLogoutDuringRequest interleaves two requests of one browser
// deterministically: A reads the session, B logs out, then A changes it (a
// field, a login's Regenerate, a change of permanence). The logged-out
// session must not come back, A must not fail, and the old cookie must load
// nothing.
func testSessionLogoutDuringRequest(t *testing.T, f *fixture) {
	for name, change := range map[string]func(s *sessionplus.Session) error{
		"Set":          func(s *sessionplus.Session) error { return s.Set("cart", 3) },
		"Delete":       func(s *sessionplus.Session) error { return s.Delete("role") },
		"Regenerate":   func(s *sessionplus.Session) error { return errors.Join(s.Regenerate(), s.Set("user_id", 2)) },
		"SetPermanent": func(s *sessionplus.Session) error { return s.SetPermanent(true) },
	} {
		a := f.app()
		ck := a.do("", func(s *sessionplus.Session) error { return errors.Join(s.Set("user_id", 1), s.Set("role", "admin")) })
		rqA := a.begin(ck)
		if uid, _, err := sessionplus.GetAs[int](rqA.s, "user_id"); uid != 1 || err != nil {
			t.Fatalf("%s: request A reads user_id = %d, %v", name, uid, err)
		}
		if next := a.do(ck, (*sessionplus.Session).Destroy); next != "" { // B logs out
			t.Fatalf("%s: the log-out kept the cookie %q", name, next)
		}
		if err := change(rqA.s); err != nil {
			t.Fatalf("%s: request A's change: %v", name, err)
		}
		if err := rqA.s.Commit(); err != nil {
			t.Errorf("%s: request A's save failed (%v): a log-out in another tab must not make it a 5xx", name, err)
		}
		for _, c := range rqA.w.Result().Cookies() {
			if c.Name == "s" && c.MaxAge >= 0 {
				a.destroy(c.Value)
				t.Errorf("%s: request A set a new session cookie after the log-out: it would overwrite it", name)
			}
		}
		a.do(ck, func(s *sessionplus.Session) error {
			if keys, err := s.Keys(); len(keys) != 0 || err != nil {
				t.Errorf("%s: the logged-out cookie loads %v (%v): request A brought the session back", name, keys, err)
			}
			return nil
		})
	}
}

// testSessionForgedTerms: the permanent flag and creation time in an id
// cookie are bound to its record; an edited cookie reads as a fresh
// session, and its keep-alive neither makes the real session permanent nor
// lengthens it.
func testSessionForgedTerms(t *testing.T, f *fixture) {
	a := f.app()
	ck := a.do("", func(s *sessionplus.Session) error { return s.Set("user_id", 1) })
	defer a.destroy(ck)
	fields := strings.Split(ck, ".")
	if len(fields) != 3 {
		t.Fatalf("id cookie %q is not <id>.<terms>.<due>", ck)
	}
	for _, terms := range []string{"p" + fields[1][1:], "p0", "s0", "s" + fields[1][1:] + "0"} {
		forged := fields[0] + "." + terms + ".0" // and a keep-alive due now
		rq := a.begin(forged)
		if err := rq.s.Commit(); err != nil {
			t.Fatalf("the keep-alive of a forged cookie failed: %v", err)
		}
		for _, c := range rq.w.Result().Cookies() {
			if c.Name == "s" && c.MaxAge > 0 {
				t.Errorf("the forged cookie %q got a persistent cookie back", forged)
			}
		}
		a.do(forged, func(s *sessionplus.Session) error {
			if _, ok, err := s.Get("user_id"); ok || err != nil {
				t.Errorf("the forged cookie %q reads the session (%v)", forged, err)
			}
			return nil
		})
	}
	a.do(ck, func(s *sessionplus.Session) error {
		p, _ := s.Part("s")
		exp, err := p.Expiry()
		if err != nil || p.Permanent() || time.Until(exp) > sessionplus.DefaultLifetime+time.Second {
			t.Errorf("after the forgeries the session is permanent %v, expires in %v (%v); want neither changed",
				p.Permanent(), time.Until(exp), err)
		}
		return nil
	})
}

// testSessionAbsolute: with session_absolute_lifetime, the expiry the store
// holds never passes the absolute deadline, however active the session,
// and after it the session is fresh.
func testSessionAbsolute(t *testing.T, f *fixture) {
	a := f.app("session_absolute_lifetime", "2s", "session_lifetime", "1h")
	start := time.Now()
	ck := a.do("", func(s *sessionplus.Session) error { return errors.Join(s.Set("user_id", 1), s.SetPermanent(true)) })
	defer a.destroy(ck)
	ck = a.do(ck, func(s *sessionplus.Session) error {
		p, _ := s.Part("s")
		exp, err := p.Expiry()
		if err != nil || exp.After(start.Add(2*time.Second).Add(time.Second)) {
			t.Errorf("a session with an absolute lifetime of 2s is stored until %v from its start (%v)", exp.Sub(start), err)
		}
		return s.Set("seen", 1)
	})
	for {
		var gone bool
		ck = a.do(ck, func(s *sessionplus.Session) error {
			_, ok, err := s.Get("user_id")
			if err != nil {
				t.Fatalf("reading a session near its absolute deadline failed: %v", err)
			}
			gone = !ok
			return nil
		})
		if gone {
			break
		}
		if late := time.Since(start) - 2*time.Second; late > time.Second {
			t.Fatalf("the session is still served %v after its absolute deadline", late)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// testSessionCanceled: a request whose context is done reads no session
// and reports an error that is not "not found" (which would start a new
// session over the user's).
func testSessionCanceled(t *testing.T, f *fixture) {
	a := f.app()
	ck := a.do("", func(s *sessionplus.Session) error { return s.Set("user_id", 1) })
	defer a.destroy(ck)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "s", Value: ck})
	s := a.m.Begin(httptest.NewRecorder(), r)
	_, ok, err := s.Get("user_id")
	if err == nil || ok || errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Get with a canceled context = %v, %v; want an error that is not ErrNotFound", ok, err)
	}
}
