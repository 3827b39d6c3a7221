// Package multisession is the Echo v4 middleware of sessionplus: several
// sessions per request, each with its own cookie and backend, behind one
// combined session whose fields are routed to the sessions that own them.
//
//	import (
//		"github.com/sessionplus/sessionplus"
//		"github.com/sessionplus/sessionplus/multisession"
//		_ "github.com/sessionplus/sessionplus/drivers/cookie"
//		_ "github.com/sessionplus/sessionplus/drivers/memory"
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
// Sessions are saved just before the response headers are written (in
// Echo's Response().Before hook), or after the handler when it wrote
// nothing. A failed save never reaches the client as a success: the response
// becomes the error's status (503 for a backend failure by default), the
// error is logged, and no cookie pointing at unsaved data is sent.
package multisession

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/sessionplus/sessionplus"
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
	ErrorHandler func(err error, c echo.Context) error

	// Logger receives failed saves and keep-alives. It never receives
	// session ids or values.
	// Optional. Default value slog.Default().
	Logger *slog.Logger

	// Registry is where session_type names are looked up.
	// Optional. Default value sessionplus.DefaultRegistry.
	Registry *sessionplus.Registry

	// Context is used while the stores are opened (connecting to a backend
	// configured by "url", creating indexes).
	// Optional. Default value context.Background().
	Context context.Context

	// Manager, when set, is used instead of building one from Sessions,
	// SecretKeys and Registry (which must then be empty). Build it with
	// sessionplus.New to close the stores it opened (Manager.Close) when the
	// application stops, or to share it with non-Echo handlers.
	// Optional. Default value nil: ToMiddleware builds one.
	Manager *sessionplus.Manager
}

// DefaultConfig is the default configuration.
var DefaultConfig = Config{
	Skipper:      middleware.DefaultSkipper,
	ErrorHandler: DefaultErrorHandler,
}

// contextKey is the key of the session in echo.Context.
const contextKey = "sessionplus.session"

// DefaultErrorHandler maps err to the status [sessionplus.ErrorStatus]
// gives (503 Service Unavailable for a backend failure, else 500), keeping
// err as the HTTPError's Internal error.
func DefaultErrorHandler(err error, c echo.Context) error {
	code := sessionplus.ErrorStatus(err)
	return &echo.HTTPError{Code: code, Message: http.StatusText(code), Internal: err}
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
	if config.Skipper == nil {
		config.Skipper = DefaultConfig.Skipper
	}
	if config.ErrorHandler == nil {
		config.ErrorHandler = DefaultConfig.ErrorHandler
	}
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	if config.Context == nil {
		config.Context = context.Background()
	}
	m, err := sessionplus.NewOrUse(config.Context, config.Manager, sessionplus.Config{
		Sessions:   config.Sessions,
		SecretKeys: config.SecretKeys,
		Logger:     config.Logger,
		Registry:   config.Registry,
	})
	if err != nil {
		return nil, err
	}
	return config.middleware(m), nil
}

func (config Config) middleware(m *sessionplus.Manager) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if config.Skipper(c) {
				return next(c)
			}
			res := c.Response()
			sess := m.Begin(res, c.Request())
			c.Set(contextKey, sess)

			// One allocation for the request's commit state.
			st := &commitState{config: &config, c: c, sess: sess}
			res.Before(st.commit)
			st.guard = flushGuard{ResponseWriter: res.Writer, res: res, st: st}
			res.Writer = &st.guard

			err := next(c)
			if st.failed != nil {
				return st.failed
			}
			if !st.committed && !res.Committed {
				st.committed = true
				if cerr := sess.Commit(); cerr != nil {
					config.logSaveError(c, cerr)
					if err != nil {
						cerr = errors.Join(cerr, err)
					}
					return config.ErrorHandler(cerr, c)
				}
			}
			if err != nil && isSessionError(err) {
				var he *echo.HTTPError
				if !errors.As(err, &he) {
					return config.ErrorHandler(err, c)
				}
			}
			return err
		}
	}
}

// isSessionError reports whether err comes from a session's backend.
func isSessionError(err error) bool {
	var se *sessionplus.StoreError
	return errors.As(err, &se) || errors.Is(err, sessionplus.ErrLoadFailed)
}

func (config Config) logSaveError(c echo.Context, err error) {
	r := c.Request()
	config.Logger.ErrorContext(r.Context(), "sessionplus: saving the sessions failed",
		"method", r.Method, "path", r.URL.Path, "error", err.Error())
}

// failBeforeHeaders turns a response whose sessions could not be saved into
// the error's response while its headers are still unwritten: the status
// becomes the error's, the handler's body is replaced by the status text, and
// no cookie of a failed session is in the header. It returns the error.
func (config Config) failBeforeHeaders(c echo.Context, err error) error {
	config.logSaveError(c, err)
	herr := config.ErrorHandler(err, c)
	code, msg := http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError)
	var he *echo.HTTPError
	if errors.As(herr, &he) {
		code = he.Code
		if s, ok := he.Message.(string); ok {
			msg = s
		} else {
			msg = http.StatusText(code)
		}
	}
	res := c.Response()
	res.Status = code
	res.Writer = sessionplus.ErrorResponseWriter(res.Writer, msg+"\n")
	return herr
}

// commitState is one request's commit: the final save runs once, in the
// Before hook (or before a flush or hijack), or after the handler.
type commitState struct {
	config    *Config
	c         echo.Context
	sess      *sessionplus.Session
	committed bool
	failed    error // the error response of a failed save before the headers
	guard     flushGuard
}

func (st *commitState) commit() {
	if st.committed {
		return
	}
	st.committed = true
	if err := st.sess.Commit(); err != nil {
		st.failed = st.config.failBeforeHeaders(st.c, err)
	}
}

// flushGuard sits under the echo.Response. echo.Response.Flush and Hijack
// go straight to the writer underneath, so a handler that flushes (a stream
// of server-sent events) or hijacks before writing would send the headers
// without running the Before hooks, and without the sessions' cookies.
// flushGuard writes the headers through the Response first (running the
// hooks), and saves the sessions before a hijack.
type flushGuard struct {
	http.ResponseWriter
	res *echo.Response
	st  *commitState
}

func (g *flushGuard) FlushError() error {
	if !g.res.Committed {
		status := g.res.Status
		if status == 0 {
			status = http.StatusOK
		}
		g.res.WriteHeader(status)
	}
	return http.NewResponseController(g.ResponseWriter).Flush()
}

func (g *flushGuard) Flush() { _ = g.FlushError() }

func (g *flushGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	g.st.commit()
	if g.st.failed != nil {
		return nil, nil, fmt.Errorf("sessionplus: the connection is not handed over, the sessions could not be saved: %w", g.st.failed)
	}
	return http.NewResponseController(g.ResponseWriter).Hijack()
}

func (g *flushGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// Get returns the combined session of the request. Where the middleware did
// not run (not installed for the route, or skipped), it returns a session
// whose methods fail with an error wrapping [sessionplus.ErrNoSession].
func Get(c echo.Context) *sessionplus.Session {
	if s, ok := c.Get(contextKey).(*sessionplus.Session); ok {
		return s
	}
	return sessionplus.Unavailable(fmt.Errorf("%w: is multisession.Middleware installed for this route, and did its Skipper skip the request?", sessionplus.ErrNoSession))
}

// GetPart returns one configured session of the request by its cookie name.
func GetPart(c echo.Context, cookieName string) (*sessionplus.Part, error) {
	return Get(c).Part(cookieName)
}
