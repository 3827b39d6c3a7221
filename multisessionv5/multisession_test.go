package multisessionv5

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/adaptertest"
)

// adapter is the Echo v5 middleware, for package adaptertest.
type adapter struct{}

func (adapter) config(cfg adaptertest.Config) Config {
	var skip func(*echo.Context) bool
	if cfg.Skip != nil {
		skip = func(c *echo.Context) bool { return cfg.Skip(c.Request()) }
	}
	var onError func(*echo.Context, error) error
	if cfg.ErrorPage != nil {
		onError = func(_ *echo.Context, err error) error { return echo.NewHTTPError(cfg.ErrorPage(err)).Wrap(err) }
	}
	return Config{Skipper: skip, ErrorHandler: onError, Sessions: cfg.Sessions, SecretKeys: cfg.SecretKeys, Logger: cfg.Logger, Manager: cfg.Manager}
}

func (a adapter) App(cfg adaptertest.Config, h adaptertest.Handler) (http.Handler, error) {
	mw, err := a.config(cfg).ToMiddleware()
	if err != nil {
		return nil, err
	}
	return a.echo(cfg.Bare, h, mw), nil
}

func (a adapter) MustApp(cfg adaptertest.Config, h adaptertest.Handler) http.Handler {
	return a.echo(cfg.Bare, h, MiddlewareWithConfig(a.config(cfg)))
}

// echo is an app whose every route is h, behind mw unless bare.
func (adapter) echo(bare bool, h adaptertest.Handler, mw echo.MiddlewareFunc) *echo.Echo {
	var mws []echo.MiddlewareFunc
	if !bare {
		mws = append(mws, mw)
	}
	e := echo.New()
	e.Any("/*", func(c *echo.Context) error {
		call := &adaptertest.Call{W: c.Response(), R: c.Request(), Session: Get(c)}
		call.Part = func(name string) (*sessionplus.Part, error) { return GetPart(c, name) }
		call.Serve = func(h http.Handler) error { return echo.WrapHandler(h)(c) }
		return h(call)
	}, mws...)
	return e
}

// LateErrorBody is what Echo's default error handler writes.
func (adapter) LateErrorBody(code int) string {
	return "{\"message\":\"" + http.StatusText(code) + "\"}\n"
}

// TestAdapter runs the suite that every middleware of sessionplus runs.
func TestAdapter(t *testing.T) { adaptertest.Run(t, adapter{}) }

// TestHeadRequest covers Echo v5's automatic HEAD routes, whose writer
// holds the status back until the handler returns.
func TestHeadRequest(t *testing.T) {
	mw, err := Config{SecretKeys: [][]byte{adaptertest.Key}, Sessions: adaptertest.SeedSessions()}.ToMiddleware()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.NewWithConfig(echo.Config{Router: echo.NewRouter(echo.RouterConfig{AutoHandleHEAD: true})})
	e.Use(mw)
	e.GET("/page", func(c *echo.Context) error {
		if err := Get(c).Set("theme", "dark"); err != nil {
			return err
		}
		return c.String(http.StatusOK, "page")
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/page", nil))
	if rec.Code != http.StatusOK || len(rec.Result().Cookies()) != 1 {
		t.Errorf("HEAD: %d, cookies %v", rec.Code, rec.Result().Cookies())
	}
}
