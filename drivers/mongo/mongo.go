package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	gomongo "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/owned"
)

// Name is the session_type under which the driver registers.
const Name = "mongodb"

// DefaultTimeout bounds each operation of a [Store] by default (see
// [Options.Timeout]).
const DefaultTimeout = 5 * time.Second

func init() { sessionplus.Register(Name, Driver{}) }

// Driver opens MongoDB stores from a session's options. It is registered
// under [Name].
type Driver struct{}

// config holds the driver-specific keys of a mongodb session.
type config struct {
	Client        any            `mapstructure:"client"` // *gomongo.Client, checked by hand: see check
	URL           string         `mapstructure:"url"`
	DB            string         `mapstructure:"db"`
	Collection    string         `mapstructure:"collection"`
	CreateIndexes *bool          `mapstructure:"create_indexes"`
	Timeout       *time.Duration `mapstructure:"timeout"`
}

// disconnectTimeout bounds the Disconnect of a client the driver built,
// when Open fails after building it or when the Store is closed.
const disconnectTimeout = 10 * time.Second

// Open connects (for url) or takes the given client, pings the server
// once, and creates the TTL index on expires_at unless create_indexes is
// false; the ping and the index are each bounded by the store's timeout, as
// every operation of the store is. See the package documentation for the
// keys. Configuration mistakes are errors wrapping [sessionplus.ErrConfig]
// that name the key, found when the options are decoded, before anything
// is contacted; a server that does not answer in time is an error too.
func (Driver) Open(ctx context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var c config
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	timeout := DefaultTimeout
	if c.Timeout != nil {
		timeout = *c.Timeout
	}

	client, _ := c.Client.(*gomongo.Client)
	key := "client"
	var disconnect func() error // of the client Open built from url
	if c.URL != "" {
		key = "url"
		co := options.Client().ApplyURI(c.URL)
		// The driver's own bounds are 30s, for connecting and for finding
		// a server: where the URL sets neither (connectTimeoutMS,
		// serverSelectionTimeoutMS), they are the store's timeout, so that
		// nothing it starts for an operation outlasts it by much.
		if co.ConnectTimeout == nil {
			co.SetConnectTimeout(timeout)
		}
		if co.ServerSelectionTimeout == nil {
			co.SetServerSelectionTimeout(timeout)
		}
		built, err := gomongo.Connect(co)
		if err != nil {
			return nil, sessionplus.ConfigErrorf("key \"url\": %s", redactURL(err.Error(), c.URL))
		}
		client = built
		disconnect = func() error {
			dctx, cancel := context.WithTimeout(context.Background(), disconnectTimeout)
			defer cancel()
			if err := built.Disconnect(dctx); err != nil {
				return fmt.Errorf("mongo: disconnect: %w", err)
			}
			return nil
		}
	}
	fail := func(err error) (sessionplus.Store, error) {
		if disconnect != nil {
			_ = disconnect()
		}
		return nil, err
	}
	// Sessions are read from the primary whatever the client's read
	// preference: a read from a lagging secondary could miss the session's
	// last write.
	coll := client.Database(c.DB).Collection(c.Collection,
		options.Collection().SetReadPreference(readpref.Primary()))
	st, err := New(coll, &Options{Logger: cfg.Logger, Timeout: timeout})
	if err != nil {
		return fail(err)
	}
	pctx, cancel := st.withTimeout(ctx)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		err = sessionplus.ContextError(pctx, err)
		msg := err.Error()
		if disconnect != nil {
			msg = redactURL(msg, c.URL)
		}
		return fail(&wrapped{msg: fmt.Sprintf("mongo: no answer from the server of key %q: %s", key, msg), err: err})
	}
	if disconnect != nil {
		st.owned.Own(disconnect)
	}
	if c.CreateIndexes == nil || *c.CreateIndexes {
		if err := st.CreateIndexes(ctx); err != nil {
			return fail(err)
		}
	}
	return st, nil
}

