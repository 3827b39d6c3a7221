package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionplus/sessionplus"
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
// closes it; a client passed in is never closed.
func (Driver) Open(ctx context.Context, opts sessionplus.Options) (sessionplus.Store, error) {
	var o options
	if err := sessionplus.DecodeOptions(opts, &o); err != nil {
		return nil, err
	}
	timeout := DefaultTimeout
	if o.Timeout != nil {
		if *o.Timeout <= 0 {
			return nil, sessionplus.ConfigErrorf(`key "timeout": expected a positive duration such as "5s", got %v`, *o.Timeout)
		}
		timeout = *o.Timeout
	}
	client, where, err := o.client(opts, timeout)
	if err != nil {
		return nil, err
	}
	if enabled, known := contextTimeoutEnabled(client); o.Client != nil && known && !enabled {
		opts.Logger().LogAttrs(ctx, slog.LevelWarn,
			"redis: the client passed in has ContextTimeoutEnabled false: go-redis then ignores the store's timeout "+
				"and the request's deadline while it waits for the network (up to its ReadTimeout and WriteTimeout per attempt); "+
				"build the client with ContextTimeoutEnabled: true",
			slog.String("session", opts.CookieName()))
	}
	s := New(client, &Options{Timeout: timeout})
	s.owned = o.Client == nil
	pctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.client.Ping(pctx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("redis: cannot reach the server%s: PING: %w", where, sessionplus.ContextError(pctx, err))
	}
	// Load the scripts now, so that the first Write or Touch is one round
	// trip too. Best effort: a server that refuses SCRIPT LOAD still runs
	// them, with EVAL the first time.
	for _, sc := range []*goredis.Script{writeScript, touchScript} {
		sctx, cancel := s.withTimeout(ctx)
		sc.Load(sctx, s.client)
		cancel()
	}
	return s, nil
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

// client returns the client the options describe and, for a client built
// here, " at <addresses>" for errors. opts is the undecoded map, to tell a
// key that is set from one that is absent. A client built here has
// ContextTimeoutEnabled, so that the store's timeout bounds its network
// calls, and its dial, read and write timeouts default to timeout.
func (o *options) client(opts sessionplus.Options, timeout time.Duration) (goredis.UniversalClient, string, error) {
	has := func(key string) bool { return opts[key] != nil }
	var given []string
	for _, k := range []string{"client", "url", "addrs"} {
		if has(k) {
			given = append(given, strconv.Quote(k))
		}
	}
	switch len(given) {
	case 0:
		return nil, "", sessionplus.ConfigErrorf(`one of the keys "client", "url" or "addrs" is required`)
	case 1:
	default:
		return nil, "", sessionplus.ConfigErrorf(`keys %s: give only one of "client", "url" or "addrs"`, strings.Join(given, " and "))
	}
	if o.DB != nil && *o.DB < 0 {
		return nil, "", sessionplus.ConfigErrorf(`key "db": expected a database number of 0 or more, got %d`, *o.DB)
	}

	if has("client") {
		if v := reflect.ValueOf(o.Client); v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, "", sessionplus.ConfigErrorf(`key "client": got a nil %T`, o.Client)
		}
		for _, k := range []string{"master_name", "username", "password", "db"} {
			if has(k) {
				return nil, "", sessionplus.ConfigErrorf(`key %q: applies only with "url" or "addrs"; configure the client passed in "client" instead`, k)
			}
		}
		return o.Client, "", nil
	}

	if has("url") {
		if has("master_name") {
			return nil, "", sessionplus.ConfigErrorf(`key "master_name": applies only with "addrs" (the sentinels' addresses)`)
		}
		if o.URL == "" {
			return nil, "", sessionplus.ConfigErrorf(`key "url": expected a redis:// or rediss:// URL, got an empty string`)
		}
		ro, err := goredis.ParseURL(o.URL)
		if err != nil {
			// A *url.Error quotes the whole URL, password included: keep
			// only its cause.
			if ue := (*url.Error)(nil); errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, "", sessionplus.ConfigErrorf(`key "url": expected a redis:// or rediss:// URL: %v`, err)
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

	if len(o.Addrs) == 0 {
		return nil, "", sessionplus.ConfigErrorf(`key "addrs": expected at least one "host:port" address`)
	}
	for _, a := range o.Addrs {
		if a == "" || strings.ContainsAny(a, " \t\r\n,/") {
			return nil, "", sessionplus.ConfigErrorf(`key "addrs": expected "host:port" addresses, got %q`, a)
		}
	}
	if o.MasterName == "" && len(o.Addrs) > 1 && o.DB != nil && *o.DB != 0 {
		return nil, "", sessionplus.ConfigErrorf(`key "db": several addrs make a Redis Cluster client, and a cluster has only database 0`)
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

var _ sessionplus.Store = (*Store)(nil)

// expiryField is the hash field that holds a record's expiry, in Unix
// milliseconds. The root package never gives a field a name with a NUL
// byte, so it cannot collide with a session's fields.
const expiryField = "\x00expiry"

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

// Store is a [sessionplus.Store] that keeps each session in one Redis hash.
// It is safe for concurrent use.
type Store struct {
	client   goredis.UniversalClient
	owned    bool // the driver built the client, so Close closes it
	timeout  time.Duration
	timedOut error // the cause of a context ended by the timeout
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

// Close closes the client if the driver built it from url or addrs; a
// client passed in is left open.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	if err := s.client.Close(); err != nil {
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
	delete(m, expiryField)
	values := make(map[string][]byte, len(m))
	for name, v := range m {
		values[name] = []byte(v)
	}
	return sessionplus.Record{Values: values, Expiry: time.UnixMilli(ms)}, nil
}

// Save applies u to the record under token, as [sessionplus.Kind]
// describes, in one round trip, and returns token:
//
//   - [sessionplus.Create] is DEL, HSET of every field and PEXPIREAT in one
//     MULTI/EXEC;
//   - [sessionplus.Write] is a script that, if the record is live, HDELs
//     and HSETs only the fields in u and moves the expiry;
//   - [sessionplus.Touch] is a script that, if the record is live, moves
//     its expiry.
//
// A record is live if its hash holds an expiry that is still ahead of the
// application's clock. A Write or Touch of a record that is not live changes
// nothing and returns [sessionplus.ErrNotFound]: the check and the change
// are one script, so a log-out that deletes the record in between cannot be
// undone by a request still in flight.
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	expArg := strconv.FormatInt(u.Expiry.UnixMilli(), 10)
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()

	switch u.Kind {
	case sessionplus.Create:
		// The expiry field goes last: HSET keeps the last value of a field
		// named twice, so no field of u can stand in for it.
		args := make([]any, 0, 2*len(u.Set)+2)
		for name, v := range u.Set {
			args = append(args, name, v)
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

	case sessionplus.Write:
		args := make([]any, 0, 4+2*len(u.Set)+len(u.Del))
		args = append(args, expiryField, expArg, time.Now().UnixMilli(), len(u.Set))
		for name, v := range u.Set {
			args = append(args, name, v)
		}
		for _, name := range u.Del {
			args = append(args, name)
		}
		live, err := writeScript.Run(ctx, s.client, []string{token}, args...).Bool()
		if err != nil {
			return "", wrap(ctx, "write script", err)
		}
		if !live {
			return "", sessionplus.ErrNotFound
		}

	case sessionplus.Touch:
		live, err := touchScript.Run(ctx, s.client, []string{token}, expiryField, expArg, time.Now().UnixMilli()).Bool()
		if err != nil {
			return "", wrap(ctx, "touch script", err)
		}
		if !live {
			return "", sessionplus.ErrNotFound
		}

	default:
		return "", fmt.Errorf("redis: unknown kind of save %v", u.Kind)
	}
	return token, nil
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

// The scripts get the key in KEYS[1] and, from ARGV, the expiry field's
// name, the new expiry and the current time (both in Unix milliseconds).
// A record is live while its stored expiry is after now, by the clock of the
// application, which set it: a hash that Redis still holds past that expiry
// (its clock behind the application's) is not live. Every value is passed
// as an argument, so the scripts are deterministic. Each returns 1 if it
// changed the live record, and 0 if there was none, having changed nothing.
// Fields are written one command at a time rather than unpacked into one
// HSET, whose argument count Lua's stack would limit.

// touchScript moves the expiry of a live record.
var touchScript = goredis.NewScript(`
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if old == nil or old <= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
`)

// writeScript is a field-level write to a live record. ARGV[4] is the number
// n of fields to set; ARGV[5 .. 4+2n] are their names and values, and the
// rest of ARGV names the fields to delete. The expiry field is written last,
// so that no field of the update can stand in for it.
var writeScript = goredis.NewScript(`
local key = KEYS[1]
local old = tonumber(redis.call('HGET', key, ARGV[1]))
if old == nil or old <= tonumber(ARGV[3]) then
  return 0
end
local last = 4 + 2 * tonumber(ARGV[4])
for i = last + 1, #ARGV do
  redis.call('HDEL', key, ARGV[i])
end
for i = 5, last, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
end
redis.call('HSET', key, ARGV[1], ARGV[2])
redis.call('PEXPIREAT', key, ARGV[2])
return 1
`)
