package multisessionv5_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	_ "github.com/sessionplus/sessionplus/drivers/memory"
	multisession "github.com/sessionplus/sessionplus/multisessionv5"
)

// An ErrorHandler in Echo v5's order (the context first) answers a
// session that cannot be saved, here a secure cookie over the 4096 bytes
// browsers keep, with JSON; no cookie goes out.
func ExampleMiddlewareWithConfig() {
	e := echo.New()
	e.Use(multisession.MiddlewareWithConfig(multisession.Config{
		SecretKeys: [][]byte{[]byte("an example key of 32 bytes or more!!")}, // use 32 random bytes
		Sessions:   []sessionplus.Options{{"cookie_name": "data", "session_type": "secure_cookie"}},
		ErrorHandler: func(c *echo.Context, err error) error {
			status := sessionplus.ErrorStatus(err)
			return c.JSON(status, map[string]string{"error": http.StatusText(status)})
		},
	}))
	e.POST("/notes", func(c *echo.Context) error {
		// 5000 bytes do not fit in a cookie.
		return multisession.Get(c).Set("notes", strings.Repeat("x", 5000))
	})

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notes", nil))
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()), len(rec.Result().Cookies()))
	// Output: 500 {"error":"Internal Server Error"} 0
}

// Get is the request's combined session. A net/http handler mounted with
// echo.WrapHandler reaches the same session with sessionplus.FromRequest,
// and GetPart reaches one configured session by its cookie name.
func ExampleGet() {
	e := echo.New()
	e.Use(multisession.Middleware([]byte("an example key of 32 bytes or more!!"),
		sessionplus.Options{"cookie_name": "cart", "session_type": "memory", "session_fields": []string{"items"}},
		sessionplus.Options{"cookie_name": "prefs", "session_type": "secure_cookie"},
	))
	e.POST("/cart", func(c *echo.Context) error {
		return multisession.Get(c).Set("items", []string{"tea"})
	})
	e.GET("/legacy", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		items, _, err := sessionplus.GetAs[[]string](sessionplus.FromRequest(r), "items")
		if err != nil {
			http.Error(w, "sessions unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, items)
	})))
	e.GET("/where", func(c *echo.Context) error {
		part, err := multisession.GetPart(c, "cart")
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, part.Type()+" holds "+part.Fields())
	})

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cart", nil))
	for _, path := range []string{"/legacy", "/where"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range rec.Result().Cookies() {
			req.AddCookie(c)
		}
		out := httptest.NewRecorder()
		e.ServeHTTP(out, req)
		fmt.Println(out.Body.String())
	}
	// Output:
	// [tea]
	// memory holds items
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