// Validate checks the keys that decoding cannot, without contacting
// anything: [sessionplus.DriverConfig.Decode] calls it, so that these
// mistakes are reported before any backend of any session is contacted.
// client is typed any and checked here: decoding would turn a pointer to
// another struct, such as a client of the v1 driver, into an empty v2
// client without error. A url is parsed as gomongo.Connect parses it,
// except a "mongodb+srv://" one, whose parsing looks up DNS records: Open
// reports its mistakes.
func (c *config) Validate(cfg sessionplus.DriverConfig) error {
	if _, given := cfg.Options["client"]; given && c.Client == nil {
		return sessionplus.ConfigErrorf(`key "client": the *mongo.Client is nil`)
	}
	switch {
	case c.Client == nil && c.URL == "":
		return sessionplus.ConfigErrorf(`key "client" or "url": required: a *mongo.Client (go.mongodb.org/mongo-driver/v2/mongo) or a connection string such as "mongodb://host:27017/"`)
	case c.Client != nil && c.URL != "":
		return sessionplus.ConfigErrorf(`keys "client" and "url": give one of them, not both`)
	case c.Client != nil:
		cl, ok := c.Client.(*gomongo.Client)
		if !ok {
			return sessionplus.ConfigErrorf(`key "client": expected a *mongo.Client of go.mongodb.org/mongo-driver/v2/mongo, got %s`, describeType(c.Client))
		}
		if cl == nil {
			return sessionplus.ConfigErrorf(`key "client": the *mongo.Client is nil`)
		}
	case !strings.HasPrefix(c.URL, "mongodb+srv://"):
		if err := options.Client().ApplyURI(c.URL).Validate(); err != nil {
			return sessionplus.ConfigErrorf("key \"url\": %s", redactURL(err.Error(), c.URL))
		}
	}
	if c.DB == "" {
		return sessionplus.ConfigErrorf(`key "db": required: the name of the database that holds the sessions`)
	}
	if strings.ContainsAny(c.DB, "/\\. \"$\x00") || len(c.DB) >= 64 {
		return sessionplus.ConfigErrorf(`key "db": %q is not a valid database name (fewer than 64 bytes, none of /\. "$)`, c.DB)
	}
	if c.Collection == "" {
		return sessionplus.ConfigErrorf(`key "collection": required: the name of the collection that holds the sessions`)
	}
	if strings.ContainsAny(c.Collection, "$\x00") || strings.HasPrefix(c.Collection, "system.") {
		return sessionplus.ConfigErrorf(`key "collection": %q is not a valid collection name (no "$", not starting with "system.")`, c.Collection)
	}
	if c.Timeout != nil && *c.Timeout <= 0 {
		return sessionplus.ConfigErrorf(`key "timeout": expected a positive duration such as "5s", got %v`, *c.Timeout)
	}
	return nil
}

// describeType names the type of v with its package, so that a client of
// the v1 driver is told apart from one of v2.
func describeType(v any) string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == "" {
		return fmt.Sprintf("%T", v)
	}
	return fmt.Sprintf("%T of %s", v, t.PkgPath())
}

