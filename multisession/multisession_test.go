package multisession

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/adaptertest"
)

// TestAdapter runs the suite that every middleware of sessionplus runs.
func TestAdapter(t *testing.T) { adaptertest.Run(t, adapter{}) }

// adapter is the Echo v4 middleware, for package adaptertest.
type adapter struct{}

func (adapter) config(cfg adaptertest.Config) Config {
	config := Config{Sessions: cfg.Sessions, SecretKeys: cfg.SecretKeys, Logger: cfg.Logger, Manager: cfg.Manager}
	if cfg.Skip != nil {
		config.Skipper = func(c echo.Context) bool { return cfg.Skip(c.Request()) }
	}
	if cfg.ErrorPage != nil {
		config.ErrorHandler = func(err error, c echo.Context) error {
			code, msg := cfg.ErrorPage(err)
			return &echo.HTTPError{Code: code, Message: msg, Internal: err}
		}
	}
	return config
}

func (a adapter) App(cfg adaptertest.Config, h adaptertest.Handler) (http.Handler, error) {
	mw, err := a.config(cfg).ToMiddleware()
	if err != nil {
		return nil, err
	}
	return a.echo(cfg, h, mw), nil
}

func (a adapter) MustApp(cfg adaptertest.Config, h adaptertest.Handler) http.Handler {
	return a.echo(cfg, h, MiddlewareWithConfig(a.config(cfg)))
}

func (adapter) echo(cfg adaptertest.Config, h adaptertest.Handler, mw echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	if !cfg.Bare {
		e.Use(mw)
	}
	e.Any("/*", func(c echo.Context) error {
		return h(&adaptertest.Call{W: c.Response(), R: c.Request(), Session: Get(c),
			Part:  func(name string) (*sessionplus.Part, error) { return GetPart(c, name) },
			Serve: func(h http.Handler) error { return echo.WrapHandler(h)(c) }})
	})
	return e
}

func (adapter) LateErrorBody(code int) string {
	return `{"message":"` + http.StatusText(code) + `"}` + "\n"
}
