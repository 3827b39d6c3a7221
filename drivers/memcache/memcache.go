package memcache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/owned"
)

// Name is the session_type under which the driver registers.
const Name = "memcache"

func init() { sessionplus.Register(Name, Driver{}) }

// Defaults of the options.
const (
	// DefaultMaxItemSize is memcached's default item size limit (its -I
	// option): 1 MiB.
	DefaultMaxItemSize = 1 << 20

	// DefaultCASRetries is how many times a field-level write is retried
	// after a concurrent write of the same session changed the item.
	DefaultCASRetries = 10

	// DefaultMaxIdleConns is how many idle connections to each server a
	// client built from the servers option keeps.
	DefaultMaxIdleConns = 10

	// DefaultTimeout bounds each operation of a [Store] by default (see
	// [Options.Timeout]).
	DefaultTimeout = 5 * time.Second
)

// itemOverhead is what memcached adds to the key and value of an item when
// it checks its size limit: the item header, the CAS id, the key's
// terminating NUL and the value's CRLF (59 bytes in memcached 1.6), rounded
// up.
const itemOverhead = 64

// MaxKeyLen is the longest memcached key, in bytes.
const MaxKeyLen = 250

// ErrTooLarge is wrapped by the error of a save whose record does not fit in
// one memcached item. The session is not saved.
// It is [sessionplus.ErrRecordTooLarge].
var ErrTooLarge = sessionplus.ErrRecordTooLarge

var (
	errExpired    = fmt.Errorf("%w (expired)", sessionplus.ErrNotFound)
	errMalformed  = fmt.Errorf("%w (malformed item)", sessionplus.ErrNotFound)
	errInvalidKey = fmt.Errorf("%w (not a valid memcache key)", sessionplus.ErrNotFound)
)

// Driver opens memcache stores. It is registered under [Name].
type Driver struct{}

// options are the driver-specific keys of a memcache session.
//
// client is an any, checked by Validate: mapstructure would copy a
// *memcache.Client into a new one (without its servers) rather than keep it.
type options struct {
	Client       any            `mapstructure:"client"`
	Servers      []string       `mapstructure:"servers"`
	MaxItemSize  *int           `mapstructure:"max_item_size"`
	CASRetries   *int           `mapstructure:"cas_retries"`
	Timeout      *time.Duration `mapstructure:"timeout"`
	MaxIdleConns *int           `mapstructure:"max_idle_conns"`
}

// Validate checks what decoding cannot: that exactly one of client and
// servers is given, the client's type, the form of each server address,
// that max_idle_conns goes with servers, and the ranges of the numbers. It
// contacts nothing: the addresses are resolved by Open. It returns every
// mistake it finds, each naming its key where there is one.
func (o *options) Validate(cfg sessionplus.DriverConfig) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, sessionplus.ConfigErrorf(format, args...)) }
	if o.Timeout != nil && *o.Timeout <= 0 {
		bad(`key "timeout": expected a positive duration such as "5s", got %v`, *o.Timeout)
	}
	_, hasClient := cfg.Options["client"]
	_, hasServers := cfg.Options["servers"]
	_, hasMaxIdle := cfg.Options["max_idle_conns"]
	switch {
	case hasClient && hasServers:
		bad(`keys "client" and "servers" exclude each other: give a live *memcache.Client or the servers to connect to, not both`)
	case hasClient:
		if c, ok := o.Client.(*gomemcache.Client); !ok || c == nil {
			bad(`key "client": expected a *memcache.Client of github.com/bradfitz/gomemcache, got %s`, describe(o.Client))
		}
		if hasMaxIdle {
			bad(`key "max_idle_conns": applies only to the client built from "servers"; set MaxIdleConns on your own *memcache.Client instead`)
		}
	case hasServers:
		if len(o.Servers) == 0 {
			bad(`key "servers": empty list: give at least one "host:port"`)
		}
		for _, s := range o.Servers {
			if err := checkServer(s); err != nil {
				bad(`key "servers": %v`, err)
			}
		}
		if o.MaxIdleConns != nil && *o.MaxIdleConns < 1 {
			bad(`key "max_idle_conns": expected at least 1, got %d`, *o.MaxIdleConns)
		}
	default:
		bad(`missing key "client" or "servers": give a live *memcache.Client, or the servers as a list of "host:port"`)
	}
	if o.MaxItemSize != nil && *o.MaxItemSize < 1024 {
		bad(`key "max_item_size": expected at least 1024 bytes, got %d`, *o.MaxItemSize)
	}
	if o.CASRetries != nil && *o.CASRetries < 1 {
		bad(`key "cas_retries": expected at least 1, got %d`, *o.CASRetries)
	}
	return errors.Join(errs...)
}