// redactURL replaces the password of the connection string url, if any,
// in msg.
func redactURL(msg, url string) string {
	_, rest, ok := strings.Cut(url, "://")
	if !ok {
		return msg
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return msg
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	if !ok || pass == "" {
		return msg
	}
	return strings.ReplaceAll(msg, pass, "xxxxx")
}

// Options configures a [Store] made with [New]. A nil *Options means the
// defaults.
type Options struct {
	// Logger receives the warning of [Store.CreateIndexes] about a server
	// that cannot create the TTL index. It never receives tokens or
	// values. Optional. Default slog.Default().
	Logger *slog.Logger

	// Timeout bounds each operation of the store (Load, Save, Delete,
	// CreateIndexes), on top of the deadline of the context it is given: a
	// request's context often has none, and a server that never answers
	// would otherwise hold every request. Optional. Default
	// [DefaultTimeout] (5s); it must not be negative.
	Timeout time.Duration
}

var _ sessionplus.UserIndex = (*Store)(nil)

// Store is a [sessionplus.Store] that keeps each session as one document of
// a MongoDB collection. It is safe for concurrent use.
type Store struct {
	coll     *gomongo.Collection
	logger   *slog.Logger
	timeout  time.Duration
	timedOut error // the cause of a context ended by the timeout

	locks keyLocks // serializes the saves and deletes of one token (see keyLocks)

	owned owned.Client // the client Open built from url; disconnected by Close
}

var (
	_ sessionplus.Store            = (*Store)(nil)
	_ sessionplus.KeyPrefixChecker = (*Store)(nil)
	_ io.Closer                    = (*Store)(nil)
)

// idLen is the length of the id part of a token: 43 base64url characters.
const idLen = 43

// CheckKeyPrefix reports whether tokens of key_prefix prefix fit in a
// document id: the root package calls it once at startup. A token is
// prefix, ":" and 43 characters, and the store takes tokens of up to 1024
// bytes (the limit of an index key on MongoDB before 4.2).
func (s *Store) CheckKeyPrefix(prefix string) error {
	if n := len(prefix) + 1 + idLen; n > maxTokenLen {
		return sessionplus.ConfigErrorf(`key "key_prefix": %d bytes is too long for the mongodb store: its keys, prefix, ":" and 43 characters, hold at most %d bytes`,
			len(prefix), maxTokenLen)
	}
	return nil
}

// New returns a store that keeps its sessions in coll. It does no I/O: call
// [Store.CreateIndexes] once at startup to have the server delete expired
// sessions (Open does that unless create_indexes is false). The client of
// coll stays the caller's: [Store.Close] does not disconnect it. coll is
// used as given, read preference included; reads from a secondary can miss
// a session's last write, so give a collection that reads from the primary.
func New(coll *gomongo.Collection, opts *Options) (*Store, error) {
	if coll == nil {
		return nil, errors.New("mongo: New: the collection is nil")
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Timeout < 0:
		return nil, sessionplus.ConfigErrorf("mongo: New: Options.Timeout: expected a positive duration, got %v", o.Timeout)
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Store{
		coll:     coll,
		logger:   o.Logger,
		timeout:  o.Timeout,
		timedOut: fmt.Errorf("no answer from MongoDB within %v (the store's timeout)", o.Timeout),
	}, nil
}

// withTimeout returns ctx bounded by the store's timeout.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout, s.timedOut)
}

// Close disconnects the client that [Driver.Open] built from the url
// option. A store made with [New], or opened with a client, leaves the
// client connected: its owner closes it. Close is safe to call more than
// once.
func (s *Store) Close() error { return s.owned.Close() }

// Server error codes that mean the TTL index cannot be had.
var (
	ttlUnsupportedCodes = []int{
		238, // NotImplemented: FerretDB v1, among others
		115, // CommandNotSupported
		67,  // CannotCreateIndex
		72,  // InvalidOptions
		197, // InvalidIndexSpecificationOption
	}
	indexConflictCodes = []int{
		85, // IndexOptionsConflict: an index on the same key exists with other options or another name
		86, // IndexKeySpecsConflict
	}
)

// CreateIndexes creates the index on user, by which [Store.UserRecords]
// finds a user's sessions, and the TTL index on expires_at
// (expireAfterSeconds 0), by which the server deletes expired sessions
// about once a minute. It does nothing for an index that exists already.
//
// A server that cannot create it, because it does not implement TTL
// indexes (such as FerretDB v1, which answers NotImplemented, code 238) or
// because an index on expires_at exists already with other options, does
// not fail it: CreateIndexes logs one warning through Options.Logger, makes
// a plain index on expires_at where there is none so that [Store.Sweep]
// stays cheap, and returns nil. Expired sessions are never served either
// way; without the TTL index they stay stored until Sweep deletes them.
// Other errors (the server is down, the user may not create indexes) are
// returned.
func (s *Store) CreateIndexes(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	iv := s.coll.Indexes()
	if _, err := iv.CreateOne(ctx, gomongo.IndexModel{Keys: bson.D{{Key: fieldUser, Value: 1}}}); err != nil {
		if !hasCode(err, indexConflictCodes...) {
			err = sessionplus.ContextError(ctx, err)
			return &wrapped{msg: "mongo: creating the index on user (set create_indexes to false to skip it): " + err.Error(), err: err}
		}
		// An index of the application's own named user_1, or one on user
		// under another name: the listing uses it if it is on user.
		s.logger.LogAttrs(ctx, slog.LevelWarn,
			"mongo: an index that conflicts with the store's index on user exists already, so the store made none: "+
				"the listings of a user's sessions use it if it is on user alone, or scan the collection",
			slog.String("db", s.coll.Database().Name()),
			slog.String("collection", s.coll.Name()),
			slog.String("error", err.Error()))
	}
	_, err := iv.CreateOne(ctx, gomongo.IndexModel{
		Keys:    bson.D{{Key: fieldExpires, Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(0),
	})
	if err == nil {
		return nil
	}
	var reason string
	switch {
	case hasCode(err, ttlUnsupportedCodes...):
		reason = "the server does not support TTL indexes"
		// A plain index instead, for the range scan of Sweep.
		if _, perr := iv.CreateOne(ctx, gomongo.IndexModel{Keys: bson.D{{Key: fieldExpires, Value: 1}}}); perr != nil {
			reason += "; the plain index on expires_at failed too: " + perr.Error()
		}
	case hasCode(err, indexConflictCodes...):
		reason = "an index on expires_at exists already with other options (drop it, or give it expireAfterSeconds: 0 with collMod)"
	default:
		err = sessionplus.ContextError(ctx, err)
		return &wrapped{msg: "mongo: creating the TTL index on expires_at (set create_indexes to false to skip it): " + err.Error(), err: err}
	}
	s.logger.LogAttrs(ctx, slog.LevelWarn,
		"mongo: no TTL index on expires_at: expired sessions are never served, but stay stored until Store.Sweep deletes them",
		slog.String("reason", reason),
		slog.String("db", s.coll.Database().Name()),
		slog.String("collection", s.coll.Name()),
		slog.String("error", err.Error()))
	return nil
}

// hasCode reports whether err is a server error with one of codes.
func hasCode(err error, codes ...int) bool {
	var se gomongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.HasErrorCode(c) {
			return true
		}
	}
	return false
}

// Sweep deletes every session whose expiry has passed and returns how many
// it deleted. A server with the TTL index does this by itself; call Sweep
// periodically (say every few minutes, from one instance of the app) on a
// server without TTL indexes, such as FerretDB. Sweep never deletes a live
// session. Unlike the other operations, it is bounded by ctx only, not by
// the store's timeout: one sweep may delete many documents.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: fieldExpires, Value: bson.D{{Key: "$lte", Value: time.Now()}}}})
	if err != nil {
		return 0, &wrapped{msg: "mongo: sweep: " + err.Error(), err: err}
	}
	return res.DeletedCount, nil
}

// wrapped is an error of the driver around one of the MongoDB driver: its
// message is the driver's own, with the token and URL password left out,
// and it unwraps to the original for errors.Is and errors.As.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }
