package sessionplus

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sessionplus/sessionplus/internal/guard"
)

// The net/http middleware: any router built on http.Handler (the standard
// http.ServeMux, chi, gorilla/mux, ...) gets the sessions with
//
//	http.ListenAndServe(addr, m.Middleware(mux))
//
// and a handler reaches them with [FromRequest].

// contextKey is the key of the request's session in its context.
type contextKey struct{}

// NewContext returns a copy of ctx that carries s, for [FromContext]. The
// middlewares call it; an adapter for another framework can too.
func NewContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, contextKey{}, s)
}

// FromContext returns the session that [Manager.Middleware] put in the
// request's context. Where the middleware did not run, it returns a session
// whose methods fail with an error wrapping [ErrNoSession], never nil.
func FromContext(ctx context.Context) *Session {
	if s, ok := ctx.Value(contextKey{}).(*Session); ok && s != nil {
		return s
	}
	return Unavailable(fmt.Errorf("%w: is the Manager's Middleware installed for this route?", ErrNoSession))
}

// FromRequest returns the session of r: FromContext(r.Context()).
func FromRequest(r *http.Request) *Session { return FromContext(r.Context()) }

// DefaultHTTPErrorHandler answers a request whose sessions could not be
// saved with the status [ErrorStatus] gives (503 for a backend failure,
// else 500) and its status text.
func DefaultHTTPErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code := ErrorStatus(err)
	http.Error(w, http.StatusText(code), code)
}

// Middleware is the net/http middleware of m, with [DefaultHTTPErrorHandler]:
//
//	handler := m.Middleware(mux)  // net/http: http.ListenAndServe(addr, handler)
//	r.Use(m.Middleware)           // chi
//
// It begins the request's [Session], which handlers get with [FromRequest],
// and saves it just before the response headers go out: when the handler
// first calls WriteHeader (other than 1xx), Write, Flush or Hijack on the
// ResponseWriter, or after the handler returns if it wrote nothing. Once the
// headers are on their way the session is closed, and changes fail with
// [ErrClosed].
//
// A failed save is never reported as a success: the error is logged through
// the Manager's logger, the handler's status, body and body headers
// (Location, Content-Type, ...) are dropped, the error handler writes the
// response instead, and no cookie points at unsaved data.
//
// The ResponseWriter the handler gets implements http.Flusher and
// http.Hijacker and unwraps (Unwrap) to the server's, so
// http.ResponseController works through it.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return m.MiddlewareWithErrorHandler(nil)(next)
}

// MiddlewareWithErrorHandler is [Manager.Middleware] with a function that
// writes the response of a request whose sessions could not be saved, such
// as a page in the application's style. errorHandler gets the error (log
// it or not: the middleware has logged it already); it must write a
// response, typically with a 5xx status from [ErrorStatus]. The headers
// that described the handler's response are removed before it runs. A nil
// errorHandler is [DefaultHTTPErrorHandler].
func (m *Manager) MiddlewareWithErrorHandler(errorHandler func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	if errorHandler == nil {
		errorHandler = DefaultHTTPErrorHandler
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s, ok := r.Context().Value(contextKey{}).(*Session); ok && s.m == m {
				next.ServeHTTP(w, r) // installed twice: the outer one saves
				return
			}
			s := m.Begin(w, r)
			r = r.WithContext(NewContext(r.Context(), s))
			sw := &sessionWriter{onError: errorHandler}
			sw.Writer = guard.Writer{ResponseWriter: w, Hooks: sw, Commit: s.Commit, Logger: m.logger, Request: r}
			next.ServeHTTP(sw, r)
			sw.Finish() // the handler wrote nothing: save now, the server sends the headers
		})
	}
}

// sessionWriter is the ResponseWriter the handlers get: the guard, which
// saves the session just before the response headers go out, with the
// net/http answer to a failed save.
type sessionWriter struct {
	guard.Writer
	onError func(http.ResponseWriter, *http.Request, error)
}

func (w *sessionWriter) Fail(err error) error { return err }

// SendHeaders saves the session before a flush: the flush sends the headers.
func (w *sessionWriter) SendHeaders() { w.Save() }

// Respond writes the error handler's response, or the default one if it
// wrote nothing.
func (w *sessionWriter) Respond(rw http.ResponseWriter, err error) {
	guard.PrepareErrorHeader(rw.Header())
	tw := &trackingWriter{ResponseWriter: rw}
	w.onError(tw, w.Request, err)
	if !tw.wrote {
		DefaultHTTPErrorHandler(tw, w.Request, err)
	}
}

// trackingWriter records whether the error handler wrote a response.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
