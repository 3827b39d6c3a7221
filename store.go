package sessionplus

import (
	"context"
	"errors"
	"time"
)

// Record is one session's stored state: its fields, each encoded by the root
// package into opaque bytes, and the absolute time after which it must no
// longer be served.
type Record struct {
	// Values maps a field name to its encoded value. Drivers must treat the
	// bytes as opaque and return them unchanged. Field names are never empty
	// and never contain a NUL byte, so a driver may keep its own bookkeeping
	// under names that do (e.g. "\x00expiry").
	Values map[string][]byte
	// Expiry is the absolute deadline of the record.
	Expiry time.Time
}

// Update is what a [Store.Save] applies to one record.
//
// There are three kinds of update:
//
//   - Replace is true: the record becomes exactly Set, with Expiry; any record
//     stored under the token before is dropped. Used for new sessions and new ids.
//   - Replace is false and Set or Del is not empty: a field-level write. The fields
//     in Set are written, the fields in Del are removed, every other stored field
//     is left as it is, and the record's expiry becomes Expiry. If no live
//     record exists (none, or an expired one) it is created from Set alone:
//     an expired record's fields must not come back. A field is never in
//     both Set and Del. A store that can update single fields
//     (a Redis hash, MongoDB $set/$unset, Firestore field paths) must send only
//     these fields, so that two requests changing different fields both land.
//   - Replace is false and Set and Del are empty: a keep-alive. Only the expiry
//     moves. A keep-alive must not create a record: if none is stored under the
//     token, Save returns an error wrapping [ErrNotFound].
type Update struct {
	Set     map[string][]byte
	Del     []string
	Expiry  time.Time
	Replace bool
}

// IsKeepAlive reports whether u only moves the expiry of an existing record.
func (u Update) IsKeepAlive() bool {
	return !u.Replace && len(u.Set) == 0 && len(u.Del) == 0
}

// Store is implemented by session drivers. It must be safe for concurrent use.
//
// For a server-side store, token is the storage key that the root package
// derived from the session id: key_prefix + ":" + 43 base64url characters (by
// default a hash of the id, so the store never sees a raw session id).
// key_prefix is non-empty and has no whitespace or control characters; a
// driver whose backend restricts keys further must check key_prefix when it
// opens, or encode tokens. Load of a token the backend could never hold
// (empty, too long, bad characters) returns an error wrapping ErrNotFound.
// For a client-side store (see [ClientSide]) token is the cookie value
// itself, and "" when there is none yet.
//
// Errors must not contain the token, nor any stored value: they are logged.
// An error caused by the context (canceled, deadline) must not wrap
// ErrNotFound.
type Store interface {
	// Load returns the record stored under token. If token is unknown,
	// expired or malformed, Load must return an error wrapping ErrNotFound;
	// any other error means the backend failed, and the root package never
	// mistakes it for an absent session. Load must not return a record whose
	// Expiry has passed.
	Load(ctx context.Context, token string) (Record, error)

	// Save applies u to the record under token (see [Update] for the three
	// kinds of update) and sets its expiry to u.Expiry. It returns the value
	// the client presents next time: a server-side store returns token
	// unchanged; a client-side store returns the encoded record.
	Save(ctx context.Context, token string, u Update) (string, error)

	// Delete removes the record under token. Deleting an unknown token
	// returns nil.
	Delete(ctx context.Context, token string) error
}

// ClientSide is an optional interface of a [Store] that keeps the whole
// record in the cookie itself, as the secure_cookie driver does. The root
// package passes such a store the cookie value as the token, always saves
// with Update.Replace and the whole record, uses the string Save returns as
// the cookie value, and ends a session by expiring its cookie (Delete cannot
// revoke a value the browser holds).
type ClientSide interface {
	ClientSide() bool
}

// KeyPrefixChecker is an optional interface of a server-side [Store] whose
// backend restricts keys (memcached: 250 bytes). The root package calls it
// once at startup with the session's key_prefix; an error, which should match
// ErrConfig (see [ConfigErrorf]), fails the configuration.
type KeyPrefixChecker interface {
	CheckKeyPrefix(prefix string) error
}

// isClientSide reports whether st keeps its records in the cookie.
func isClientSide(st Store) bool {
	cs, ok := st.(ClientSide)
	return ok && cs.ClientSide()
}

// Errors checked with errors.Is.
var (
	// ErrNotFound is wrapped by a Store's errors for an unknown, expired or
	// malformed token.
	ErrNotFound = errors.New("sessionplus: session not found")

	// ErrUnknownDriver is wrapped by the error for a session_type that no
	// imported driver registered.
	ErrUnknownDriver = errors.New("sessionplus: unknown session_type")

	// ErrConfig is wrapped by every configuration error.
	ErrConfig = errors.New("sessionplus: invalid configuration")

	// ErrUnownedField is wrapped by the error for setting a field that no
	// configured session owns.
	ErrUnownedField = errors.New("sessionplus: no session owns this field")

	// ErrWrongType is wrapped by the error of a typed read whose stored value
	// does not decode into the requested type.
	ErrWrongType = errors.New("sessionplus: stored value has another type")

	// ErrRecordTooLarge is wrapped by a store's error for a record its
	// backend cannot hold (memcached's item size, a document limit).
	ErrRecordTooLarge = errors.New("sessionplus: session record too large")

	// ErrCookieTooLarge is wrapped by the error of a save whose cookie would
	// exceed the browser limit of 4096 bytes. The session is not saved.
	ErrCookieTooLarge = errors.New("sessionplus: cookie too large")

	// ErrNoSession is wrapped by the errors of the session returned where no
	// session was begun for the request (the middleware is not installed, or
	// its Skipper skipped the request).
	ErrNoSession = errors.New("sessionplus: no session in this request")

	// ErrClosed is wrapped by the error of changing a session after its final
	// save, once the response headers are on their way.
	ErrClosed = errors.New("sessionplus: session already saved with the response")

	// ErrLoadFailed is wrapped by the error of any change to a session whose
	// read failed earlier in the request: that session is not written back,
	// so the data it holds in the backend is kept.
	ErrLoadFailed = errors.New("sessionplus: session could not be read")
)

// MaxCookieSize is the largest cookie, name and value together, that
// browsers are required to keep. A save whose cookie would exceed it fails
// with [ErrCookieTooLarge].
const MaxCookieSize = 4096

// StoreError is the error of a backend operation of one session. It names the
// session (its cookie name), its session_type and the operation, once.
type StoreError struct {
	Session string // cookie_name
	Type    string // session_type
	Op      string // "load", "save", "keep-alive", "delete"
	Err     error
}

func (e *StoreError) Error() string {
	return "sessionplus: session " + quote(e.Session) + " (" + e.Type + "): " + e.Op + ": " + e.Err.Error()
}

func (e *StoreError) Unwrap() error { return e.Err }
