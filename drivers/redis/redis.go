package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/owned"
)

// Name is the session_type under which the driver registers.
const Name = "redis"

// DefaultTimeout bounds each operation of a [Store] by default (see
// [Options.Timeout]).
const DefaultTimeout = 5 * time.Second

func init() { sessionplus.Register(Name, Driver{}) }

// Driver opens Redis stores from a session's options. It is registered
// under [Name]; see the package documentation for the options.
type Driver struct{}

// options are the driver-specific keys of a redis session.
type options struct {
	Client     goredis.UniversalClient `mapstructure:"client"`
	URL        string                  `mapstructure:"url"`
	Addrs      []string                `mapstructure:"addrs"`
	MasterName string                  `mapstructure:"master_name"`
	Username   string                  `mapstructure:"username"`
	Password   string                  `mapstructure:"password"`
	DB         *int                    `mapstructure:"db"`
	Timeout    *time.Duration          `mapstructure:"timeout"`
}

// Open returns a [Store] for one session. It builds a client from url or
// addrs, or uses the one passed in client, and pings the server once, so
// that a wrong address fails at startup; the ping and the loading of the
// scripts are each bounded by the store's timeout, as every operation of
// the store is. The store closes a client it built when the session manager
// closes it; a client passed in is never closed. A client passed in without
// ContextTimeoutEnabled gets a warning, logged to cfg.Logger (nil:
// slog.Default()).
func (Driver) Open(ctx context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var o options
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	timeout := DefaultTimeout
	if o.Timeout != nil {
		timeout = *o.Timeout
	}
	client, where, err := o.client(timeout)
	if err != nil {
		return nil, err
	}
	if enabled, known := contextTimeoutEnabled(client); o.Client != nil && known && !enabled {
		logger := cfg.Logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.LogAttrs(ctx, slog.LevelWarn,
			"redis: the client passed in has ContextTimeoutEnabled false: go-redis then ignores the store's timeout "+
				"and the request's deadline while it waits for the network (up to its ReadTimeout and WriteTimeout per attempt); "+
				"build the client with ContextTimeoutEnabled: true",
			slog.String("session", cfg.Name))
	}
	s := New(client, &Options{Timeout: timeout})
	if o.Client == nil {
		s.owned.Own(client.Close)
	}
	pctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.client.Ping(pctx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("redis: cannot reach the server%s: PING: %w", where, sessionplus.ContextError(pctx, err))
	}
	// Load the scripts now, so that the first Write or Touch is one round
	// trip too. Best effort: a server that refuses SCRIPT LOAD still runs
	// them, with EVAL the first time.
	for _, sc := range []*goredis.Script{saveScript, indexScript} {
		sctx, cancel := s.withTimeout(ctx)
		sc.Load(sctx, s.client)
		cancel()
	}
	return s, nil
}

// Validate checks what decoding cannot: a positive timeout, exactly one of
// client, url and addrs, and the keys that go with each. It contacts
// nothing. cfg.Options is the undecoded map, to tell a key that is set from
// one that is absent.
func (o *options) Validate(cfg sessionplus.DriverConfig) error {
	has := func(key string) bool { return cfg.Options[key] != nil }
	if o.Timeout != nil && *o.Timeout <= 0 {
		return sessionplus.ConfigErrorf(`key "timeout": expected a positive duration such as "5s", got %v`, *o.Timeout)
	}
	var given []string
	for _, k := range []string{"client", "url", "addrs"} {
		if has(k) {
			given = append(given, strconv.Quote(k))
		}
	}
	switch len(given) {
	case 0:
		return sessionplus.ConfigErrorf(`one of the keys "client", "url" or "addrs" is required`)
	case 1:
	default:
		return sessionplus.ConfigErrorf(`keys %s: give only one of "client", "url" or "addrs"`, strings.Join(given, " and "))
	}
	if o.DB != nil && *o.DB < 0 {
		return sessionplus.ConfigErrorf(`key "db": expected a database number of 0 or more, got %d`, *o.DB)
	}

	if has("client") {
		if v := reflect.ValueOf(o.Client); v.Kind() == reflect.Pointer && v.IsNil() {
			return sessionplus.ConfigErrorf(`key "client": got a nil %T`, o.Client)
		}
		for _, k := range []string{"master_name", "username", "password", "db"} {
			if has(k) {
				return sessionplus.ConfigErrorf(`key %q: applies only with "url" or "addrs"; configure the client passed in "client" instead`, k)
			}
		}
		return nil
	}

	if has("url") {
		if has("master_name") {
			return sessionplus.ConfigErrorf(`key "master_name": applies only with "addrs" (the sentinels' addresses)`)
		}
		_, err := parseURL(o.URL)
		return err
	}

	if len(o.Addrs) == 0 {
		return sessionplus.ConfigErrorf(`key "addrs": expected at least one "host:port" address`)
	}
	for _, a := range o.Addrs {
		if a == "" || strings.ContainsAny(a, " \t\r\n,/") {
			return sessionplus.ConfigErrorf(`key "addrs": expected "host:port" addresses, got %q`, a)
		}
	}
	if o.MasterName == "" && len(o.Addrs) > 1 && o.DB != nil && *o.DB != 0 {
		return sessionplus.ConfigErrorf(`key "db": several addrs make a Redis Cluster client, and a cluster has only database 0`)
	}
	return nil
}