// checkServer checks the form of one server address, as gomemcache's
// ServerList reads it (a path with a "/" is a Unix socket), without
// resolving it.
func checkServer(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q is not a \"host:port\"", s)
	}
	if strings.Contains(s, "/") {
		return nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return err
	}
	return nil
}

// Open returns a [Store] for one session's options (see the package
// documentation for the keys). It checks that every server answers, within
// the store's timeout, so that a wrong address fails at startup. Option
// errors wrap [sessionplus.ErrConfig] and name the key; an unreachable
// server gives an error that names the key but does not wrap ErrConfig.
// With ctx done already, Open returns its error without connecting.
func (Driver) Open(ctx context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var o options
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("memcache: open: %w", sessionplus.ContextError(ctx, nil))
	}
	so := &Options{Timeout: DefaultTimeout}
	if o.Timeout != nil {
		so.Timeout = *o.Timeout
	}
	if o.MaxItemSize != nil {
		so.MaxItemSize = *o.MaxItemSize
	}
	if o.CASRetries != nil {
		so.CASRetries = *o.CASRetries
	}
	// Validate made sure that client, if given, is a live client, and
	// that servers is given otherwise.
	client, given := o.Client.(*gomemcache.Client)
	key := "client"
	if !given {
		key = "servers"
		var err error
		if client, err = newClient(o, so.Timeout); err != nil {
			return nil, err
		}
	}
	st := New(client, so)
	if !given {
		st.owned.Own(client.Close)
	}
	if err := st.do(ctx, "ping", func(context.Context) error { return client.Ping() }); err != nil {
		st.Close()
		return nil, fmt.Errorf("memcache: key %q: memcached not reachable: %w", key, err)
	}
	return st, nil
}

// describe names the type of v for an error.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case *gomemcache.Client:
		return "a nil *memcache.Client"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// newClient builds the client of the servers option, whose network timeout
// (of each dial and each round trip) is timeout. gomemcache's ServerList
// resolves each address (a host name through DNS) here, not in Validate.
func newClient(o options, timeout time.Duration) (*gomemcache.Client, error) {
	ss := new(gomemcache.ServerList)
	if err := ss.SetServers(o.Servers...); err != nil {
		return nil, sessionplus.ConfigErrorf(`key "servers": %v`, err)
	}
	client := gomemcache.NewFromSelector(ss)
	client.MaxIdleConns = DefaultMaxIdleConns
	if o.MaxIdleConns != nil {
		client.MaxIdleConns = *o.MaxIdleConns
	}
	client.Timeout = timeout
	return client, nil
}

