package sessionplus

import (
	"errors"
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
