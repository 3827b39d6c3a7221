// Package echocore is the body of the Echo middlewares of sessionplus,
// package multisession (Echo v4) and package multisessionv5 (Echo v5),
// written once over Echo's context type. Each adapter gives it what differs
// between the two Echo versions: how to reach the *echo.Response and what an
// *echo.HTTPError says.
package echocore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/guard"
)

// Context is what the middleware uses of Echo's context: echo.Context in
// v4, *echo.Context in v5.
type Context interface {
	Request() *http.Request
	SetRequest(*http.Request)
	Get(key string) any
	Set(key string, val any)
}

// Response is the *echo.Response of one request, by its parts.
type Response struct {
	Echo interface {
		http.ResponseWriter
		Before(func())
	}
	Writer    *http.ResponseWriter // the writer under the echo.Response
	Status    *int
	Committed *bool
}

// Config is an adapter's Config, with Echo's types already in place.
type Config[C Context] struct {
	Skipper      func(C) bool
	ErrorHandler func(C, error) error
	Logger       *slog.Logger
	Context      context.Context
	Manager      *sessionplus.Manager
	Sessions     sessionplus.Config // Sessions, SecretKeys and Registry

	// Response reaches the request's *echo.Response.
	Response func(C) (Response, error)
	// HTTPError returns the status and message of err when it is an
	// *echo.HTTPError, else 0.
	HTTPError func(err error) (code int, message string)
}

// Middleware is the middleware of one Config.
type Middleware[C Context] struct {
	config Config[C]
	m      *sessionplus.Manager
}

// New applies the defaults (a nil Skipper skips nothing, a nil Logger is
// slog.Default(), a nil Context context.Background()) and opens every
// session's store, or uses config.Manager. ErrorHandler is required.
func New[C Context](config Config[C]) (*Middleware[C], error) {
	if config.Skipper == nil {
		config.Skipper = func(C) bool { return false }
	}
	if config.Logger == nil {
		config.Logger = slog.Default()
	}
	if config.Context == nil {
		config.Context = context.Background()
	}
	config.Sessions.Logger = config.Logger
	m, err := newOrUse(config.Context, config.Manager, config.Sessions)
	if err != nil {
		return nil, err
	}
	return &Middleware[C]{config: config, m: m}, nil
}

// contextKey is the key of the session in Echo's context.
const contextKey = "sessionplus.session"

// Get returns the combined session that the middleware put in c, or a
// session that fails with [sessionplus.ErrNoSession] naming pkg's Middleware.
func Get[C Context](c C, pkg string) *sessionplus.Session {
	if s, ok := c.Get(contextKey).(*sessionplus.Session); ok {
		return s
	}
	return sessionplus.Unavailable(fmt.Errorf("%w: is %s.Middleware installed for this route, and did its Skipper skip the request?", sessionplus.ErrNoSession, pkg))
}

// Handler returns the middleware's handler around next.
func (mw *Middleware[C]) Handler(next func(C) error) func(C) error {
	return func(c C) error {
		if mw.config.Skipper(c) {
			return next(c)
		}
		res, err := mw.config.Response(c)
		if err != nil {
			return err
		}
		req := c.Request()
		sess := mw.m.Begin(res.Echo, req)
		req = req.WithContext(sessionplus.NewContext(req.Context(), sess))
		c.SetRequest(req)
		c.Set(contextKey, sess)

		// One allocation for the request's commit state and guard.
		rq := &request[C]{mw: mw, c: c, res: res}
		rq.Writer = guard.Writer{ResponseWriter: *res.Writer, Hooks: rq, Commit: sess.Commit, Logger: mw.config.Logger, Request: req}
		res.Echo.Before(rq.Save)
		*res.Writer = rq
		return rq.finish(next(c))
	}
}

// request is one request's guard, under the echo.Response.
type request[C Context] struct {
	guard.Writer
	mw  *Middleware[C]
	c   C
	res Response
}

// finish saves the sessions if the handler wrote nothing and returns the
// error for Echo's error handler.
func (rq *request[C]) finish(err error) error {
	if failed := rq.Err(); failed != nil {
		return failed
	}
	if !*rq.res.Committed {
		if cerr := rq.SaveLate(); cerr != nil {
			if err != nil {
				cerr = errors.Join(cerr, err)
			}
			return rq.mw.config.ErrorHandler(rq.c, cerr)
		}
	}
	if err != nil && isSessionError(err) {
		if code, _ := rq.mw.config.HTTPError(err); code == 0 {
			return rq.mw.config.ErrorHandler(rq.c, err)
		}
	}
	return err
}

// isSessionError reports whether err comes from a session's backend.
func isSessionError(err error) bool {
	var se *sessionplus.StoreError
	return errors.As(err, &se) || errors.Is(err, sessionplus.ErrLoadFailed)
}

// Fail turns the response into the error handler's while its headers are
// still unwritten: the status the Echo logger sees becomes the error's.
func (rq *request[C]) Fail(err error) error {
	herr := rq.mw.config.ErrorHandler(rq.c, err)
	*rq.res.Status, _ = rq.status(herr)
	return herr
}

// status is the status and message of the error response for herr.
func (rq *request[C]) status(herr error) (int, string) {
	code, msg := rq.mw.config.HTTPError(herr)
	if code == 0 {
		code, msg = http.StatusInternalServerError, ""
	}
	if msg == "" {
		msg = http.StatusText(code)
	}
	return code, msg
}

// Respond writes the error's status and its message: the handler's body
// and the headers that described it are dropped, and no cookie of a failed
// session is in the header.
func (rq *request[C]) Respond(w http.ResponseWriter, herr error) {
	code, msg := rq.status(herr)
	guard.ErrorResponseWriter(w, msg+"\n").WriteHeader(code)
}

// SendHeaders writes the headers through the echo.Response, which runs its
// Before hooks (the save among them): echo.Response.Flush goes straight to
// the writer underneath.
func (rq *request[C]) SendHeaders() {
	if !*rq.res.Committed {
		status := *rq.res.Status
		if status == 0 {
			status = http.StatusOK
		}
		rq.res.Echo.WriteHeader(status)
	}
}

// newOrUse returns m when it is not nil, after checking that cfg does not
// also configure sessions (Sessions, SecretKeys, Registry, UserField and
// the telemetry providers configure a Manager, so they must then be
// empty); otherwise it returns sessionplus.New(ctx, cfg).
func newOrUse(ctx context.Context, m *sessionplus.Manager, cfg sessionplus.Config) (*sessionplus.Manager, error) {
	if m == nil {
		return sessionplus.New(ctx, cfg)
	}
	if cfg.Sessions != nil || cfg.SecretKeys != nil || cfg.Registry != nil || cfg.UserField != "" || cfg.TracerProvider != nil || cfg.MeterProvider != nil {
		return nil, sessionplus.ConfigErrorf("sessionplus: Config.Manager is set, so Sessions, SecretKeys, Registry, UserField, TracerProvider and MeterProvider must be empty (they configure the Manager)")
	}
	return m, nil
}