// Options configures a [Store] made with [New]. The zero value, like a nil
// *Options, gives the defaults.
type Options struct {
	// MaxItemSize is the largest item, in bytes, that Save writes: the key,
	// the encoded record and memcached's per-item overhead (about 60 bytes).
	// It should be the servers' item size limit (memcached -I). Optional.
	// Default DefaultMaxItemSize (1 MiB).
	MaxItemSize int

	// CASRetries is how many times a field-level write is retried after a
	// concurrent write of the same session changed the item between its
	// read and its compare-and-swap. Optional. Default DefaultCASRetries.
	CASRetries int

	// Timeout bounds each operation of the store (Load, Save, Delete, each
	// with all of its round trips), on top of the deadline of the context
	// it is given: a request's context often has none. gomemcache takes no
	// context, so the store stops waiting for a round trip under way when
	// the bound passes, and leaves it to the client's own Timeout (see the
	// package documentation). Optional. Default [DefaultTimeout] (5s); it
	// must not be negative.
	Timeout time.Duration
}

// Store keeps each session in one memcached item. It is safe for concurrent
// use. Make one with [New] or [Driver.Open]; the zero value is not usable.
type Store struct {
	client      *gomemcache.Client
	maxItemSize int
	casRetries  int
	timeout     time.Duration
	timedOut    error        // the cause of a context ended by the timeout
	owned       owned.Client // the client Open built from servers, which Close closes
	prefixes    sync.Map     // the key prefixes of the user indexes (see UserRecords)
}

var _ sessionplus.Store = (*Store)(nil)

// New returns a store that keeps its sessions on client's servers. opts may
// be nil for the defaults. The caller keeps ownership of client: [Store.Close]
// does not close it. New panics if client is nil or opts.Timeout is
// negative.
func New(client *gomemcache.Client, opts *Options) *Store {
	if client == nil {
		panic("memcache: New called with a nil client")
	}
	s := &Store{client: client, maxItemSize: DefaultMaxItemSize, casRetries: DefaultCASRetries, timeout: DefaultTimeout}
	if opts != nil {
		if opts.MaxItemSize > 0 {
			s.maxItemSize = opts.MaxItemSize
		}
		if opts.CASRetries > 0 {
			s.casRetries = opts.CASRetries
		}
		switch {
		case opts.Timeout < 0:
			panic(fmt.Sprintf("memcache: New called with a negative Options.Timeout (%v)", opts.Timeout))
		case opts.Timeout > 0:
			s.timeout = opts.Timeout
		}
	}
	s.timedOut = fmt.Errorf("no answer from memcached within %v (the store's timeout)", s.timeout)
	return s
}

// do runs op, the round trips of the store's operation name, in a goroutine
// of its own, with ctx bounded by the store's timeout, and waits for it
// until that context ends. gomemcache takes no context: a round trip under
// way when it ends goes on in the background, until it is done or the
// client's Timeout cuts it off, and its result is dropped; op sees its
// context done and takes no further step where it checks it.
//
// op must not share memory with the caller that the caller may change after
// do returns.
func (s *Store) do(ctx context.Context, name string, op func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, s.timedOut)
	defer cancel()
	if ctx.Err() != nil {
		return &opError{name, sessionplus.ContextError(ctx, nil)} // op would dial all the same
	}
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done: // it ended too: its answer, if it has one, stands
		default:
			return &opError{name, sessionplus.ContextError(ctx, nil)}
		}
	}
	if err == nil || errors.Is(err, sessionplus.ErrNotFound) || errors.Is(err, ErrTooLarge) {
		return err // an answer of the servers
	}
	if cerr := sessionplus.ContextError(ctx, err); cerr != err {
		return &opError{name, cerr} // a failure once the time was up: the time is why
	}
	return err
}

// Close closes the idle connections of the client that [Driver.Open] built
// from the servers option. It does nothing to a client that the caller
// passed in, which stays the caller's to close.
func (s *Store) Close() error { return s.owned.Close() }

