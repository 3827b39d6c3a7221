package sessionplus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Record is one session's stored state: its fields, each encoded by the root
// package into opaque bytes, and the absolute time after which it must no
// longer be served.
type Record struct {
	// Values maps a field name to its encoded value. Drivers must treat the
	// bytes as opaque and return them unchanged.
	Values map[string][]byte
	// Expiry is the absolute deadline of the record.
	Expiry time.Time
}

// Kind says what a [Store.Save] does. The root package names the kind of
// every save explicitly; a driver switches on it and needs no other test.
type Kind uint8

const (
	// Create writes a whole record under a new token: the record becomes
	// exactly Update.Set, with Update.Expiry, replacing anything stored
	// under the token before. It is the only kind that creates a record. The
	// root package uses it for a new session, for a session moved to a new
	// id (Regenerate, a change of its lifetime), and for every save of a
	// client-side store.
	Create Kind = iota + 1

	// Write is a field-level write to a live record: the fields in
	// Update.Set are written, those in Update.Del removed, every other
	// stored field is kept, and the expiry becomes Update.Expiry. A store
	// that can update single fields (a Redis hash, MongoDB $set/$unset,
	// Firestore field paths, a JSONB column) must send only these fields,
	// so that two requests changing different fields of one session both
	// land. If no live record is stored under the token (none, an expired
	// one, or one that a log-out deleted an instant ago) Write changes
	// nothing and returns an error wrapping [ErrNotFound]: a request in
	// flight must not bring back a session that another request ended. The
	// check and the write must be one atomic step.
	Write

	// Touch is a keep-alive: only the expiry of a live record moves, to
	// Update.Expiry; Set and Del are empty. Like Write it creates nothing:
	// without a live record it returns an error wrapping [ErrNotFound].
	Touch
)

