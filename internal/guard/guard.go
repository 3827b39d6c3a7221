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
