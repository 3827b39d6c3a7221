// Package guard is the response guard that every sessionplus middleware
// (net/http, Echo v4, Echo v5) puts between the handler and the server's
// ResponseWriter, and the commit state of one request: the sessions are
// saved once, just before the response headers go out, and a failed save
// becomes an error response, never a success.
//
// The package knows nothing of sessionplus itself (the root package imports
// it); an adapter gives it the session's Commit and its [Hooks].
package guard

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
)

// Hooks is what one adapter does at the guard's events.
type Hooks interface {
	// Fail is called once, when the save before the headers failed with err
	// (logged already). It returns the error the middleware reports.
	Fail(err error) error
	// Respond writes the error response of a failed save to w, the server's
	// writer; err is what Fail returned. Whatever the handler writes
	// afterwards is dropped.
	Respond(w http.ResponseWriter, err error)
	// SendHeaders sends the response headers before a flush: through the
	// framework's response, whose Before hook calls [Writer.Save], or by
	// calling Save itself.
	SendHeaders()
}

// Writer is the guard and the commit state of one request. It saves the
// sessions on the first WriteHeader (other than 1xx), Write, ReadFrom,
// Flush or Hijack, unless the framework saved them earlier with [Writer.Save].
// Like any ResponseWriter, it is used by one goroutine at a time.
type Writer struct {
	http.ResponseWriter // the server's

	Hooks   Hooks
	Commit  func() error  // the request's Session.Commit
	Logger  *slog.Logger  // receives a failed save
	Request *http.Request // of the log line

	saved    bool  // Commit ran
	err      error // Fail's result: the save before the headers failed
	answered bool  // the error response is written
}

// Save saves the sessions once; a failure is logged and given to
// Hooks.Fail, and the error response replaces the handler's.
func (w *Writer) Save() {
	if w.saved {
		return
	}
	w.saved = true
	if err := w.Commit(); err != nil {
		w.logSaveError(err)
		w.err = w.Hooks.Fail(err)
	}
}

// SaveLate saves the sessions after the handler, when it wrote nothing,
// and returns the error (logged) instead of answering: the framework
// answers it. It returns nil if they were saved already.
func (w *Writer) SaveLate() error {
	if w.saved {
		return nil
	}
	w.saved = true
	err := w.Commit()
	if err != nil {
		w.logSaveError(err)
	}
	return err
}

// Finish ends a request whose handler returned: it saves the sessions if
// nothing was written, and writes the error response of a failed save that
// is not written yet.
func (w *Writer) Finish() {
	w.Save()
	if w.err != nil {
		w.answer()
	}
}

// Err returns what Hooks.Fail returned for a failed save, or nil.
func (w *Writer) Err() error { return w.err }

func (w *Writer) logSaveError(err error) {
	w.Logger.ErrorContext(w.Request.Context(), "sessionplus: saving the sessions failed",
		"method", w.Request.Method, "path", w.Request.URL.Path, "error", err.Error())
}

// answer writes the error response once.
func (w *Writer) answer() {
	if !w.answered {
		w.answered = true
		w.Hooks.Respond(w.ResponseWriter, w.err)
	}
}

func (w *Writer) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An informational response (103 Early Hints): the final headers
		// are still to come.
		if w.err == nil {
			w.ResponseWriter.WriteHeader(code)
		}
		return
	}
	w.Save()
	if w.err != nil {
		w.answer()
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *Writer) Write(p []byte) (int, error) {
	w.Save()
	if w.err != nil {
		w.answer()
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps the underlying writer's fast path (sendfile) for
// http.ServeContent and io.Copy.
func (w *Writer) ReadFrom(src io.Reader) (int64, error) {
	w.Save()
	if w.err != nil {
		w.answer()
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

// Flush sends the headers (saving the sessions first) and what was written.
func (w *Writer) Flush() { _ = w.FlushError() }

// FlushError is Flush with the error of the underlying writer, for
// http.ResponseController.
func (w *Writer) FlushError() error {
	w.Hooks.SendHeaders()
	if w.err != nil {
		w.answer()
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack saves the sessions and hands the connection over (WebSockets). If
// the save failed, Hijack fails and the error response is still to come.
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.Save()
	if w.err != nil {
		return nil, nil, fmt.Errorf("sessionplus: the connection is not handed over, the sessions could not be saved: %w", w.err)
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the server's ResponseWriter, for http.ResponseController.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
	PrepareErrorHeader(w.Header())
	return &errorBodyWriter{ResponseWriter: w, body: body}
}

// PrepareErrorHeader clears the headers of a handler's response that an
// error response must not carry.
func PrepareErrorHeader(h http.Header) {
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