// CheckKeyPrefix reports whether the keys the root package makes with
// key_prefix prefix (prefix, ":" and 43 base64url characters) are valid
// memcached keys: at most 250 bytes, without spaces or control characters.
// Its error wraps [sessionplus.ErrConfig]. A prefix of up to 206 bytes of
// printable characters passes.
func (s *Store) CheckKeyPrefix(prefix string) error {
	const idLen = 43
	if n := len(prefix) + 1 + idLen; n > MaxKeyLen {
		return sessionplus.ConfigErrorf(`memcache: key "key_prefix": makes keys of %d bytes, over memcached's limit of %d: use a prefix of at most %d bytes`,
			n, MaxKeyLen, MaxKeyLen-1-idLen)
	}
	if prefix == "" || !validKey(prefix) {
		return sessionplus.ConfigErrorf(`memcache: key "key_prefix": %q is empty or holds spaces or control characters, which memcached keys cannot`, prefix)
	}
	s.remember(prefix)
	return nil
}

// validKey reports whether key is a valid memcached key: 1 to 250 bytes,
// none of them a space or a control character.
func validKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	for i := range len(key) {
		if key[i] <= ' ' || key[i] == 0x7f {
			return false
		}
	}
	return true
}

// badKeyError is the error of a save under a key memcached cannot hold. It
// names the key's length, never the key.
func badKeyError(key string) error {
	return fmt.Errorf("memcache: the storage key (%d bytes) is not a valid memcached key, which has at most %d bytes "+
		"and no spaces or control characters: use a shorter key_prefix", len(key), MaxKeyLen)
}

// opError is a failed memcached operation.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "memcache: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "memcache: ")
}

func (e *opError) Unwrap() error { return e.err }

// Load returns the record stored under token. A token that is not a valid
// memcached key, and an item that is missing or not in this driver's
// format, give an error wrapping [sessionplus.ErrNotFound]; a server that
// cannot be reached gives another error, and one that does not answer
// before ctx, bounded by the store's timeout, ends gives an error that is
// errors.Is context.DeadlineExceeded (see Save).
func (s *Store) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	if !validKey(token) {
		return sessionplus.Record{}, errInvalidKey
	}
	var rec sessionplus.Record
	err := s.do(ctx, "load", func(context.Context) error {
		it, err := s.client.Get(token)
		if errors.Is(err, gomemcache.ErrCacheMiss) {
			return sessionplus.ErrNotFound
		}
		if err != nil {
			return &opError{"get", err}
		}
		if rec, _, err = decodeItem(it.Value); err != nil {
			return errMalformed
		}
		return nil
	})
	if err != nil {
		return sessionplus.Record{}, err
	}
	return rec, nil
}

// Save applies u to the record under token as [sessionplus.Kind] describes,
// and returns token:
//
//   - a Create sets the item;
//   - a Write reads the item with gets, applies u to its record and writes
//     it back with cas, retrying up to the CASRetries of [Options] times
//     when a concurrent write came in between;
//   - a Touch appends the new expiry to the item and touches it, without
//     reading or rewriting it.
//
// A Create with a user and a Write that changes the record's user first
// list the record in the user's index item (see the package
// documentation, Users' sessions); a Touch leaves the index alone.
//
// A Write or a Touch never creates an item: if there is none (or its
// record has expired or is not in this driver's format), or it is deleted
// while they run, they return an error wrapping [sessionplus.ErrNotFound],
// and index nothing.
//
// A record whose expiry is within a few seconds is deleted rather than
// stored (see the package documentation). A record that does not fit in
// MaxItemSize gives an error wrapping [ErrTooLarge].
//
// Save returns when ctx, bounded by the store's timeout, ends, with an
// error that is errors.Is context.DeadlineExceeded (or context.Canceled).
// gomemcache takes no context: a round trip under way then goes on in the
// background until the client's Timeout; a save checks ctx before each
// write (of the index, of the record) and between CAS retries, and takes
// no further step.
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	if !validKey(token) {
		return "", badKeyError(token)
	}
	var op func(ctx context.Context) error
	switch u.Kind {
	case sessionplus.Create:
		op = func(ctx context.Context) error { return s.create(ctx, token, u) }
	case sessionplus.Write:
		op = func(ctx context.Context) error { return s.write(ctx, token, u) }
	case sessionplus.Touch:
		op = func(ctx context.Context) error { return s.touch(ctx, token, u.Expiry) }
	default:
		return "", fmt.Errorf("memcache: unknown kind of save %v", u.Kind)
	}
	// The operation may outlive Save (see do): it gets copies of what the
	// caller may change afterwards. The values themselves are never
	// changed, by the root package or here.
	u.Set, u.Del = maps.Clone(u.Set), slices.Clone(u.Del)
	if err := s.do(ctx, "save ("+u.Kind.String()+")", op); err != nil {
		return "", err
	}
	return token, nil
}

