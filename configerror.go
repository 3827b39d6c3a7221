package sessionplus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ConfigError is one mistake in the configuration. Every configuration
// error of [New] and [NewFromFile] is a *ConfigError, or an errors.Join of
// several, one per mistake, in session order; read them with errors.As
// (one) or by unwrapping the join (all). It matches [ErrConfig], and
// unwraps to Err, so errors.Is(err, ErrUnknownDriver) holds for an unknown
// session_type.
type ConfigError struct {
	File   string // the configuration file, when it came from one
	Line   int    // the line in File of the key (or session) at fault; 0 if unknown
	Column int    // its column; 0 if unknown

	Session int    // the session's position in Config.Sessions, from 1; 0 for none
	Name    string // the session's cookie_name as given; "" if it has none
	Type    string // the session's session_type, once known

	Key string // the option at fault, such as "session_lifetime"; "" for none
	Msg string // what is wrong and what was expected
	Err error  // the underlying error, if any

	bare       bool // Msg names Key itself ("unknown key \"x\" ..."): Error does not repeat it
	showColumn bool // Error shows Column (syntax errors); Line alone otherwise
}

// Error renders "sessionplus: file:line: session "name" (type): key "k": msg"
// (with the column too for a syntax error).
func (e *ConfigError) Error() string {
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	var b strings.Builder
	rest, prefixed := strings.CutPrefix(msg, "sessionplus: ")
	if prefixed || e.File != "" || e.Session > 0 {
		b.WriteString("sessionplus: ")
		msg = rest
	}
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Column > 0 && e.showColumn {
				b.WriteString(":" + strconv.Itoa(e.Column))
			}
		}
		b.WriteString(": ")
	}
	if e.Session > 0 {
		b.WriteString(sessionLabel(e.Session-1, e.Name))
		if e.Type != "" {
			b.WriteString(" (" + e.Type + ")")
		}
		b.WriteString(": ")
	}
	if e.Key != "" && !e.bare {
		b.WriteString("key " + quote(e.Key) + ": ")
	}
	b.WriteString(msg)
	return b.String()
}

// Is reports that every ConfigError matches [ErrConfig].
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Unwrap returns Err.
func (e *ConfigError) Unwrap() error { return e.Err }

// ConfigErrorf formats a configuration error, a *[ConfigError] that matches
// [ErrConfig], for drivers that check their options beyond decoding (in
// the Validate method of an [OptionsValidator]), such as
// ConfigErrorf(`key "url": %v`, err). A message that starts with
// `key "name": ` sets the error's Key, so that an error from a
// configuration file points at the key's line; one that starts with
// `keys "a" and "b"` sets Key to the first. %w wraps as in fmt.Errorf.
func ConfigErrorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	e := &ConfigError{Msg: err.Error(), Err: errors.Unwrap(err)}
	if rest, ok := strings.CutPrefix(e.Msg, `key "`); ok {
		if k, msg, ok := strings.Cut(rest, `": `); ok && !strings.Contains(k, `"`) {
			e.Key, e.Msg = k, msg
		}
	} else if rest, ok := strings.CutPrefix(e.Msg, `keys "`); ok {
		// `keys "a" and "b": ...` names both in its text, and the first
		// is the Key, where a file's line points.
		if k, _, ok := strings.Cut(rest, `"`); ok {
			e.Key, e.bare = k, true
		}
	}
	return e
}

// configErrors returns every *ConfigError in err, which may be an
// errors.Join of them.
func configErrors(err error) []*ConfigError {
	var out []*ConfigError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *ConfigError
		if errors.As(err, &ce) {
			out = append(out, ce)
		}
	}
	walk(err)
	return out
}

// sessionError is an error of one session that is not a configuration
// mistake, such as a backend that cannot be reached when it is opened:
// "sessionplus: session "x" (redis): redis: cannot reach the server".
type sessionError struct {
	session   int // from 1
	name, typ string
	file      string
	line      int
	err       error
}

func (e *sessionError) Error() string {
	loc := ""
	if e.file != "" {
		loc = e.file + ":"
		if e.line > 0 {
			loc += strconv.Itoa(e.line) + ":"
		}
		loc += " "
	}
	return fmt.Sprintf("sessionplus: %s%s (%s): %s", loc, sessionLabel(e.session-1, e.name), e.typ, strings.TrimPrefix(e.err.Error(), "sessionplus: "))
}

func (e *sessionError) Unwrap() error { return e.err }
