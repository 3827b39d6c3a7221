package drivertest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

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
}

var sessionKey = []byte("drivertest secret key: 32 bytes!")

// app is a Manager with one session, named "s", on the fixture's store.
type app struct {
	t *testing.T
	m *sessionplus.Manager
}

func (f *fixture) app() *app {
	f.t.Helper()
	opts := sessionplus.Options{"cookie_name": "s", "store": f.store}
	if !f.stateless {
		opts["key_prefix"] = "drivertest-" + randomHex(6)
	}
	m, err := sessionplus.New(f.ctx, sessionplus.Config{SecretKeys: [][]byte{sessionKey}, Sessions: []sessionplus.Options{opts}})
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
