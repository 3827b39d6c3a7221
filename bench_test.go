package sessionplus_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessionplus/sessionplus"
)

// benchRequest returns a request carrying the cookies of a session that
// holds a csrf token, a user id and a theme.
func benchRequest(b *testing.B, m *sessionplus.Manager) *http.Request {
	br := newBrowser()
	t := &testing.T{}
	if _, err := br.do(t, m, func(s *sessionplus.Session) error {
		s.Set("csrf_token", "0123456789abcdef0123456789abcdef")
		s.Set("user_id", 42)
		return s.Set("theme", "dark")
	}); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for k, v := range br.cookies {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	return r
}

// benchHandler benchmarks, as sub-benchmark name, requests like r that
// run handler and commit.
func benchHandler(b *testing.B, m *sessionplus.Manager, r *http.Request, name string, handler func(s *sessionplus.Session) error) {
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			s := m.Begin(w, r)
			if err := handler(s); err != nil {
				b.Fatal(err)
			}
			if err := s.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// readUser and bumpUser read, and read and change, the server-side user_id.
func readUser(s *sessionplus.Session) error {
	_, _, err := sessionplus.GetAs[int](s, "user_id")
	return err
}

func bumpUser(s *sessionplus.Session) error {
	n, _, err := sessionplus.GetAs[int](s, "user_id")
	if err != nil {
		return err
	}
	return s.Set("user_id", n+1)
}

func BenchmarkSeed(b *testing.B) {
	sessions, _, _ := seed()
	m, err := sessionplus.New(b.Context(), sessionplus.Config{Sessions: sessions, SecretKeys: [][]byte{testKey}})
	if err != nil {
		b.Fatal(err)
	}
	r := benchRequest(b, m)
	run := func(name string, handler func(s *sessionplus.Session) error) { benchHandler(b, m, r, name, handler) }
	run("read-cookie-only", func(s *sessionplus.Session) error {
		_, _, err := sessionplus.GetAs[string](s, "csrf_token")
		return err
	})
	run("read-server", readUser)
	run("write-cookie", func(s *sessionplus.Session) error {
		n, _, err := sessionplus.GetAs[string](s, "theme")
		if err != nil {
			return err
		}
		return s.Set("theme", n)
	})
	run("write-server", bumpUser)
}

func BenchmarkCookie(b *testing.B) {
	m, err := sessionplus.New(b.Context(), sessionplus.Config{
		Sessions:   []sessionplus.Options{{"cookie_name": "session"}},
		SecretKeys: [][]byte{testKey},
	})
	if err != nil {
		b.Fatal(err)
	}
	r := benchRequest(b, m)
	benchHandler(b, m, r, "read", func(s *sessionplus.Session) error {
		_, _, err := sessionplus.GetAs[string](s, "theme")
		return err
	})
	benchHandler(b, m, r, "write", bumpUser)
}