// create sets the item to the record of u. A record of a user is listed in
// the user's index first (see indexUnder), so that it is never stored
// without its entry.
func (s *Store) create(ctx context.Context, key string, u sessionplus.Update) error {
	now := time.Now()
	exp, ok := expiration(u.Expiry, now)
	if !ok {
		// The record ends within the margin: store nothing, and drop
		// whatever was stored under key.
		if err := s.client.Delete(key); err != nil && !errors.Is(err, gomemcache.ErrCacheMiss) {
			return &opError{"delete", err}
		}
		return nil
	}
	value := encodeItem(sessionplus.Record{Values: u.Set, Expiry: u.Expiry}, u.User)
	if err := s.checkSize(key, value); err != nil {
		return err
	}
	if u.User != "" {
		if err := s.indexUnder(ctx, u.User, key); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := s.client.Set(&gomemcache.Item{Key: key, Value: value, Expiration: exp}); err != nil {
		return s.writeError("set", err, key, value)
	}
	return nil
}

// touch moves the expiry of the record under key without reading it: it
// appends the new expiry to the item, then touches the item with it. Both
// commands need the item to be there, so neither creates it; and memcached
// has dropped an item by the time its record expires (see expiration), so
// an item they find holds a live record. The user index needs nothing: it
// lists a record whatever its expiry (see users.go).
func (s *Store) touch(ctx context.Context, key string, expiry time.Time) error {
	exp, ok := expiration(expiry, time.Now())
	if !ok {
		// The record ends within the margin: drop the item, if there is one.
		return s.remove(key)
	}
	err := s.client.Append(&gomemcache.Item{Key: key, Value: trailer(expiry)})
	if errors.Is(err, gomemcache.ErrNotStored) {
		// memcached answers NOT_STORED both when there is no item and when
		// the trailer would push the item past the server's size limit.
		// A gets tells them apart: a miss is the record gone; an item too
		// full to grow is rewritten without its trailers, with cas, which
		// never creates it either.
		return s.write(ctx, key, sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry})
	}
	if err != nil {
		return &opError{"append", err}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = s.client.Touch(key, exp)
	if errors.Is(err, gomemcache.ErrCacheMiss) {
		return sessionplus.ErrNotFound // deleted or dropped since the append
	}
	if err != nil {
		return &opError{"touch", err}
	}
	return nil
}

// write applies the fields of u (none for a Touch), its expiry and its
// user to the live record under key: it reads the item with gets and
// writes it back with cas, retrying when a concurrent write changed the
// item in between. It never creates the item: without a live record it
// returns an error wrapping sessionplus.ErrNotFound. Where the record's
// user changes, the record is listed in the new user's index first (see
// indexUnder).
func (s *Store) write(ctx context.Context, key string, u sessionplus.Update) error {
	var indexed string // the user in whose index this write has listed the record
	for attempt := 0; ; attempt++ {
		it, err := s.client.Get(key) // a gets: it carries the CAS id
		if errors.Is(err, gomemcache.ErrCacheMiss) {
			return sessionplus.ErrNotFound
		}
		if err != nil {
			return &opError{"get", err}
		}
		now := time.Now()
		rec, user, err := decodeItem(it.Value)
		if err != nil {
			return errMalformed // not this driver's: left as it is
		}
		if !now.Before(rec.Expiry) {
			return errExpired // memcached drops it on its own
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		exp, ok := expiration(u.Expiry, now)
		if !ok {
			// The record ends within the margin: drop the item.
			return s.remove(key)
		}
		values := rec.Values // decoded afresh: ours to change
		for _, name := range u.Del {
			delete(values, name)
		}
		for name, v := range u.Set {
			values[name] = v
		}
		// The record moves to u.User's index unless it is there already:
		// it was u.User's (a concurrent write, between our tries, may have
		// made it so), or this write listed it on an earlier try.
		move := u.SetUser && u.User != user && u.User != "" && u.User != indexed
		if u.SetUser {
			user = u.User
		}
		value := encodeItem(sessionplus.Record{Values: values, Expiry: u.Expiry}, user)
		if err := s.checkSize(key, value); err != nil {
			return err
		}
		if move {
			if err := s.indexUnder(ctx, user, key); err != nil {
				return err
			}
			indexed = user
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		err = s.client.CompareAndSwap(&gomemcache.Item{Key: key, Value: value, Expiration: exp, CasID: it.CasID})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, gomemcache.ErrCacheMiss):
			return sessionplus.ErrNotFound // deleted since the gets: a log-out
		case !errors.Is(err, gomemcache.ErrCASConflict) && !errors.Is(err, gomemcache.ErrNotStored):
			return s.writeError("cas", err, key, value)
		case attempt >= s.casRetries:
			return fmt.Errorf("memcache: field-level write: the item kept changing under concurrent writes of the same session; "+
				"gave up after %d attempts (cas_retries is %d): %w", attempt+1, s.casRetries, err)
		}
		// Another request wrote the item between our gets and our cas:
		// wait a little, at random, and merge again.
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// backoff returns a random wait before the retry after attempt: up to 1 ms,
// doubling with each attempt up to 64 ms.
func backoff(attempt int) time.Duration {
	return time.Duration(rand.Int64N(int64(time.Millisecond << min(attempt, 6))))
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// remove deletes the item under key. It returns sessionplus.ErrNotFound if
// there is none.
func (s *Store) remove(key string) error {
	err := s.client.Delete(key)
	if errors.Is(err, gomemcache.ErrCacheMiss) {
		return sessionplus.ErrNotFound
	}
	if err != nil {
		return &opError{"delete", err}
	}
	return nil
}

// checkSize returns an error wrapping ErrTooLarge if the item of key and
// value is over maxItemSize.
func (s *Store) checkSize(key string, value []byte) error {
	if n := len(key) + len(value) + itemOverhead; n > s.maxItemSize {
		return fmt.Errorf("%w: the item would take %d bytes (key, encoded fields and memcached's item header), "+
			"over max_item_size of %d bytes; store less in this session", ErrTooLarge, n, s.maxItemSize)
	}
	return nil
}

// writeError describes a failed write of an item. A server that refuses
// the item as too large gives an error wrapping ErrTooLarge.
func (s *Store) writeError(op string, err error, key string, value []byte) error {
	if strings.Contains(err.Error(), "SERVER_ERROR object too large") {
		return fmt.Errorf("%w: the server refused an item of %d bytes (%s): "+
			"its item size limit (memcached -I) is below max_item_size (%d bytes); lower max_item_size to match it, or store less",
			ErrTooLarge, len(key)+len(value)+itemOverhead, "SERVER_ERROR object too large for cache", s.maxItemSize)
	}
	return &opError{op, err}
}

// Delete removes the record under token. It returns an error wrapping
// [sessionplus.ErrNotFound] if there is no item under token, or if token is
// not a valid memcached key (nothing can be stored under it). Like Load, it
// returns when ctx, bounded by the store's timeout, ends.
func (s *Store) Delete(ctx context.Context, token string) error {
	if !validKey(token) {
		return errInvalidKey
	}
	return s.do(ctx, "delete", func(context.Context) error { return s.remove(token) })
}