// parseURL parses the url key, which must not be empty. Its error names
// the key and leaves out the URL, which may hold a password.
func parseURL(raw string) (*goredis.Options, error) {
	if raw == "" {
		return nil, sessionplus.ConfigErrorf(`key "url": expected a redis:// or rediss:// URL, got an empty string`)
	}
	ro, err := goredis.ParseURL(raw)
	if err != nil {
		// A *url.Error quotes the whole URL, password included: keep
		// only its cause.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, sessionplus.ConfigErrorf(`key "url": expected a redis:// or rediss:// URL: %v`, err)
	}
	return ro, nil
}

// contextTimeoutEnabled reports whether client has ContextTimeoutEnabled
// set, where its type tells (known).
func contextTimeoutEnabled(client goredis.UniversalClient) (enabled, known bool) {
	switch c := client.(type) {
	case *goredis.Client: // a failover client too
		return c.Options().ContextTimeoutEnabled, true
	case *goredis.ClusterClient:
		return c.Options().ContextTimeoutEnabled, true
	}
	return false, false
}

// client returns the client the options, which Validate accepted,
// describe and, for a client built here, " at <addresses>" for errors. A
// client built here has ContextTimeoutEnabled, so that the store's timeout
// bounds its network calls, and its dial, read and write timeouts default
// to timeout.
func (o *options) client(timeout time.Duration) (goredis.UniversalClient, string, error) {
	if o.Client != nil {
		return o.Client, "", nil
	}

	if o.URL != "" {
		ro, err := parseURL(o.URL)
		if err != nil {
			return nil, "", err
		}
		if o.Username != "" {
			ro.Username = o.Username
		}
		if o.Password != "" {
			ro.Password = o.Password
		}
		if o.DB != nil {
			ro.DB = *o.DB
		}
		ro.ContextTimeoutEnabled = true
		// Timeouts the URL leaves out (dial_timeout, read_timeout,
		// write_timeout) are the store's: go-redis's own are 5s each.
		for _, d := range []*time.Duration{&ro.DialTimeout, &ro.ReadTimeout, &ro.WriteTimeout} {
			if *d == 0 {
				*d = timeout
			}
		}
		return goredis.NewClient(ro), " at " + ro.Addr, nil
	}

	uo := &goredis.UniversalOptions{
		Addrs:                 o.Addrs,
		MasterName:            o.MasterName,
		Username:              o.Username,
		Password:              o.Password,
		ContextTimeoutEnabled: true,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
	}
	if o.DB != nil {
		uo.DB = *o.DB
	}
	return goredis.NewUniversalClient(uo), " at " + strings.Join(o.Addrs, ","), nil
}

var (
	_ sessionplus.Store            = (*Store)(nil)
	_ sessionplus.UserIndex        = (*Store)(nil)
	_ sessionplus.KeyPrefixChecker = (*Store)(nil)
)

// The driver's own hash fields. The root package gives no field a name
// with a NUL byte but "\x00meta", its own, so they cannot collide with a
// session's fields. The scripts spell them out ('\0expiry', ...).
const (
	// expiryField holds a record's expiry, in Unix milliseconds.
	expiryField = "\x00expiry"
	// userField holds the user key of a record indexed under a user.
	userField = "\x00user"
	// deadlineField holds, with userField, the index deadline the record
	// was last given in its user's index (see indexDeadline).
	deadlineField = "\x00ixd"
)

// errMalformed is the error of a hash with no valid expiry field: the store
// did not write it, so it is no session.
var errMalformed = fmt.Errorf("%w (the record has no valid expiry)", sessionplus.ErrNotFound)

// Options configures a [Store] made with [New]. A nil *Options means the
// defaults.
type Options struct {
	// Timeout bounds each operation of the store (Load, Save, Delete), on
	// top of the deadline of the context it is given: a request's context
	// often has none, and a server that never answers would otherwise hold
	// every request. It bounds the network calls only of a client built
	// with ContextTimeoutEnabled. Default [DefaultTimeout] (5s); it must not
	// be negative.
	Timeout time.Duration
}

// Store is a [sessionplus.Store] that keeps each session in one Redis hash,
// and a [sessionplus.UserIndex] that keeps the sessions of each user in one
// sorted set (see "Users' sessions" in the package documentation). It is
// safe for concurrent use.
type Store struct {
	client   goredis.UniversalClient
	owned    owned.Client // the client the driver built, which Close closes
	timeout  time.Duration
	timedOut error // the cause of a context ended by the timeout

	// prefixes are the key prefixes whose users' indexes UserRecords
	// reads: those of CheckKeyPrefix and of every token indexed.
	mu       sync.RWMutex
	prefixes map[string]bool
}

// New returns a store that uses client, which may be a *goredis.Client, a
// *goredis.ClusterClient or a failover (sentinel) client; opts may be nil
// for the defaults. The store never closes client. Each operation is bounded
// by the shorter of its context's deadline and opts.Timeout, but go-redis
// honours a context's deadline in its network calls only when client is
// built with ContextTimeoutEnabled set: build it so. New does not talk to
// the server, so it does not load the scripts as [Driver.Open] does: the
// first write and the first keep-alive of a store from New take one more
// round trip each, to send the script. New panics if client is nil or
// opts.Timeout is negative.
func New(client goredis.UniversalClient, opts *Options) *Store {
	if client == nil {
		panic("redis: New called with a nil client")
	}
	timeout := DefaultTimeout
	if opts != nil {
		switch {
		case opts.Timeout < 0:
			panic(fmt.Sprintf("redis: New called with a negative Options.Timeout (%v)", opts.Timeout))
		case opts.Timeout > 0:
			timeout = opts.Timeout
		}
	}
	return &Store{
		client:   client,
		timeout:  timeout,
		timedOut: fmt.Errorf("no answer from Redis within %v (the store's timeout)", timeout),
	}
}

// withTimeout returns ctx bounded by the store's timeout.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout, s.timedOut)
}

// Close closes the client if the driver built it from url or addrs, once:
// a second Close returns the first one's result. A client passed in is
// left open.
func (s *Store) Close() error {
	if err := s.owned.Close(); err != nil {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// Load returns the record stored under token, in one round trip (HGETALL).
// A token with no hash, or whose hash has no valid expiry field, gives an
// error wrapping [sessionplus.ErrNotFound]. The record is returned with its
// stored expiry, which the root package checks.
func (s *Store) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	m, err := s.client.HGetAll(ctx, token).Result()
	if err != nil {
		return sessionplus.Record{}, wrap(ctx, "HGETALL", err)
	}
	if len(m) == 0 {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	ms, err := strconv.ParseInt(m[expiryField], 10, 64)
	if err != nil {
		return sessionplus.Record{}, errMalformed
	}
	return record(m, ms), nil
}

// record returns the record of hash m, whose expiry is ms, without the
// driver's own fields.
func record(m map[string]string, ms int64) sessionplus.Record {
	values := make(map[string][]byte, len(m))
	for name, v := range m {
		switch name {
		case expiryField, userField, deadlineField:
		default:
			values[name] = []byte(v)
		}
	}
	return sessionplus.Record{Values: values, Expiry: time.UnixMilli(ms)}
}

// Save applies u to the record under token, as [sessionplus.Kind]
// describes, and returns token. A save that leaves the record's user as it
// is takes one round trip:
//
//   - [sessionplus.Create] is DEL, HSET of every field and PEXPIREAT in one
//     MULTI/EXEC;
//   - [sessionplus.Write] is a script that, if the record is live, HDELs
//     and HSETs only the fields in u and moves the expiry;
//   - [sessionplus.Touch] is the same script, with no fields.
//
// A record is live if its hash holds an expiry that is still ahead of the
// application's clock. A Write or Touch of a record that is not live changes
// nothing and returns [sessionplus.ErrNotFound]: the check and the change
// are one script, so a log-out that deletes the record in between cannot be
// undone by a request still in flight.
//
// A Create with a user, and a Write with SetUser to a user, first add the
// token to the user's index and then write the record: two round trips.
// About once per lifetime of a session kept alive, the script finds that
// the record's new expiry passes its index deadline and returns the
// record's user, and Save moves the token's deadline in that user's index:
// one more round trip (see "Users' sessions" in the package
// documentation).
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	switch u.Kind {
	case sessionplus.Create, sessionplus.Write, sessionplus.Touch:
	default:
		return "", fmt.Errorf("redis: unknown kind of save %v", u.Kind)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	now := time.Now().UnixMilli()
	expArg := strconv.FormatInt(u.Expiry.UnixMilli(), 10)
	deadline := indexDeadline(u.Expiry.UnixMilli(), now)
	setsUser := u.Kind == sessionplus.Create || (u.Kind == sessionplus.Write && u.SetUser)
	if setsUser && u.User != "" {
		// The index first, then the record: a failure in between leaves
		// at most an entry whose record is not the user's, which
		// UserRecords passes over and which goes at its deadline. The
		// other order could leave a record of the user that RevokeUser
		// does not find.
		if err := s.index(ctx, token, u.User, deadline, now); err != nil {
			return "", err
		}
	}

	if u.Kind == sessionplus.Create {
		// The driver's fields go last: HSET keeps the last value of a
		// field named twice, so no field of u can stand in for them.
		args := make([]any, 0, 2*len(u.Set)+6)
		for name, v := range u.Set {
			args = append(args, name, v)
		}
		if u.User != "" {
			args = append(args, userField, u.User, deadlineField, deadline)
		}
		args = append(args, expiryField, expArg)
		_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Del(ctx, token)
			p.HSet(ctx, token, args...)
			p.PExpireAt(ctx, token, u.Expiry)
			return nil
		})
		if err != nil {
			return "", wrap(ctx, "MULTI DEL HSET PEXPIREAT", err)
		}
		return token, nil
	}

	userOp := "keep"
	switch {
	case setsUser && u.User != "":
		userOp = "set"
	case setsUser:
		userOp = "clear"
	}
	args := make([]any, 0, 6+2*len(u.Set)+len(u.Del))
	args = append(args, expArg, now, deadline, userOp, u.User, len(u.Set))
	for name, v := range u.Set {
		args = append(args, name, v)
	}
	for _, name := range u.Del {
		args = append(args, name)
	}
	res, err := saveScript.Run(ctx, s.client, []string{token}, args...).Result()
	if err != nil {
		return "", wrap(ctx, u.Kind.String()+" script", err)
	}
	switch res := res.(type) {
	case int64:
		if res == 0 {
			return "", sessionplus.ErrNotFound
		}
	case string:
		// The record's user, whose index must now hold the token until
		// the record's new deadline.
		if err := s.index(ctx, token, res, deadline, now); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("redis: %s script: unexpected reply of type %T", u.Kind, res)
	}
	return token, nil
}

// indexDeadline returns the deadline, in Unix milliseconds, until which a
// user's index keeps a record that expires at expiry: twice its remaining
// lifetime from now, so that keep-alives move it only about once per
// lifetime. Past it the entry is pruned.
func indexDeadline(expiry, now int64) int64 {
	if expiry <= now {
		return expiry
	}
	return expiry + (expiry - now)
}

// index makes the index of user hold token until at least deadline, in one
// round trip (indexScript), and prunes the entries whose deadline has
// passed.
func (s *Store) index(ctx context.Context, token, user string, deadline, now int64) error {
	prefix := tokenPrefix(token)
	s.learn(prefix)
	if err := indexScript.Run(ctx, s.client, []string{indexKey(prefix, user)}, token, deadline, now).Err(); err != nil {
		return wrap(ctx, "index script", err)
	}
	return nil
}

// UserRecords returns the live records of user, under every key prefix the
// store knows (see [Store.CheckKeyPrefix]): ZRANGEBYSCORE of the user's
// index under each prefix, pipelined, then HGETALL of every token found,
// pipelined. A Redis Cluster client sends each pipeline as one round trip
// per node, the nodes in parallel. A token whose record is gone, expired
// or no longer the user's is passed over; its entry goes at its deadline.
func (s *Store) UserRecords(ctx context.Context, user string) ([]sessionplus.UserRecord, error) {
	if user == "" {
		return nil, errors.New("redis: UserRecords: the user is empty")
	}
	prefixes := s.knownPrefixes()
	if len(prefixes) == 0 {
		return nil, nil
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	now := time.Now().UnixMilli()
	live := &goredis.ZRangeBy{Min: "(" + strconv.FormatInt(now, 10), Max: "+inf"}
	ranges := make([]*goredis.StringSliceCmd, len(prefixes))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, prefix := range prefixes {
			ranges[i] = p.ZRangeByScore(ctx, indexKey(prefix, user), live)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(ctx, "ZRANGEBYSCORE", err)
	}
	var tokens []string
	seen := make(map[string]bool)
	for i, r := range ranges {
		for _, tok := range r.Val() {
			if tokenPrefix(tok) == prefixes[i] && !seen[tok] {
				seen[tok] = true
				tokens = append(tokens, tok)
			}
		}
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	hashes := make([]*goredis.MapStringStringCmd, len(tokens))
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, tok := range tokens {
			hashes[i] = p.HGetAll(ctx, tok)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(ctx, "HGETALL", err)
	}
	var out []sessionplus.UserRecord
	for i, h := range hashes {
		m := h.Val()
		ms, err := strconv.ParseInt(m[expiryField], 10, 64)
		if err != nil || ms <= now || m[userField] != user {
			continue
		}
		out = append(out, sessionplus.UserRecord{Token: tokens[i], Record: record(m, ms)})
	}
	return out, nil
}

// CheckKeyPrefix accepts every key prefix, and remembers it: UserRecords
// reads the users' indexes under the prefixes of the sessions that use the
// store (the root package calls CheckKeyPrefix for each when it starts),
// and under the prefixes of the tokens the store has indexed.
func (s *Store) CheckKeyPrefix(prefix string) error {
	s.learn(prefix)
	return nil
}

// learn adds prefix to the prefixes whose indexes UserRecords reads.
func (s *Store) learn(prefix string) {
	s.mu.RLock()
	known := s.prefixes[prefix]
	s.mu.RUnlock()
	if known {
		return
	}
	s.mu.Lock()
	if s.prefixes == nil {
		s.prefixes = make(map[string]bool)
	}
	s.prefixes[prefix] = true
	s.mu.Unlock()
}

// knownPrefixes returns the prefixes learned, sorted.
func (s *Store) knownPrefixes() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.prefixes))
}

// tokenPrefix returns the key prefix of token, which the root package
// makes as key_prefix + ":" + 43 base64url characters: all before its
// last colon ("" for a token without one).
func tokenPrefix(token string) string {
	i := strings.LastIndexByte(token, ':')
	if i < 0 {
		return ""
	}
	return token[:i]
}

