package multisessionv5

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTokenHeader: a session that comes by its token_header answers by it:
// the new token after a login, no Set-Cookie, Vary names the header.
func TestTokenHeader(t *testing.T) {
	e := app(t, Config{Sessions: withSession(1, "token_header", "Authorization")})
	do := func(method, path, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w
	}
	w := do("POST", "/login", "none-yet")
	token := strings.TrimPrefix(w.Header().Get("Authorization"), "Bearer ")
	if w.Code != http.StatusOK || token == "" || token == "none-yet" {
		t.Fatalf("login by header: %d, Authorization %q; want the new session's token", w.Code, w.Header().Get("Authorization"))
	}
	if strings.Contains(strings.Join(w.Header().Values("Set-Cookie"), ";"), "session=") {
		t.Errorf("the session that came by header answered by cookie: %q", w.Header().Values("Set-Cookie"))
	}
	w = do("GET", "/me", token)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "42") {
		t.Errorf("GET /me with the token: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Authorization") {
		t.Errorf("Vary = %q, want Authorization", w.Header().Values("Vary"))
	}
}

// TestVaryOnRead: a response that read a session says Vary: Cookie even
// when it sets no cookie.
func TestVaryOnRead(t *testing.T) {
	e := app(t, Config{})
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
	r := httptest.NewRequest("GET", "/me", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	w = httptest.NewRecorder()
	e.ServeHTTP(w, r)
	if w.Code != http.StatusOK || len(w.Header().Values("Set-Cookie")) != 0 {
		t.Fatalf("GET /me after login: %d, Set-Cookie %q; want 200 and no cookie", w.Code, w.Header().Values("Set-Cookie"))
	}
	if w.Header().Get("Vary") != "Cookie" {
		t.Errorf("Vary = %q, want Cookie", w.Header().Get("Vary"))
	}
}
