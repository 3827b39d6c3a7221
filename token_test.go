package sessionplus_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// apiClient sends its session token in a header, as a mobile app or CLI
// does, and keeps the token each response carries.
type apiClient struct {
	header, token string
}

func (c *apiClient) do(t *testing.T, m *sessionplus.Manager, handler func(s *sessionplus.Session) error) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if c.token != "" {
		v := c.token
		if c.header == "Authorization" {
			v = "Bearer " + v
		}
		r.Header.Set(c.header, v)
	}
	w := httptest.NewRecorder()
	s := m.Begin(w, r)
	if err := handler(s); err != nil {
		t.Fatalf("handler: %v", err)
	}
	if err := s.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if vs, ok := w.Header()[c.header]; ok {
		c.token = strings.TrimPrefix(vs[0], "Bearer ")
	}
	return w
}

func tokenManager(t *testing.T, header string, extra ...any) (*sessionplus.Manager, *memory.Store) {
	mem := memory.New()
	o := sessionplus.Options{"cookie_name": "session", "store": mem, "session_type": "memory", "token_header": header}
	for i := 0; i+1 < len(extra); i += 2 {
		o[extra[i].(string)] = extra[i+1]
	}
	return newManager(t, []sessionplus.Options{o}), mem
}

func TestTokenHeader(t *testing.T) {
	for _, header := range []string{"Authorization", "X-Session-Token"} {
		t.Run(header, func(t *testing.T) {
			m, mem := tokenManager(t, header)
			c := &apiClient{header: header}
			// A JSON login: no token yet; Token gives the one to put in the body.
			var token string
			w := c.do(t, m, func(s *sessionplus.Session) error {
				if err := s.Set("user_id", 42); err != nil {
					return err
				}
				p, _ := s.Part("session")
				var err error
				token, err = p.Token()
				return err
			})
			if token == "" {
				t.Fatal("Token() of a new session is empty")
			}
			if strings.Contains(w.Header().Get("Set-Cookie"), token) != true {
				t.Errorf("a login without a token answers by cookie; Set-Cookie = %q", w.Header().Get("Set-Cookie"))
			}
			c.token = token
			w = c.do(t, m, func(s *sessionplus.Session) error {
				if uid, _, err := sessionplus.GetAs[int](s, "user_id"); uid != 42 || err != nil {
					t.Errorf("by header: user_id = %d, %v", uid, err)
				}
				return s.Set("cart", 1)
			})
			if got := w.Header().Values("Set-Cookie"); len(got) != 0 {
				t.Errorf("a session that came by header answered with Set-Cookie %q", got)
			}
			if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), header) {
				t.Errorf("Vary = %q, want it to name %s", w.Header().Values("Vary"), header)
			}
			// Regenerate: the new token comes back in the header, the old one is dead.
			old := c.token
			w = c.do(t, m, (*sessionplus.Session).Regenerate)
			if c.token == old || c.token == "" {
				t.Fatalf("after Regenerate the header carried %q", w.Header().Get(header))
			}
			stale := &apiClient{header: header, token: old}
			stale.do(t, m, func(s *sessionplus.Session) error {
				if _, ok, _ := s.Get("user_id"); ok {
					t.Error("the token from before Regenerate still loads the session")
				}
				return nil
			})
			// Log-out: the header comes back empty, the record is gone.
			w = c.do(t, m, (*sessionplus.Session).Destroy)
			if vs := w.Header()[header]; len(vs) != 1 || vs[0] != "" {
				t.Errorf("after Destroy the header is %q, want present and empty", vs)
			}
			if mem.Len() != 0 {
				t.Errorf("after Destroy the store holds %d records", mem.Len())
			}
		})
	}
}

