package multisessionv5_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v5"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	_ "github.com/sessionplus/sessionplus/drivers/memory"
	multisession "github.com/sessionplus/sessionplus/multisessionv5"
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
	e.POST("/login", func(c *echo.Context) error {
		sess := multisession.Get(c)
		if err := sess.Set("user_id", 42); err != nil {
			return err // a backend failure: the middleware answers 503
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

func ExampleGet() {
	e := echo.New()
	e.Use(multisession.Middleware([]byte("an example key of 32 bytes or more!!"),
		sessionplus.Options{"cookie_name": "session", "session_type": "memory"},
	))
	e.GET("/", func(c *echo.Context) error {
		sess := multisession.Get(c)
		visits, _, err := sessionplus.GetAs[int](sess, "visits")
		if err != nil {
			return err
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

// A Manager built once can serve Echo v5 routes and plain net/http
// handlers of the same application.
func ExampleConfig_manager() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{"cookie_name": "session", "session_type": "memory"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	e := echo.New()
	e.Use(multisession.MiddlewareWithConfig(multisession.Config{Manager: m}))
	e.GET("/", func(c *echo.Context) error {
		return multisession.Get(c).Set("seen", true)
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, len(rec.Result().Cookies()))
	// Output: 200 1
}
