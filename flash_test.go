package sessionplus_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/sessionplus/sessionplus"
)

type notice struct {
	Level, Text string
}

func TestFlashes(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	// Added over two requests, to both kinds of session: "flash" goes to
	// the data cookie ("auto"), "user_data" to the server-side session.
	for _, text := range []string{"logged in", "welcome back"} {
		if _, err := b.do(t, m, func(s *sessionplus.Session) error {
			return errors.Join(s.AddFlash("flash", text), s.AddFlash("user_data", notice{"info", text}))
		}); err != nil {
			t.Fatal(err)
		}
	}
	b.do(t, m, func(s *sessionplus.Session) error {
		got, err := sessionplus.Flashes[string](s, "flash")
		if err != nil || !reflect.DeepEqual(got, []string{"logged in", "welcome back"}) {
			t.Errorf("Flashes = %q, %v; want both, oldest first", got, err)
		}
		if again, err := sessionplus.Flashes[string](s, "flash"); len(again) != 0 || err != nil {
			t.Errorf("a second Flashes in the same request = %q, %v; want none", again, err)
		}
		if _, err := sessionplus.Flashes[string](s, "user_data"); !errors.Is(err, sessionplus.ErrWrongType) {
			t.Errorf("Flashes[string] of struct messages: %v, want ErrWrongType", err)
		}
		got2, err := sessionplus.Flashes[notice](s, "user_data")
		if err != nil || len(got2) != 2 || got2[1].Text != "welcome back" {
			t.Errorf("Flashes[notice] = %+v, %v; want the two notices, kept after the wrong-type read", got2, err)
		}
		return nil
	})
	b.do(t, m, func(s *sessionplus.Session) error {
		for _, f := range []string{"flash", "user_data"} {
			if got, err := sessionplus.Flashes[string](s, f); len(got) != 0 || err != nil {
				t.Errorf("%s in the next request: %q, %v; want none (shown once)", f, got, err)
			}
		}
		return nil
	})
	// Within one request, added then read.
	b.do(t, m, func(s *sessionplus.Session) error {
		if err := s.AddFlash("flash", 7); err != nil {
			t.Fatal(err)
		}
		if got, err := sessionplus.Flashes[int](s, "flash"); err != nil || !reflect.DeepEqual(got, []int{7}) {
			t.Errorf("Flashes in the request that added it = %v, %v", got, err)
		}
		return nil
	})
	// A field that holds something else is not a flash list.
	b.do(t, m, func(s *sessionplus.Session) error {
		if err := s.Set("theme", "dark"); err != nil {
			t.Fatal(err)
		}
		if err := s.AddFlash("theme", "x"); !errors.Is(err, sessionplus.ErrWrongType) {
			t.Errorf("AddFlash to a field holding a string: %v, want ErrWrongType", err)
		}
		if v, _, _ := sessionplus.GetAs[string](s, "theme"); v != "dark" {
			t.Errorf("after the refused AddFlash theme = %q, want it kept", v)
		}
		return nil
	})
}

func TestPop(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_data", "once"), s.Set("theme", 3))
	}); err != nil {
		t.Fatal(err)
	}
	b.do(t, m, func(s *sessionplus.Session) error {
		if _, _, err := sessionplus.Pop[string](s, "theme"); !errors.Is(err, sessionplus.ErrWrongType) {
			t.Errorf("Pop[string] of an int: %v, want ErrWrongType", err)
		}
		v, ok, err := sessionplus.Pop[string](s, "user_data")
		if v != "once" || !ok || err != nil {
			t.Errorf("Pop = %q, %v, %v", v, ok, err)
		}
		return nil
	})
	b.do(t, m, func(s *sessionplus.Session) error {
		if _, ok, err := sessionplus.Pop[string](s, "user_data"); ok || err != nil {
			t.Errorf("the popped field is still there (%v, %v)", ok, err)
		}
		if v, ok, _ := sessionplus.GetAs[int](s, "theme"); !ok || v != 3 {
			t.Errorf("the field a wrong-type Pop refused is %v, %v; want it kept", v, ok)
		}
		return nil
	})
}

// TestPartSetPermanent: remember the user for a month while the CSRF cookie
// stays a browser-session cookie.
func TestPartSetPermanent(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	w, err := b.do(t, m, func(s *sessionplus.Session) error {
		p, err := s.Part("session")
		if err != nil {
			return err
		}
		return errors.Join(s.Set("csrf_token", "t"), s.Set("user_id", 1), p.SetPermanent(true))
	})
	if err != nil {
		t.Fatal(err)
	}
	c := setCookies(w)
	if c["session"] == nil || c["session"].MaxAge <= 0 {
		t.Errorf("the remembered session's cookie is %v, want a persistent one", c["session"])
	}
	if c["csrf"] == nil || c["csrf"].MaxAge != 0 {
		t.Errorf("the csrf cookie is %v, want a browser-session cookie", c["csrf"])
	}
	b.do(t, m, func(s *sessionplus.Session) error {
		u, _ := s.Part("session")
		k, _ := s.Part("csrf")
		if !u.Permanent() || k.Permanent() {
			t.Errorf("next request: session permanent %v, csrf permanent %v; want true, false", u.Permanent(), k.Permanent())
		}
		return nil
	})
}
