// Package multisessionv5 is the Echo v5 middleware of sessionplus: several
// sessions per request, each with its own cookie and backend, behind one
// combined session whose fields are routed to the sessions that own them.
// It is package [github.com/sessionplus/sessionplus/multisession] (Echo v4)
// for [github.com/labstack/echo/v5]: the same Config, the same functions and
// the same behaviour, with Echo v5's *echo.Context and its error handler
// order (c first). Moving an application from Echo v4 to v5 changes the
// import path and the handlers' signatures, nothing else:
//
//	import (
//		"github.com/labstack/echo/v5"
//
//		"github.com/sessionplus/sessionplus"
//		_ "github.com/sessionplus/sessionplus/drivers/cookie"
//		_ "github.com/sessionplus/sessionplus/drivers/memory"
//		multisession "github.com/sessionplus/sessionplus/multisessionv5"
//	)
//
//	e.Use(multisession.MiddlewareWithConfig(multisession.Config{
//		SecretKeys: [][]byte{key},
//		Sessions: []sessionplus.Options{
//			{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
//			{"cookie_name": "session", "session_type": "memory", "session_fields": []string{"user_id", "user_data"}},
//			{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
//		},
//	}))
//
// In a handler, [Get] returns the request's [sessionplus.Session]:
//
//	sess := multisession.Get(c)
//	uid, ok, err := sessionplus.GetAs[int](sess, "user_id")
//
// The session is also in the request's context, so a net/http handler
// mounted with echo.WrapHandler, or code that only has the context, reaches
// it with [sessionplus.FromRequest] or [sessionplus.FromContext].
//
// Sessions are saved just before the response headers are written (in the
// echo.Response's Before hook, also when a handler flushes or hijacks before
// writing), or after the handler when it wrote nothing. A failed save never
// reaches the client as a success: the response becomes the error's status
// (503 for a backend failure by default), the error is logged, and no cookie
// pointing at unsaved data is sent.
package multisessionv5

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/echocore"
)

// Config configures the middleware.
type Config struct {
	// Skipper defines a function to skip the middleware. [Get] in a skipped
	// request returns a session whose methods fail with
	// [sessionplus.ErrNoSession].
	// Optional. Default value middleware.DefaultSkipper.
	Skipper middleware.Skipper

	// Sessions lists the sessions, one map each: the Go form of
	// flask-session-plus's SESSION_CONFIG. See the package sessionplus for
	// every key.
	// Required.
	Sessions []sessionplus.Options

	// SecretKeys sign and encrypt the cookies, newest first; older keys are
	// still accepted when reading, so keys rotate. Each must be at least
	// sessionplus.MinSecretKeyLen (32) bytes of random data. A session may
	// override them with its own "secret_keys".
	// Required when a session is secure_cookie or uses use_signer.
	SecretKeys [][]byte

	// ErrorHandler turns a session error (a failed read returned by the
	// handler, or a failed save) into the error the middleware returns.
	// Optional. Default value DefaultErrorHandler.
	ErrorHandler func(c *echo.Context, err error) error

	// Logger receives failed saves and keep-alives. It never receives
	// session ids or values.
	// Optional. Default value slog.Default().
	Logger *slog.Logger

	// Registry is where session_type names are looked up.
	// Optional. Default value sessionplus.DefaultRegistry.
	Registry *sessionplus.Registry

	// UserField names the field that identifies the logged-in user (such
	// as "user_id"), so that the Manager can list and revoke a user's
	// sessions: see sessionplus.Config.UserField.
	// Optional. Default value "": no index.
	UserField string

	// TracerProvider gets a span per backend operation; MeterProvider the
	// library's metrics. See sessionplus.Config.
	// Optional. Default value nil: no telemetry, at no cost.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider

	// Context is used while the stores are opened (connecting to a backend
	// configured by "url", creating indexes).
	// Optional. Default value context.Background().
	Context context.Context

	// Manager, when set, is used instead of building one from Sessions,
	// SecretKeys and Registry (which must then be empty). Build it with
	// sessionplus.New (or sessionplus.NewFromFile) to close the stores it
	// opened (Manager.Close) when the application stops, or to share it
	// with net/http handlers (Manager.Middleware).
	// Optional. Default value nil: ToMiddleware builds one.
	Manager *sessionplus.Manager
}

var _ echo.MiddlewareConfigurator = Config{}

// DefaultConfig is the default configuration.
var DefaultConfig = Config{
	Skipper:      middleware.DefaultSkipper,
	ErrorHandler: DefaultErrorHandler,
}

// DefaultErrorHandler maps err to the status [sessionplus.ErrorStatus]
// gives (503 Service Unavailable for a backend failure, else 500), as an
// *echo.HTTPError that wraps err.
func DefaultErrorHandler(c *echo.Context, err error) error {
	code := sessionplus.ErrorStatus(err)
	return echo.NewHTTPError(code, http.StatusText(code)).Wrap(err)
}

// Middleware returns the middleware for the given sessions, signing and
// encrypting with one secret key. It panics on a configuration error; use
// [Config.ToMiddleware] to get the error instead.
func Middleware(secretKey []byte, sessions ...sessionplus.Options) echo.MiddlewareFunc {
	c := DefaultConfig
	c.SecretKeys = [][]byte{secretKey}
	c.Sessions = sessions
	return MiddlewareWithConfig(c)
}

// MiddlewareWithConfig returns the middleware for config. It panics on a
// configuration error; use [Config.ToMiddleware] to get the error instead.
func MiddlewareWithConfig(config Config) echo.MiddlewareFunc {
	mw, err := config.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware validates config, opens every session's store and returns
// the middleware. Configuration errors name the session and the key.
func (config Config) ToMiddleware() (echo.MiddlewareFunc, error) {
	if config.ErrorHandler == nil {
		config.ErrorHandler = DefaultConfig.ErrorHandler
	}
	mw, err := echocore.New(echocore.Config[*echo.Context]{
		Skipper: config.Skipper, ErrorHandler: config.ErrorHandler,
		Logger: config.Logger, Context: config.Context, Manager: config.Manager,
		Sessions: sessionplus.Config{
			Sessions: config.Sessions, SecretKeys: config.SecretKeys, Registry: config.Registry,
			UserField: config.UserField, TracerProvider: config.TracerProvider, MeterProvider: config.MeterProvider,
		},
		Response: response, HTTPError: httpError,
	})
	if err != nil {
		return nil, err
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc { return mw.Handler(next) }, nil
}

// response is the echo.Response under the request's writer (which the
// router may have wrapped, as for automatic HEAD routes).
func response(c *echo.Context) (echocore.Response, error) {
	res, err := echo.UnwrapResponse(c.Response())
	if err != nil {
		return echocore.Response{}, fmt.Errorf("sessionplus: multisessionv5: the response cannot be reached to save the sessions before its headers: %w", err)
	}
	return echocore.Response{Echo: res, Writer: &res.ResponseWriter, Status: &res.Status, Committed: &res.Committed}, nil
}

// httpError is the status of err (echo.StatusCode) and the message of an
// *echo.HTTPError.
func httpError(err error) (code int, msg string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg = he.Message
	}
	return echo.StatusCode(err), msg
}

// Get returns the combined session of the request. Where the middleware did
// not run (not installed for the route, or skipped), it returns a session
// whose methods fail with an error wrapping [sessionplus.ErrNoSession].
func Get(c *echo.Context) *sessionplus.Session { return echocore.Get(c, "multisessionv5") }

// GetPart returns one configured session of the request by its cookie name.
func GetPart(c *echo.Context, cookieName string) (*sessionplus.Part, error) {
	return Get(c).Part(cookieName)
}
