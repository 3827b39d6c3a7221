package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// apiCall makes one JSON request with no cookie jar, as a mobile app or a
// CLI would, and returns the status, the decoded body and the response.
func apiCall(t *testing.T, method, url, token, body string) (int, map[string]any, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return res.StatusCode, out, res
}

// TestJSONAPI: log in by JSON, get a token, use it as a bearer token, log
// out with it; the token is worthless afterwards, and a bearer-token
// request gets no cookie.
func TestJSONAPI(t *testing.T) {
	srv := startApp(t, appConfig{})
	code, body, _ := apiCall(t, "POST", srv.URL+"/api/login", "", `{"username": "ada"}`)
	token, _ := body["token"].(string)
	if code != http.StatusOK || token == "" {
		t.Fatalf("POST /api/login: %d %v, want 200 and a token", code, body)
	}
	code, body, res := apiCall(t, "GET", srv.URL+"/api/me", token, "")
	if code != http.StatusOK || body["name"] != "ada" {
		t.Fatalf("GET /api/me with the token: %d %v, want ada", code, body)
	}
	if got := res.Header.Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("a bearer-token request got cookies %q", got)
	}
	if !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Authorization") {
		t.Errorf("Vary = %q, want Authorization", res.Header.Values("Vary"))
	}
	if code, _, _ := apiCall(t, "GET", srv.URL+"/api/me", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me without a token: %d, want 401", code)
	}
	edited := "A" + token[1:]
	if token[0] == 'A' {
		edited = "B" + token[1:]
	}
	if code, _, _ := apiCall(t, "GET", srv.URL+"/api/me", edited, ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me with an edited token: %d, want 401", code)
	}
	if code, _, _ := apiCall(t, "POST", srv.URL+"/api/logout", token, ""); code != http.StatusNoContent {
		t.Errorf("POST /api/logout: %d, want 204", code)
	}
	if code, _, _ := apiCall(t, "GET", srv.URL+"/api/me", token, ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me with the token after log-out: %d, want 401", code)
	}
	if code, body, _ := apiCall(t, "POST", srv.URL+"/api/login", "", `{"username": "no spaces please"}`); code != http.StatusBadRequest {
		t.Errorf("POST /api/login with a bad name: %d %v, want 400", code, body)
	}
}
