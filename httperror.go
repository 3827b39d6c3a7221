package sessionplus

import (
	"errors"
	"fmt"
	"net/http"
)

// This file holds what every middleware (net/http, Echo v4, Echo v5) shares
// about turning a session error into a response.

// ErrorStatus returns the HTTP status of a response whose sessions failed
// with err: 503 Service Unavailable when a session's backend failed (a
// [StoreError], also inside an error wrapping [ErrLoadFailed]), and 500
// Internal Server Error for anything else: a record or cookie too large to
// store ([ErrRecordTooLarge], [ErrCookieTooLarge]), which no retry fixes,
// and programming errors such as [ErrUnownedField], [ErrClosed] or
// [ErrNoSession]. The middlewares' default error handlers use it; a
// net/http handler that gets an error from its session can answer with it:
//
//	code := sessionplus.ErrorStatus(err)
//	http.Error(w, http.StatusText(code), code)
func ErrorStatus(err error) int {
	var se *StoreError
	if errors.As(err, &se) && !errors.Is(err, ErrCookieTooLarge) && !errors.Is(err, ErrRecordTooLarge) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ErrorResponseWriter returns the writer of an error response that replaces
// the handler's response, for a middleware whose sessions could not be saved
// just before the headers went out. It removes the headers that described
// the handler's response (Content-Length, Content-Encoding, Location, ETag,
// Last-Modified and the like), says Content-Type text/plain and
// Cache-Control no-store, writes body right after the status line, and
// drops whatever the handler writes afterwards: that described a success
// that did not happen. Set-Cookie lines of the sessions that were saved stay.
// The caller writes the status through the returned writer.
func ErrorResponseWriter(w http.ResponseWriter, body string) http.ResponseWriter {
	prepareErrorHeader(w.Header())
	return &errorBodyWriter{ResponseWriter: w, body: body}
}

// prepareErrorHeader clears the headers of a handler's response that an
// error response must not carry.
func prepareErrorHeader(h http.Header) {
	for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Range", "Content-Disposition",
		"Location", "ETag", "Last-Modified", "Refresh"} {
		h.Del(k)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// errorBodyWriter writes body after the status line and drops what the
// handler writes afterwards.
type errorBodyWriter struct {
	http.ResponseWriter
	body    string
	written bool
}

func (w *errorBodyWriter) WriteHeader(code int) {
	if w.written {
		return
	}
	w.written = true
	w.ResponseWriter.WriteHeader(code)
	fmt.Fprint(w.ResponseWriter, w.body)
}

func (w *errorBodyWriter) Write(p []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusInternalServerError)
	}
	return len(p), nil
}

// Flush sends what was written: the error response.
func (w *errorBodyWriter) Flush() {
	if !w.written {
		w.WriteHeader(http.StatusInternalServerError)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *errorBodyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