// indexKey returns the key of the index of user under prefix:
// prefix + ":user=" + the user with every byte but letters, digits and
// "-_.@+" escaped as %XX. The escaped user holds no colon, so no two pairs
// of a prefix and a user share a key, and the "=" keeps it apart from every
// record's key (a token holds no "=").
func indexKey(prefix, user string) string {
	var b strings.Builder
	b.Grow(len(prefix) + 6 + len(user))
	b.WriteString(prefix)
	b.WriteString(":user=")
	for i := 0; i < len(user); i++ {
		c := user[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.@+", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Delete removes the record under token with DEL. It returns
// [sessionplus.ErrNotFound] if DEL removed nothing.
func (s *Store) Delete(ctx context.Context, token string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	n, err := s.client.Del(ctx, token).Result()
	if err != nil {
		return wrap(ctx, "DEL", err)
	}
	if n == 0 {
		return sessionplus.ErrNotFound
	}
	return nil
}

// wrap adds the command that failed to a client error. Redis's errors and
// the client's never quote a key, so the token stays out of the message.
// goredis.Nil, the client's "no such key", becomes ErrNotFound; none of the
// commands used here returns it today. A failure once ctx, the operation's
// context, has ended is reported as ctx's error (see [sessionplus.ContextError]), whatever
// go-redis made of it (an i/o timeout, for one).
func wrap(ctx context.Context, cmd string, err error) error {
	if errors.Is(err, goredis.Nil) {
		return fmt.Errorf("redis: %s: %w", cmd, sessionplus.ErrNotFound)
	}
	return fmt.Errorf("redis: %s: %w", cmd, sessionplus.ContextError(ctx, err))
}

// saveScript is a Write or a Touch of a live record. KEYS[1] is the
// record; ARGV[1] is the new expiry and ARGV[2] the current time, both in
// Unix milliseconds by the clock of the application, which set the
// expiry: a hash that Redis still holds past it (its clock behind the
// application's) is not live. ARGV[3] is the record's index deadline (see
// indexDeadline); ARGV[4] says what becomes of its user: "set" to ARGV[5],
// "clear", or "keep". ARGV[6] is the number n of fields to set, ARGV[7 ..
// 6+2n] their names and values, and the rest of ARGV names the fields to
// delete (a Touch has none). Every value is an argument, so the script is
// deterministic. Fields are written one command at a time rather than
// unpacked into one HSET, whose argument count Lua's stack would limit;
// the driver's own fields go last, so that no field of the update can
// stand in for them.
//
// It returns 0 if there was no live record, having changed nothing; else
// 1, or, when it kept the record's user and the new expiry passes the
// deadline its user's index holds it until, the user: the record now has
// the deadline ARGV[3], which the caller must give it in that index.
var saveScript = goredis.NewScript(`
local key = KEYS[1]
local old = tonumber(redis.call('HGET', key, '\0expiry'))
if old == nil or old <= tonumber(ARGV[2]) then
  return 0
end
local last = 6 + 2 * tonumber(ARGV[6])
for i = last + 1, #ARGV do
  redis.call('HDEL', key, ARGV[i])
end
for i = 7, last, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
local ret = 1
if ARGV[4] == 'set' then
  redis.call('HSET', key, '\0user', ARGV[5])
  redis.call('HSET', key, '\0ixd', ARGV[3])
elseif ARGV[4] == 'clear' then
  redis.call('HDEL', key, '\0user', '\0ixd')
else
  local user = redis.call('HGET', key, '\0user')
  local ixd = tonumber(redis.call('HGET', key, '\0ixd'))
  if user and (ixd == nil or tonumber(ARGV[1]) > ixd) then
    redis.call('HSET', key, '\0ixd', ARGV[3])
    ret = user
  end
end
redis.call('HSET', key, '\0expiry', ARGV[1])
redis.call('PEXPIREAT', key, ARGV[1])
return ret
`)

// indexScript makes a user's index, KEYS[1], hold the token ARGV[1] until
// at least the deadline ARGV[2] (a deadline it holds already that is later
// is kept, so that two saves of one record that land out of order leave
// the later one). It first removes the entries whose deadline is not after
// ARGV[2], the current time, and last sets the key to expire at its latest
// deadline. It touches the index only, so it runs on a Redis Cluster,
// where a record and its user's index are in different hash slots.
var indexScript = goredis.NewScript(`
local idx = KEYS[1]
redis.call('ZREMRANGEBYSCORE', idx, '-inf', ARGV[3])
local old = tonumber(redis.call('ZSCORE', idx, ARGV[1]))
if old == nil or old < tonumber(ARGV[2]) then
  redis.call('ZADD', idx, ARGV[2], ARGV[1])
end
local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIREAT', idx, top[2])
end
return 1
`)
