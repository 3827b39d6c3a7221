package sessionplus_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	_ "github.com/sessionplus/sessionplus/drivers/memory"
)

// The Manager works with any net/http handler: Begin a session per request
// and Commit it before the response headers are written.
func ExampleNew() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		SecretKeys: [][]byte{[]byte("an example key of 32 bytes or more!!")},
		Sessions: []sessionplus.Options{
			{"cookie_name": "session", "session_type": "memory", "session_fields": []string{"user_id"}},
			{"cookie_name": "prefs", "session_type": "secure_cookie", "session_fields": "auto"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	handler := func(w http.ResponseWriter, r *http.Request) {
		sess := m.Begin(w, r)
		if err := sess.Set("user_id", 7); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := sess.Commit(); err != nil { // before the headers go out
			http.Error(w, "session not saved", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}
	rec := httptest.NewRecorder()
	handler(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	for _, c := range rec.Result().Cookies() {
		fmt.Println(c.Name, len(c.Value) < 80)
	}
	// Output: session true
}

type cart struct {
	Items []string
	Total float64
}

// GetAs gives back the type that was stored: no gob.Register, no type
// assertions on generic maps.
func ExampleGetAs() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{"cookie_name": "session", "session_type": "memory"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// First request: store a struct and a time.
	rec := httptest.NewRecorder()
	sess := m.Begin(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	sess.Set("cart", cart{Items: []string{"tea"}, Total: 4.5})
	sess.Set("seen", time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	if err := sess.Commit(); err != nil {
		log.Fatal(err)
	}

	// Next request, with the cookie: read them back typed.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	sess = m.Begin(httptest.NewRecorder(), req)
	c, ok, err := sessionplus.GetAs[cart](sess, "cart")
	fmt.Println(c, ok, err)
	seen, _, _ := sessionplus.GetAs[time.Time](sess, "seen")
	fmt.Println(seen.Format(time.Kitchen))
	_, _, err = sessionplus.GetAs[int](sess, "seen")
	fmt.Println(err)
	// Output:
	// {[tea] 4.5} true <nil>
	// 9:00AM
	// sessionplus: field "seen": stored value has another type: holds time.Time, not int
}

// Flash messages are shown once: added before a redirect, read (and
// removed) by the next page.
func ExampleFlashes() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		SecretKeys: [][]byte{[]byte("an example key of 32 bytes or more!!")},
		Sessions:   []sessionplus.Options{{"cookie_name": "data", "session_type": "secure_cookie"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// POST /login: add a flash, then redirect.
	rec := httptest.NewRecorder()
	sess := m.Begin(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
	sess.AddFlash("flash", "Welcome back.")
	sess.AddFlash("flash", "You have 2 new messages.")
	if err := sess.Commit(); err != nil {
		log.Fatal(err)
	}
	// GET /: show them, once.
	for range 2 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range rec.Result().Cookies() {
			req.AddCookie(c)
		}
		rec = httptest.NewRecorder()
		sess = m.Begin(rec, req)
		msgs, err := sessionplus.Flashes[string](sess, "flash")
		fmt.Println(msgs, err)
		sess.Commit()
	}
	// Output:
	// [Welcome back. You have 2 new messages.] <nil>
	// [] <nil>
}

// A session can travel in a header instead of a cookie, for API clients:
// token_header names it, and Part.Token gives the token for a JSON login's
// body.
func ExamplePart_Token() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{"cookie_name": "session", "session_type": "memory", "token_header": "Authorization"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// POST /api/login: the token goes in the JSON body.
	sess := m.Begin(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/login", nil))
	sess.Set("user_id", 7)
	part, _ := sess.Part("session")
	token, err := part.Token()
	if err != nil {
		log.Fatal(err)
	}
	sess.Commit()

	// GET /api/me with "Authorization: Bearer <token>".
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	sess = m.Begin(rec, req)
	uid, ok, err := sessionplus.GetAs[int](sess, "user_id")
	fmt.Println(uid, ok, err)
	sess.Commit()
	fmt.Println(rec.Header().Values("Set-Cookie"), rec.Header().Get("Vary"))
	// Output:
	// 7 true <nil>
	// [] Authorization
}

// Pop reads a field once: a one-time value such as where to go after
// logging in.
func ExamplePop() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{"cookie_name": "session", "session_type": "memory"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	sess := m.Begin(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	sess.Set("next", "/cart")
	next, ok, err := sessionplus.Pop[string](sess, "next")
	fmt.Println(next, ok, err)
	_, ok, _ = sessionplus.Pop[string](sess, "next")
	fmt.Println(ok)
	// Output:
	// /cart true <nil>
	// false
}