func TestTokenHeaderAttacks(t *testing.T) {
	m, mem := tokenManager(t, "Authorization", "use_signer", true)
	c := &apiClient{header: "Authorization"}
	c.do(t, m, func(s *sessionplus.Session) error {
		p, _ := s.Part("session")
		_, err := p.Token()
		return errors.Join(s.Set("user_id", 1), err)
	})
	w := httptest.NewRecorder()
	b := newBrowser()
	b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", 2) })
	real := b.cookies["session"]
	// The cookie wins when both come.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "session", Value: real})
	r.Header.Set("Authorization", "Bearer garbage")
	s := m.Begin(w, r)
	if uid, _, _ := sessionplus.GetAs[int](s, "user_id"); uid != 2 {
		t.Errorf("with a cookie and a header, user_id = %d, want the cookie's 2", uid)
	}
	for name, token := range map[string]string{
		"tampered":  flip(real),
		"unsigned":  real[:strings.LastIndexByte(real, '.')],
		"garbage":   "x",
		"no bearer": "",
	} {
		t.Run(name, func(t *testing.T) {
			before := mem.Len()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if name == "no bearer" {
				r.Header.Set("Authorization", "Basic dXNlcjpwdw==")
			} else {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			w := httptest.NewRecorder()
			s := m.Begin(w, r)
			if _, ok, err := s.Get("user_id"); ok || err != nil {
				t.Errorf("a %s token reads the session (%v)", name, err)
			}
			if err := s.Set("note", "x"); err != nil {
				t.Fatal(err)
			}
			if err := s.Commit(); err != nil {
				t.Fatalf("a %s token: %v, want a fresh session", name, err)
			}
			got := strings.TrimPrefix(w.Header().Get("Authorization"), "Bearer ")
			if got == "" || got == token || idPart(got) == idPart(real) {
				t.Errorf("a %s token was answered with %q: want a new session's token", name, got)
			}
			if mem.Len() != before+1 {
				t.Errorf("a %s token: %d records, want one more", name, mem.Len())
			}
		})
	}
}

func idPart(v string) string { id, _, _ := strings.Cut(v, "."); return id }

func TestTokenHeaderConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		opts sessionplus.Options
		want string
	}{
		"secure cookie": {sessionplus.Options{"cookie_name": "s", "session_type": "secure_cookie", "token_header": "X-Token"}, `key "token_header": applies only to server-side sessions`},
		"bad name":      {sessionplus.Options{"cookie_name": "s", "session_type": "memory", "token_header": "X Token"}, `key "token_header": expected a header name`},
		"cookie header": {sessionplus.Options{"cookie_name": "s", "session_type": "memory", "token_header": "cookie"}, `carries cookies`},
		"wrong type":    {sessionplus.Options{"cookie_name": "s", "session_type": "memory", "token_header": 3}, `token_header`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sessionplus.New(context.Background(), sessionplus.Config{Sessions: []sessionplus.Options{tc.opts}, SecretKeys: [][]byte{testKey}})
			if err == nil || !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an ErrConfig containing %q", err, tc.want)
			}
		})
	}
}

// TestTokenLogoutDuringRequest: request A comes by token and reads the
// session, B logs out, then A sets a field: the session stays gone, and A
// answers with no token (it would hand the client a live one again).
func TestTokenLogoutDuringRequest(t *testing.T) {
	m, mem := tokenManager(t, "X-Session-Token")
	c := &apiClient{header: "X-Session-Token"}
	var token string
	c.do(t, m, func(s *sessionplus.Session) error {
		if err := s.Set("user_id", 1); err != nil {
			return err
		}
		p, _ := s.Part("session")
		var err error
		token, err = p.Token()
		return err
	})
	c.token = token
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Session-Token", c.token)
	w := httptest.NewRecorder()
	a := m.Begin(w, r)
	if _, ok, err := a.Get("user_id"); !ok || err != nil {
		t.Fatalf("A reads user_id: %v, %v", ok, err)
	}
	(&apiClient{header: "X-Session-Token", token: c.token}).do(t, m, (*sessionplus.Session).Destroy)
	if err := a.Set("cart", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatalf("A's save after the log-out: %v", err)
	}
	if vs, ok := w.Header()["X-Session-Token"]; ok && vs[0] != "" {
		t.Errorf("A answered with the token %q after the log-out", vs[0])
	}
	if mem.Len() != 0 {
		t.Errorf("the store holds %d records: A brought the session back", mem.Len())
	}
}
