package sessionplus_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// TestStartupRefusesWhatCannotWork: values that used to pass and then
// panic or send a broken cookie are configuration errors naming the key.
func TestStartupRefusesWhatCannotWork(t *testing.T) {
	for name, tc := range map[string]struct {
		opts sessionplus.Options
		want string
	}{
		"nil memory store": {sessionplus.Options{"cookie_name": "s", "store": (*memory.Store)(nil)}, `key "store": got a nil *memory.Store`},
		"nil cookie store": {sessionplus.Options{"cookie_name": "s", "store": (*cookie.Store)(nil)}, `key "store": got a nil *cookie.Store`},
		"SameSite(99)":     {sessionplus.Options{"cookie_name": "s", "cookie_samesite": http.SameSite(99)}, `key "cookie_samesite": expected "Lax", "Strict" or "None"`},
		"domain dot":       {sessionplus.Options{"cookie_name": "s", "cookie_domain": "."}, `key "cookie_domain": "." is not a valid domain`},
		"domain dots":      {sessionplus.Options{"cookie_name": "s", "cookie_domain": "a..example.com"}, `key "cookie_domain"`},
		"domain hyphen":    {sessionplus.Options{"cookie_name": "s", "cookie_domain": "-example.com"}, `key "cookie_domain"`},
		"domain trailing":  {sessionplus.Options{"cookie_name": "s", "cookie_domain": "example.com."}, `key "cookie_domain"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sessionplus.New(context.Background(), sessionplus.Config{Sessions: []sessionplus.Options{tc.opts}, SecretKeys: [][]byte{testKey}})
			if err == nil || !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an ErrConfig containing %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"example.com", ".example.com", "a-b.example.co.uk", "localhost"} {
		if _, err := sessionplus.New(context.Background(), sessionplus.Config{SecretKeys: [][]byte{testKey},
			Sessions: []sessionplus.Options{{"cookie_name": "s", "cookie_domain": ok}}}); err != nil {
			t.Errorf("cookie_domain %q refused: %v", ok, err)
		}
	}
}

// TestFailedReadIsLogged: a backend read that fails is logged once per
// request and session, with the session's name and type and no id.
func TestFailedReadIsLogged(t *testing.T) {
	sessions, sp, _ := seed()
	var logs bytes.Buffer
	m, err := sessionplus.New(context.Background(), sessionplus.Config{Sessions: sessions, SecretKeys: [][]byte{testKey},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser()
	login(t, m, b)
	sp.failLoad = errors.New("connection refused")
	b.do(t, m, func(s *sessionplus.Session) error {
		for range 3 {
			if _, _, err := s.Get("user_id"); err == nil {
				t.Fatal("a failed read returned no error")
			}
		}
		return nil
	})
	out := logs.String()
	if n := strings.Count(out, "reading the session failed"); n != 1 {
		t.Errorf("the failed read was logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "session=session") || !strings.Contains(out, "type=memory") || !strings.Contains(out, "connection refused") {
		t.Errorf("the log line lacks the session, type or error:\n%s", out)
	}
	if id := strings.Split(b.cookies["session"], ".")[0]; strings.Contains(out, id) {
		t.Errorf("the log holds the session id:\n%s", out)
	}
}
