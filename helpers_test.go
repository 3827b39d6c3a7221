package sessionplus_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// spy wraps a store, counts its calls and can make them fail.
type spy struct {
	sessionplus.Store
	mu       sync.Mutex
	loads    int
	saves    []sessionplus.Update
	deletes  int
	failLoad error
	failSave error
}

func (s *spy) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	s.mu.Lock()
	s.loads++
	err := s.failLoad
	s.mu.Unlock()
	if err != nil {
		return sessionplus.Record{}, err
	}
	return s.Store.Load(ctx, token)
}

func (s *spy) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	s.mu.Lock()
	s.saves = append(s.saves, u)
	err := s.failSave
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return s.Store.Save(ctx, token, u)
}

func (s *spy) Delete(ctx context.Context, token string) error {
	s.mu.Lock()
	s.deletes++
	s.mu.Unlock()
	return s.Store.Delete(ctx, token)
}

func (s *spy) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads, s.saves, s.deletes = 0, nil, 0
}

// seed returns the seed's three sessions with the server-side one on a spy
// over a memory store.
func seed() ([]sessionplus.Options, *spy, *memory.Store) {
	mem := memory.New()
	sp := &spy{Store: mem}
	return []sessionplus.Options{
		{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
		{"cookie_name": "session", "store": sp, "session_type": "memory", "session_fields": []string{"user_id", "user_data"}},
		{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
	}, sp, mem
}

func newManager(t *testing.T, sessions []sessionplus.Options, keys ...[]byte) *sessionplus.Manager {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{testKey}
	}
	m, err := sessionplus.New(context.Background(), sessionplus.Config{Sessions: sessions, SecretKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// browser keeps cookies across requests, as a browser does.
type browser struct {
	cookies map[string]string
}

func newBrowser() *browser { return &browser{cookies: map[string]string{}} }

// do runs handler on a request carrying b's cookies, commits the session as
// the middleware would, and keeps the cookies of the response.
func (b *browser) do(t *testing.T, m *sessionplus.Manager, handler func(s *sessionplus.Session) error) (*httptest.ResponseRecorder, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for name, v := range b.cookies {
		r.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	w := httptest.NewRecorder()
	s := m.Begin(w, r)
	if err := handler(s); err != nil {
		return w, err
	}
	err := s.Commit()
	b.keep(w.Result().Cookies())
	return w, err
}

func (b *browser) keep(cookies []*http.Cookie) {
	for _, c := range cookies {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
}

// setCookies returns the cookies a response set, by name.
func setCookies(w *httptest.ResponseRecorder) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range w.Result().Cookies() {
		out[c.Name] = c
	}
	return out
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
