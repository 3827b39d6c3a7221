// Package redis is the Redis session driver, registered as session_type
// "redis" ([Name]). It keeps each server-side session in one Redis hash, and
// works with a single server, a Redis Cluster and a Sentinel-managed
// (failover) setup through go-redis's UniversalClient
// ([github.com/redis/go-redis/v9]).
//
// Importing the package for its side effect registers the driver:
//
//	import _ "github.com/sessionplus/sessionplus/drivers/redis"
//
// A session then selects it with a live client, or with a URL or addresses
// for a configuration that lives in a file:
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
//	sessionplus.Options{"cookie_name": "session", "session_type": "redis", "client": rdb}
//	sessionplus.Options{"cookie_name": "session", "session_type": "redis", "url": "redis://localhost:6379/0"}
//
// Code that imports go-redis too names one of the two packages, for example
// goredis "github.com/redis/go-redis/v9".
//
// # Options
//
// Exactly one of client, url and addrs is required; any other key that is
// not a common one is rejected.
//
//   - client (goredis.UniversalClient, no default): a live client: a
//     *goredis.Client, a *goredis.ClusterClient, or a failover client from
//     goredis.NewFailoverClient. The store never closes it. Build it with
//     ContextTimeoutEnabled: without it go-redis ignores the request's
//     deadline and the store's timeout for its network calls, which then
//     wait up to the client's ReadTimeout and WriteTimeout (5s each by
//     default) per attempt; Open logs a warning for such a client.
//     username, password, db and master_name do not apply: configure the
//     client.
//   - url (string, no default): "redis://[user:password@]host:port[/db]",
//     or "rediss://..." for TLS, parsed by goredis.ParseURL, which also
//     takes client settings as query parameters (dial_timeout,
//     read_timeout, write_timeout, max_retries, pool_size, ...).
//   - addrs ([]string, no default): "host:port" addresses. One address is a
//     single server; several are nodes of a Redis Cluster (the others are
//     discovered); with master_name they are the Sentinels' addresses.
//   - master_name (string, default ""): with addrs, the name of the master
//     that the Sentinels monitor; the client follows failovers.
//   - username (string, default ""): the ACL user, with url (it replaces
//     the URL's) or addrs.
//   - password (string, default ""): the password of the data servers, with
//     url (it replaces the URL's) or addrs. Sentinels that require a password
//     of their own need a client passed in client.
//   - db (int, default 0 or the URL's): the database number, with url or
//     addrs. A Redis Cluster has only database 0.
//   - timeout (duration: a time.Duration, a string such as "5s", or whole
//     seconds; default 5s, [DefaultTimeout]): the longest any one
//     operation of the store may take (Load, Save, Delete, and Open's ping
//     and each of its script loads). An operation ends at the earlier of
//     the caller's deadline and this bound, for a client passed in (built
//     with ContextTimeoutEnabled) as for one built from url or addrs: a
//     request's context often has no deadline, and a server that never
//     answers would otherwise hold every request. It must be positive.
//
// Open pings the server once, so that a wrong address or password fails at
// startup. A client that the driver builds from url or addrs has
// ContextTimeoutEnabled set, so that the timeout bounds its network calls;
// its dial, read and write timeouts are the store's timeout unless the URL
// sets them. It keeps go-redis's retries (max_retries, 3 by default),
// which cannot outlast the timeout: go-redis waits for a retry with the
// operation's context and gives up when it ends. It is closed when the
// [sessionplus.Manager] is closed.
//
// The common keys of a server-side session are read by the root package:
// key_prefix (default "session"), hash_ids, use_signer, session_lifetime,
// session_permanent_lifetime and the cookie_* keys; see [sessionplus.Options].
//
// # Storage layout
//
// A session is one hash under key_prefix + ":" + a hash of the session id
// (the root package hashes ids by default, so the keys in Redis are not
// usable session ids). Each session field is one hash field holding the
// field's encoded value, and the reserved field "\x00expiry" (no session
// field name can hold a NUL byte) holds the expiry in Unix milliseconds.
// Every operation is one round trip, also when it finds no record:
//
//   - load: HGETALL;
//   - a new session, or a new id (a Create): DEL, HSET of every field and
//     PEXPIREAT in one MULTI/EXEC;
//   - a change (a Write): a Lua script (EVALSHA) that, if the record is
//     live, HDELs only the removed fields, HSETs only the changed ones and
//     moves the expiry, so that two requests that change different fields
//     of one session both land;
//   - a keep-alive of an unchanged session (a Touch): a Lua script that, if
//     the record is live, moves its expiry (the field and PEXPIREAT)
//     without reading it;
//   - delete: DEL.
//
// Open loads the scripts with SCRIPT LOAD. A server that lost them (a
// restart, SCRIPT FLUSH, a failover) costs one more round trip the first
// time each runs there: EVALSHA fails and EVAL sends the script. So does
// the first run of each on a store from [New], which does not load them.
//
// # Expiry
//
// Each key gets PEXPIREAT at the session's absolute expiry, so Redis removes
// it by itself. The expiry is also kept in the hash, by the clock of the
// application, which set it: Load returns it, and the root package does not
// serve a record past it, even if Redis's clock is behind and the key is
// still there. The scripts test it too: a record is live while its stored
// expiry is ahead of the application's clock. A Write or Touch of a record
// that is not live (no key, a key past its stored expiry, a hash the store
// did not write) changes nothing and returns an error wrapping
// [sessionplus.ErrNotFound]; the test and the change are one script, so a
// request in flight can neither revive an expired session nor bring back
// one that a log-out deleted an instant before.
//
// # Cluster and Sentinel
//
// A session is one key, so every command, MULTI/EXEC and script touches one
// hash slot and runs unchanged on a Redis Cluster. Keep braces out of
// key_prefix: a hash tag such as "{app}" would put every session in the same
// slot, on one node. With Sentinel, give the Sentinels' addresses in addrs
// and the master's name in master_name, or pass a failover client.
//
// # Errors
//
// A token with no record gives an error wrapping [sessionplus.ErrNotFound]:
// a Load that finds no hash (or one without a valid expiry field), a Write
// or Touch that finds no live record, a Delete whose DEL removed nothing
// (goredis.Nil, the client's own not-found answer, also becomes
// ErrNotFound). Every other failure (the server down or too slow, a key of
// another type) is returned as "redis: <command>: <cause>" and never passes
// for a missing session. An operation that ran out of time (the caller's
// deadline, or the store's timeout) fails with an error that is errors.Is
// context.DeadlineExceeded (context.Canceled where the caller canceled),
// whatever go-redis made of it; the store's timeout says so: "no answer
// from Redis within 5s (the store's timeout)". A command that timed out may
// still have been applied by the server. Redis's and the client's errors
// never quote a key, so errors do not contain the token.
//
// # Typed constructor
//
// [New] builds a store from a client without the registry; the session
// then takes it under the common key store:
//
//	st := redis.New(rdb, &redis.Options{Timeout: 2 * time.Second}) // nil: the defaults
//	sessionplus.Options{"cookie_name": "session", "session_type": "redis", "store": st}
//
// # go-redis's own log lines
//
// go-redis logs some failures itself, outside the errors it returns (a
// failed dial: "redis: connection pool: failed to dial after 5 attempts:
// ..."), to standard error by default, through a logger global to the
// process that no store can set for itself. Route them to the application's
// slog logger once at startup with
//
//	goredis.SetLogger(redis.SlogLogger(logger))
//
// (see [ClientLogger]).
package redis
