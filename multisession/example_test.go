package multisession_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	_ "github.com/sessionplus/sessionplus/drivers/memory"
	"github.com/sessionplus/sessionplus/multisession"
)

// The seed's three sessions: the CSRF token in its own secure cookie, the
// user on a server-side session, everything else in a second secure cookie.
func ExampleMiddlewareWithConfig() {
	key := []byte("an example key of 32 bytes or more!!") // use 32 random bytes

	e := echo.New()
	e.Use(multisession.MiddlewareWithConfig(multisession.Config{
		SecretKeys: [][]byte{key},
		Sessions: []sessionplus.Options{
			{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
			{"cookie_name": "session", "session_type": "memory", "session_fields": []string{"user_id", "user_data"}},
			{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
		},
	}))
	e.POST("/login", func(c echo.Context) error {
		sess := multisession.Get(c)
		if err := sess.Set("user_id", 42); err != nil {
			return err
		}
		if err := sess.Set("theme", "dark"); err != nil { // no list names it: "auto" owns it
			return err
		}
		if err := sess.Regenerate(); err != nil { // a new id at login
			return err
		}
		return c.String(http.StatusOK, "welcome")
	})

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
	for _, c := range rec.Result().Cookies() {
		fmt.Println(c.Name, c.HttpOnly, c.SameSite == http.SameSiteLaxMode)
	}
	// Output:
	// session true true
	// data true true
}

// The configuration can live in a JSON or YAML file: durations are strings
// or whole seconds, and server-side backends take a "url" instead of a live
// client.
func Example_mapConfig() {
	const file = `[
		{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": ["csrf_token"]},
		{"cookie_name": "session", "session_type": "memory", "session_fields": {"include": ["user_id"]},
		 "session_lifetime": "2h", "session_permanent_lifetime": 2592000, "key_prefix": "myapp"},
		{"cookie_name": "data", "session_fields": "auto", "cookie_max_age": 86400}
	]`
	var sessions []sessionplus.Options
	if err := json.NewDecoder(strings.NewReader(file)).Decode(&sessions); err != nil {
		log.Fatal(err)
	}
	mw, err := multisession.Config{
		SecretKeys: [][]byte{[]byte("an example key of 32 bytes or more!!")},
		Sessions:   sessions,
	}.ToMiddleware()
	fmt.Println(mw != nil, err)

	// A mistake names the session and the key.
	sessions[1]["session_lifetime"] = "2 hours"
	_, err = multisession.Config{
		SecretKeys: [][]byte{[]byte("an example key of 32 bytes or more!!")},
		Sessions:   sessions,
	}.ToMiddleware()
	fmt.Println(err)
	// Output:
	// true <nil>
	// sessionplus: session "session": key "session_lifetime": expected a duration such as "24h" or whole seconds, got string "2 hours"
}

func ExampleGet() {
	e := echo.New()
	e.Use(multisession.Middleware([]byte("an example key of 32 bytes or more!!"),
		sessionplus.Options{"cookie_name": "session", "session_type": "memory"},
	))
	e.GET("/", func(c echo.Context) error {
		sess := multisession.Get(c)
		visits, _, err := sessionplus.GetAs[int](sess, "visits")
		if err != nil {
			return err // a backend failure: the middleware answers 503
		}
		if err := sess.Set("visits", visits+1); err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprint("visit ", visits+1))
	})

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Body.String())
	// Output: visit 1
}
