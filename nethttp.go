package sessionplus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
			sw := &sessionWriter{ResponseWriter: w, m: m, s: s, r: r, onError: errorHandler}
			next.ServeHTTP(sw, r)
			sw.commit() // the handler wrote nothing: save now, the server sends the headers
		})
	}
}

// logSaveError logs a failed save of the sessions of r.
func (m *Manager) logSaveError(r *http.Request, err error) {
	m.logger.ErrorContext(r.Context(), "sessionplus: saving the sessions failed",
		"method", r.Method, "path", r.URL.Path, "error", err.Error())
}

// sessionWriter commits the session just before the response headers go
// out. Like any ResponseWriter, it is used by one goroutine at a time.
type sessionWriter struct {
	http.ResponseWriter
	m       *Manager
	s       *Session
	r       *http.Request
	onError func(http.ResponseWriter, *http.Request, error)

	done bool  // the session was committed
	err  error // the commit failed: the error response is out, the handler's writes are dropped
}

// commit saves the session once; on failure it writes the error response.
func (w *sessionWriter) commit() {
	if w.done {
		return
	}
	w.done = true
	err := w.s.Commit()
	if err == nil {
		return
	}
	w.err = err
	w.m.logSaveError(w.r, err)
	prepareErrorHeader(w.Header())
	tw := &trackingWriter{ResponseWriter: w.ResponseWriter}
	w.onError(tw, w.r, err)
	if !tw.wrote {
		DefaultHTTPErrorHandler(tw, w.r, err)
	}
}

func (w *sessionWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An informational response (103 Early Hints): the final headers
		// are still to come.
		if w.err == nil {
			w.ResponseWriter.WriteHeader(code)
		}
		return
	}
	w.commit()
	if w.err != nil {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *sessionWriter) Write(p []byte) (int, error) {
	w.commit()
	if w.err != nil {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps the underlying writer's fast path (sendfile) for
// http.ServeContent and io.Copy.
func (w *sessionWriter) ReadFrom(src io.Reader) (int64, error) {
	w.commit()
	if w.err != nil {
		return io.Copy(io.Discard, src)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, src)
}

// writerOnly hides every method of a writer but Write, so that io.Copy does
// not call ReadFrom again.
type writerOnly struct{ io.Writer }

// Flush sends the headers (saving the session first) and what was written.
func (w *sessionWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with the error of the underlying writer, for
// http.ResponseController.
func (w *sessionWriter) FlushError() error {
	w.commit()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack saves the session and hands the connection over (WebSockets). If
// the save failed, the error response is written and Hijack fails.
func (w *sessionWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.commit()
	if w.err != nil {
		return nil, nil, fmt.Errorf("sessionplus: the connection is not handed over, the sessions could not be saved: %w", w.err)
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the server's ResponseWriter, for http.ResponseController.
func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
