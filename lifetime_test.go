package sessionplus_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
)

// editTerms returns a server-side session's cookie with its terms (the
// permanent flag and creation time) replaced and its keep-alive made due.
func editTerms(t *testing.T, v, terms string) string {
	t.Helper()
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		t.Fatalf("id cookie %q is not <id>.<terms>.<due>", v)
	}
	return parts[0] + "." + terms + ".0"
}

// login starts the seed's sessions for a user, not permanent.
func login(t *testing.T, m *sessionplus.Manager, b *browser) {
	t.Helper()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_id", 1), s.Set("theme", "x"), s.Set("csrf_token", "t"))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestForgedTermsMakeNothingPermanent: editing the permanent flag or the
// creation time of an id cookie names a storage key that holds nothing, so
// the stored session keeps its lifetime and no persistent cookie comes back.
func TestForgedTermsMakeNothingPermanent(t *testing.T) {
	sessions, _, mem := seed()
	m := newManager(t, sessions)
	clk := &clock{t: time.Now()}
	sessionplus.SetClock(m, clk.now)
	b := newBrowser()
	login(t, m, b)
	real := b.cookies["session"]
	created := strings.Split(real, ".")[1][1:]
	for name, forged := range map[string]string{
		"p flag":          editTerms(t, real, "p"+created),
		"p flag, time 0":  editTerms(t, real, "p0"),
		"earlier created": editTerms(t, real, "s0"),
		"later created":   editTerms(t, real, "s"+strconv.FormatInt(clk.now().Add(time.Hour).Unix(), 36)),
	} {
		t.Run(name, func(t *testing.T) {
			fb := newBrowser()
			fb.cookies["session"] = forged
			w, err := fb.do(t, m, func(*sessionplus.Session) error { return nil }) // a keep-alive only
			if err != nil {
				t.Fatal(err)
			}
			if c := setCookies(w)["session"]; c != nil && c.MaxAge > 0 {
				t.Errorf("a forged cookie got a persistent cookie back: %s", c.Raw)
			}
			realSession(t, m, b, clk)
			fb.cookies["session"] = forged
			_, err = fb.do(t, m, func(s *sessionplus.Session) error {
				if uid, ok, err := s.Get("user_id"); ok || err != nil {
					t.Errorf("the forged cookie reads user_id = %v, %v, %v; want a fresh session", uid, ok, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := fb.cookies["session"]; ok {
				t.Errorf("the browser still holds the forged cookie after a read found nothing")
			}
			realSession(t, m, b, clk)
		})
	}
	if mem.Len() != 1 {
		t.Fatalf("the store holds %d records, want the one real session", mem.Len())
	}
}

// realSession checks that b's session is as its login made it: the user
// logged in, not permanent, expiring within session_lifetime.
func realSession(t *testing.T, m *sessionplus.Manager, b *browser, clk *clock) {
	t.Helper()
	b.do(t, m, func(s *sessionplus.Session) error {
		p, _ := s.Part("session")
		exp, err := p.Expiry()
		uid, _, _ := sessionplus.GetAs[int](s, "user_id")
		if err != nil || uid != 1 || p.Permanent() || exp.Sub(clk.now()) > sessionplus.DefaultLifetime {
			t.Errorf("the real session: user %d, permanent %v, expiry in %v (%v); want user 1, not permanent, within a day",
				uid, p.Permanent(), exp.Sub(clk.now()), err)
		}
		return nil
	})
}

// TestForgedHintMakesNothingPermanent: the keep-alive hint of a secure
// cookie is not authenticated; set to "permanent, due now" it makes the
// server decode the cookie, which re-signs it with the lifetime its record
// says, never as permanent.
func TestForgedHintMakesNothingPermanent(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	login(t, m, b)
	v := b.cookies["data"]
	i := strings.LastIndexByte(v, '~')
	if i < 0 {
		t.Fatalf("data cookie %q has no hint", v)
	}
	fb := newBrowser()
	fb.cookies["data"] = v[:i] + "~p0"
	w, err := fb.do(t, m, func(*sessionplus.Session) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	// The hint said a re-save was due; the record said not yet. Either no
	// cookie comes back, or one of the record's own lifetime.
	if c := setCookies(w)["data"]; c != nil && (c.MaxAge > 0 || !c.Expires.IsZero()) {
		t.Errorf("the re-signed cookie is persistent (%s): the forged hint made the session permanent", c.Raw)
	}
	fb.do(t, m, func(s *sessionplus.Session) error {
		p, _ := s.Part("data")
		exp, err := p.Expiry()
		if p.Permanent() || err != nil || time.Until(exp) > sessionplus.DefaultLifetime {
			t.Errorf("after the forged hint: permanent %v, expiry in %v (%v)", p.Permanent(), time.Until(exp), err)
		}
		return nil
	})
}

// TestGarbageCookieMakesNoLoginPermanent: a cookie that decodes to nothing
// cannot pass its claimed permanence on to a session started beside it.
func TestGarbageCookieMakesNoLoginPermanent(t *testing.T) {
	sessions, sp, _ := seed()
	m := newManager(t, sessions)
	for _, garbage := range []string{"x~p1", "~p0", "AAAA~p" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 36)} {
		sp.reset()
		b := newBrowser()
		b.cookies["data"] = garbage
		w, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", 7) })
		if err != nil {
			t.Fatal(err)
		}
		if c := setCookies(w)["session"]; c == nil || c.MaxAge > 0 {
			t.Errorf("data=%s: the new session's cookie is %v, want a browser-session cookie", garbage, c)
		}
		if len(sp.saves) != 1 || sp.saves[0].Expiry.Sub(time.Now()) > sessionplus.DefaultLifetime {
			t.Errorf("data=%s: the new session was stored with %+v, want session_lifetime", garbage, sp.saves)
		}
	}
	// A permanent session the browser does hold still passes it on.
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("theme", "x"), s.SetPermanent(true))
	}); err != nil {
		t.Fatal(err)
	}
	w, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", 8) })
	if err != nil {
		t.Fatal(err)
	}
	if c := setCookies(w)["session"]; c == nil || c.MaxAge <= 0 {
		t.Errorf("a session started beside a permanent one is %v, want permanent", c)
	}
}

// request is one request begun but not yet committed, to interleave
// requests deterministically.
type request struct {
	s *sessionplus.Session
	w *httptest.ResponseRecorder
}

func (b *browser) begin(m *sessionplus.Manager) *request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for name, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	w := httptest.NewRecorder()
	return &request{s: m.Begin(w, r), w: w}
}

func (rq *request) commit(t *testing.T, b *browser) *httptest.ResponseRecorder {
	t.Helper()
	if err := rq.s.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	b.keep(rq.w.Result().Cookies())
	return rq.w
}

// TestLogoutDuringRequest: request A reads the session, request B logs
// out, then A changes the session. The logged-out id must not come back:
// A's changes are dropped, A sends no cookie for the session (so B's
// expired cookie stands), and the old cookie loads nothing.
func TestLogoutDuringRequest(t *testing.T) {
	for name, change := range map[string]func(s *sessionplus.Session) error{
		"set":        func(s *sessionplus.Session) error { return s.Set("user_data", "late") },
		"delete":     func(s *sessionplus.Session) error { return s.Delete("user_data") },
		"regenerate": func(s *sessionplus.Session) error { return s.Regenerate() },
		"permanent":  func(s *sessionplus.Session) error { return s.SetPermanent(true) },
	} {
		t.Run(name, func(t *testing.T) {
			sessions, _, mem := seed()
			m := newManager(t, sessions)
			b := newBrowser()
			if _, err := b.do(t, m, func(s *sessionplus.Session) error {
				return errors.Join(s.Set("user_id", 1), s.Set("user_data", "d"))
			}); err != nil {
				t.Fatal(err)
			}
			old := b.cookies["session"]

			a := b.begin(m) // A reads
			if _, ok, err := a.s.Get("user_id"); !ok || err != nil {
				t.Fatalf("A reads user_id: %v, %v", ok, err)
			}
			bw := newBrowser()
			bw.cookies = map[string]string{"session": old}
			if _, err := bw.do(t, m, (*sessionplus.Session).Destroy); err != nil { // B logs out
				t.Fatal(err)
			}
			if err := change(a.s); err != nil { // A changes the session
				t.Fatal(err)
			}
			w := a.commit(t, newBrowser())
			if c := setCookies(w)["session"]; c != nil {
				t.Errorf("A's response set the session cookie %s: it would overwrite B's log-out", c.Raw)
			}
			if n := mem.Len(); n != 0 {
				t.Errorf("the store holds %d records after the log-out: A brought the session back", n)
			}
			replay := newBrowser()
			replay.cookies["session"] = old
			replay.do(t, m, func(s *sessionplus.Session) error {
				if v, ok, err := s.Get("user_id"); ok || err != nil {
					t.Errorf("the logged-out cookie loads user_id = %v (%v)", v, err)
				}
				return nil
			})
		})
	}
}

// TestKeepAliveDuringLogin: a keep-alive that finds its record gone because
// a login moved the session to a new id sends no cookie, so it cannot
// overwrite the new one.
func TestKeepAliveDuringLogin(t *testing.T) {
	sessions, _, _ := seed()
	sessions[1]["session_lifetime"] = "100s"
	m := newManager(t, sessions)
	clk := &clock{t: time.Now()}
	sessionplus.SetClock(m, clk.now)
	b := newBrowser()
	login(t, m, b)
	clk.advance(11 * time.Second) // a keep-alive is due
	a := b.begin(m)
	if _, err := b.do(t, m, func(s *sessionplus.Session) error { return errors.Join(s.Regenerate(), s.Set("user_id", 2)) }); err != nil {
		t.Fatal(err)
	}
	loggedIn := b.cookies["session"]
	w := a.commit(t, b)
	if c := setCookies(w)["session"]; c != nil {
		t.Errorf("the keep-alive in flight set %s, overwriting the login's cookie", c.Raw)
	}
	if b.cookies["session"] != loggedIn {
		t.Error("the browser lost the cookie of its login")
	}
}

// TestAbsoluteLifetime: however active, permanent or not, a session ends
// session_absolute_lifetime after it was created; no record and no cookie
// outlives that point; the next request is a fresh session; Regenerate
// starts a new window.
func TestAbsoluteLifetime(t *testing.T) {
	for _, permanent := range []bool{false, true} {
		t.Run("permanent="+strconv.FormatBool(permanent), func(t *testing.T) {
			sessions, sp, _ := seed()
			for _, s := range sessions {
				s["session_lifetime"] = "30m"
				s["session_absolute_lifetime"] = "2h"
			}
			m := newManager(t, sessions)
			start := time.Now()
			clk := &clock{t: start}
			sessionplus.SetClock(m, clk.now)
			end := start.Add(2 * time.Hour)
			b := newBrowser()
			if _, err := b.do(t, m, func(s *sessionplus.Session) error {
				return errors.Join(s.Set("user_id", 1), s.Set("theme", "x"), s.Set("csrf_token", "t"), s.SetPermanent(permanent))
			}); err != nil {
				t.Fatal(err)
			}
			for clk.now().Add(4 * time.Minute).Before(end) {
				clk.advance(4 * time.Minute) // active: a keep-alive is due at every request
				sp.reset()
				w, err := b.do(t, m, func(s *sessionplus.Session) error {
					if clk.now().Before(end) {
						for _, f := range []string{"user_id", "theme", "csrf_token"} {
							if _, ok, err := s.Get(f); !ok || err != nil {
								t.Fatalf("at +%v, before the absolute deadline, %s is gone (%v)", clk.now().Sub(start), f, err)
							}
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range sp.saves {
					if u.Expiry.After(end) {
						t.Fatalf("at +%v a %v set the record's expiry past the absolute deadline by %v", clk.now().Sub(start), u.Kind, u.Expiry.Sub(end))
					}
				}
				for name, c := range setCookies(w) {
					if c.MaxAge > 0 && clk.now().Add(time.Duration(c.MaxAge)*time.Second).After(end.Add(time.Second)) {
						t.Fatalf("at +%v the %s cookie lives %ds, past the absolute deadline", clk.now().Sub(start), name, c.MaxAge)
					}
				}
			}
			clk.t = end
			w, err := b.do(t, m, func(s *sessionplus.Session) error {
				for _, f := range []string{"user_id", "theme", "csrf_token"} {
					if v, ok, err := s.Get(f); ok || err != nil {
						t.Errorf("at the absolute deadline %s = %v (%v), want a fresh session", f, v, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("a session past its absolute lifetime answered with an error: %v", err)
			}
			if n := len(setCookies(w)); n != 3 {
				t.Errorf("at the absolute deadline %d cookies were expired, want all 3", n)
			}
		})
	}
	t.Run("Regenerate starts a new window", func(t *testing.T) {
		sessions, _, _ := seed()
		sessions[1]["session_absolute_lifetime"] = "1h"
		m := newManager(t, sessions)
		clk := &clock{t: time.Now()}
		sessionplus.SetClock(m, clk.now)
		b := newBrowser()
		login(t, m, b)
		clk.advance(50 * time.Minute)
		if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Regenerate() }); err != nil {
			t.Fatal(err)
		}
		clk.advance(50 * time.Minute) // 100 minutes after the first login, 50 after the new id
		b.do(t, m, func(s *sessionplus.Session) error {
			if _, ok, err := s.Get("user_id"); !ok || err != nil {
				t.Errorf("50 minutes after Regenerate the session is gone (%v)", err)
			}
			return nil
		})
	})
	t.Run("SetPermanent keeps the window", func(t *testing.T) {
		sessions, _, _ := seed()
		sessions[1]["session_absolute_lifetime"] = "1h"
		m := newManager(t, sessions)
		clk := &clock{t: time.Now()}
		sessionplus.SetClock(m, clk.now)
		b := newBrowser()
		login(t, m, b)
		clk.advance(50 * time.Minute)
		if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.SetPermanent(true) }); err != nil {
			t.Fatal(err)
		}
		clk.advance(11 * time.Minute)
		b.do(t, m, func(s *sessionplus.Session) error {
			if v, ok, err := s.Get("user_id"); ok || err != nil {
				t.Errorf("61 minutes after login, made permanent at 50, user_id = %v (%v): SetPermanent extended the absolute lifetime", v, err)
			}
			return nil
		})
	})
}

// TestPermanenceMoves: a change of permanence moves the stored session to
// the key of its new terms; the cookie of the old terms, replayed, loads
// nothing, so replaying an older response cannot restore a longer lifetime.
func TestPermanenceMoves(t *testing.T) {
	sessions, _, mem := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_id", 1), s.SetPermanent(true))
	}); err != nil {
		t.Fatal(err)
	}
	permanent := b.cookies["session"]
	w, err := b.do(t, m, func(s *sessionplus.Session) error { return s.SetPermanent(false) })
	if err != nil {
		t.Fatal(err)
	}
	if c := setCookies(w)["session"]; c == nil || c.MaxAge != 0 {
		t.Fatalf("after SetPermanent(false) the session cookie is %v, want a browser-session cookie", c)
	}
	if mem.Len() != 1 {
		t.Errorf("the store holds %d records after the move, want 1", mem.Len())
	}
	replay := newBrowser()
	replay.cookies["session"] = permanent
	replay.do(t, m, func(s *sessionplus.Session) error {
		if v, ok, err := s.Get("user_id"); ok || err != nil {
			t.Errorf("the replayed permanent cookie loads user_id = %v (%v)", v, err)
		}
		return nil
	})
	b.do(t, m, func(s *sessionplus.Session) error {
		if v, _, _ := sessionplus.GetAs[int](s, "user_id"); v != 1 || s.Permanent() {
			t.Errorf("after the move: user_id %v, permanent %v; want 1, false", v, s.Permanent())
		}
		return nil
	})
}

// TestRegenerateKeepsPermanence: a login's Regenerate moves a remembered
// session to a new id and keeps it remembered.
func TestRegenerateKeepsPermanence(t *testing.T) {
	sessions, _, _ := seed()
	m := newManager(t, sessions)
	b := newBrowser()
	if _, err := b.do(t, m, func(s *sessionplus.Session) error {
		return errors.Join(s.Set("user_id", 1), s.SetPermanent(true))
	}); err != nil {
		t.Fatal(err)
	}
	before := b.cookies["session"]
	w, err := b.do(t, m, (*sessionplus.Session).Regenerate)
	if err != nil {
		t.Fatal(err)
	}
	c := setCookies(w)["session"]
	if c == nil || c.Value == before || c.MaxAge <= 0 {
		t.Fatalf("after Regenerate the session cookie is %v, want a new, persistent one", c)
	}
	b.do(t, m, func(s *sessionplus.Session) error {
		if p, _ := s.Part("session"); !p.Permanent() {
			t.Error("the regenerated session is not permanent any more")
		}
		return nil
	})
}

// TestEditedDueOnlyMovesTheKeepAlive: the due time of an id cookie is not
// bound to its record; edited, it only makes the session's own keep-alive
// come sooner or later, never lengthens the session past session_lifetime
// nor makes it permanent.
func TestEditedDueOnlyMovesTheKeepAlive(t *testing.T) {
	sessions, sp, _ := seed()
	m := newManager(t, sessions)
	clk := &clock{t: time.Now()}
	sessionplus.SetClock(m, clk.now)
	b := newBrowser()
	login(t, m, b)
	f := strings.Split(b.cookies["session"], ".")
	for name, due := range map[string]string{"due now": "0", "due in 100 years": strconv.FormatInt(clk.now().AddDate(100, 0, 0).Unix(), 36)} {
		sp.reset()
		eb := newBrowser()
		eb.cookies["session"] = f[0] + "." + f[1] + "." + due
		w, err := eb.do(t, m, func(s *sessionplus.Session) error {
			if uid, _, err := sessionplus.GetAs[int](s, "user_id"); uid != 1 || err != nil {
				t.Errorf("%s: the session reads user_id %d (%v); editing the due time must not end it", name, uid, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if c := setCookies(w)["session"]; c != nil && c.MaxAge > 0 {
			t.Errorf("%s: a persistent cookie came back: %s", name, c.Raw)
		}
		for _, u := range sp.saves {
			if u.Expiry.Sub(clk.now()) > sessionplus.DefaultLifetime {
				t.Errorf("%s: a %v moved the expiry %v ahead, past session_lifetime", name, u.Kind, u.Expiry.Sub(clk.now()))
			}
		}
	}
}