// String returns "create", "write" or "touch".
func (k Kind) String() string {
	switch k {
	case Create:
		return "create"
	case Write:
		return "write"
	case Touch:
		return "touch"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Update is what a [Store.Save] applies to one record.
//
// The root package only ever sends one of the three kinds; an Expiry in
// the future; field names that are not empty and hold no NUL byte, but
// for "\x00meta" (see User below), so a driver may keep its own bookkeeping
// under other names that do, such as "\x00expiry"; no field in both Set
// and Del; Del sorted.
//
// User and SetUser matter only to a store that implements [UserIndex]
// (others ignore them): after a Create the record is indexed under User
// ("" for no user); a Write with SetUser moves it to the index of User
// ("" removes it from every index); a Write without SetUser and a Touch
// keep the record's user. A Write with SetUser may have empty Set and Del.
// When User is not "", Set holds one field whose name begins with a NUL
// byte, "\x00meta": the root package's own, stored and returned as any
// other field.
type Update struct {
	Kind    Kind
	Set     map[string][]byte // Create: the whole record; Write: the fields written
	Del     []string          // Write: the fields removed
	Expiry  time.Time
	User    string // the user whose index holds the record after a Create, or a Write with SetUser
	SetUser bool   // a Write changes the record's user to User
}

// Store is implemented by session drivers. It must be safe for concurrent use.
//
// For a server-side store, token is the storage key that the root package
// derived from the session id: key_prefix + ":" + 43 base64url characters (a
// hash of the id and of what the server decided about its lifetime, so the
// store never sees a raw session id). key_prefix is non-empty and has no
// whitespace or control characters; a driver whose backend restricts keys
// further must check key_prefix when it opens (see [KeyPrefixChecker]), or
// encode tokens. For a client-side store (see [ClientSide]) token is the
// cookie value itself, and "" when there is none yet.
//
// The root package enforces the generic rules once, so that a driver need
// not: it never calls a store with a context that is already done, it
// checks the expiry of every record Load returns (a backend's own sweeper
// may be late), and it removes the token from any error a store returns
// before the error is logged or returned. A driver must still keep stored
// values out of its errors, and an error caused by the context (canceled,
// deadline) must not wrap ErrNotFound.
type Store interface {
	// Load returns the record stored under token. If token is unknown,
	// expired or malformed, Load must return an error wrapping ErrNotFound;
	// any other error means the backend failed, and the root package never
	// mistakes it for an absent session.
	Load(ctx context.Context, token string) (Record, error)

	// Save applies u to the record under token (see [Kind] for what each
	// kind does). It returns the value the client presents next time: a
	// server-side store returns token unchanged; a client-side store
	// returns the encoded record.
	Save(ctx context.Context, token string, u Update) (string, error)

	// Delete removes the record under token. If no record was stored
	// under it, Delete returns an error wrapping ErrNotFound (for a record
	// that expired but is still held, either answer is right): the root
	// package learns so that another request ended a session that this one
	// was moving to a new id.
	Delete(ctx context.Context, token string) error
}

// ClientSide is an optional interface of a [Store] that keeps the whole
// record in the cookie itself, as the secure_cookie driver does. The root
// package passes such a store the cookie value as the token, always saves
// with [Create] and the whole record, uses the string Save returns as
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

// load, save and del call the session's store under the generic rules that
// [Store] promises drivers: never with a context that is done, a record
// past its expiry is not found, and the token never appears in an error.
// With a TracerProvider or a MeterProvider configured, each is also a span
// and a measurement (see telemetry.go), of its outcome with the token
// removed.
func (c *sessionConf) load(ctx context.Context, token string, now time.Time) (_ Record, err error) {
	if c.tel != nil {
		var op telSpan
		ctx, op = c.tel.begin(ctx, opLoad, false)
		defer func() { op.end(ctx, err) }()
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	rec, err := c.store.Load(ctx, token)
	if err != nil {
		return Record{}, redact(err, token)
	}
	if !rec.Expiry.After(now) {
		return Record{}, errExpired
	}
	return rec, nil
}

func (c *sessionConf) save(ctx context.Context, token string, u Update) (_ string, err error) {
	if c.tel != nil {
		var op telSpan
		ctx, op = c.tel.begin(ctx, saveOp(u.Kind), u.Kind == Create)
		defer func() { op.end(ctx, err) }()
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	v, err := c.store.Save(ctx, token, u)
	return v, redact(err, token)
}

func (c *sessionConf) del(ctx context.Context, token string) (err error) {
	if c.tel != nil {
		var op telSpan
		ctx, op = c.tel.begin(ctx, opDelete, false)
		defer func() { op.end(ctx, err) }()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return redact(c.store.Delete(ctx, token), token)
}

var errExpired = fmt.Errorf("%w (expired)", ErrNotFound)

// ContextError is for drivers that bound each operation with a context of
// their own (context.WithTimeoutCause with the store's timeout as cause). It
// returns err where ctx has not ended; otherwise ctx's error with its cause
// and then err, where err says more, so that a timeout of the store is
// errors.Is context.DeadlineExceeded whatever the client library made of
// it, and never wraps ErrNotFound.
//
// A network call fails at ctx's deadline by a timer of its own, which can
// fire an instant before ctx's: a context whose deadline has passed is
// waited for, as it is about to end.
func ContextError(ctx context.Context, err error) error {
	if d, ok := ctx.Deadline(); ok && ctx.Err() == nil && !time.Now().Before(d) {
		<-ctx.Done()
	}
	cerr := ctx.Err()
	if cerr == nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, cerr) {
		cerr = fmt.Errorf("%w: %w", cerr, cause)
	}
	if err == nil || err.Error() == ctx.Err().Error() {
		return cerr
	}
	return fmt.Errorf("%w (%w)", cerr, err)
}

// redact returns err with every occurrence of token in its text replaced,
// keeping what it wraps.
func redact(err error, token string) error {
	if err == nil || len(token) < 8 || !strings.Contains(err.Error(), token) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), token, "<token>"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

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
	Op      string // "load", "save", "delete"
	Err     error
}

func (e *StoreError) Error() string {
	return "sessionplus: session " + quote(e.Session) + " (" + e.Type + "): " + e.Op + ": " + e.Err.Error()
}

func (e *StoreError) Unwrap() error { return e.Err }
