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
// not a common one is rejected. These checks, and those of each key below
// (a url that does not parse, a timeout that is not positive, a key that
// does not go with client, ...), contact no server: [sessionplus.New]
// reports such a mistake before it opens any session's backend.
//
//   - client (goredis.UniversalClient, no default): a live client: a
//     *goredis.Client, a *goredis.ClusterClient, or a failover client from
//     goredis.NewFailoverClient. The store never closes it. Build it with
//     ContextTimeoutEnabled: without it go-redis ignores the request's
//     deadline and the store's timeout for its network calls, which then
//     wait up to the client's ReadTimeout and WriteTimeout (5s each by
//     default) per attempt; Open logs a warning for such a client, to
//     the session's logger ([sessionplus.DriverConfig.Logger], or
//     slog.Default() when the driver is opened directly).
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
// field name but the root package's own "\x00meta" can hold a NUL byte)
// holds the expiry in Unix milliseconds; a record indexed under a user also
// holds "\x00user" and "\x00ixd" (see "Users' sessions" below). Load
// returns none of the three. Every operation of a session whose user does
// not change is one round trip, also when it finds no record:
//
//   - load: HGETALL;
//   - a new session, or a new id (a Create): DEL, HSET of every field and
//     PEXPIREAT in one MULTI/EXEC;
//   - a change (a Write): a Lua script (EVALSHA) that, if the record is
//     live, HDELs only the removed fields, HSETs only the changed ones and
//     moves the expiry, so that two requests that change different fields
//     of one session both land;
//   - a keep-alive of an unchanged session (a Touch): the same script with
//     no fields, which, if the record is live, moves its expiry (the field
//     and PEXPIREAT);
//   - delete: DEL.
//
// Open loads the scripts (the save script and the index script below) with
// SCRIPT LOAD. A server that lost them (a restart, SCRIPT FLUSH, a
// failover) costs one more round trip the first time each runs there:
// EVALSHA fails and EVAL sends the script. So does the first run of each on
// a store from [New], which does not load them.
//
// # Users' sessions (UserIndex)
//
// The store implements [sessionplus.UserIndex], so that a manager with a
// Config.UserField can list and revoke every session of a user
// (Manager.UserSessions, Manager.RevokeUser, Manager.RevokeSession,
// Session.RevokeOthers).
//
// The index of a user is a sorted set under the key prefix of the user's
// records: key_prefix + ":user=" + the user, with every byte but letters,
// digits and "-_.@+" escaped as %XX (so "42" is "session:user=42" and
// "a:b" is "session:user=a%3Ab"). Its members are the storage keys of the
// user's records; the score of each is its index deadline, in Unix
// milliseconds, a time no earlier than the record's expiry. A record
// indexed under a user holds the user in its hash field "\x00user" and the
// deadline it was given in "\x00ixd". Every change of an index is one Lua
// script on the index key alone (a record and its user's index are in
// different hash slots of a Redis Cluster, so no script can touch both):
// it removes the entries whose deadline has passed, adds or moves the one
// entry (never to an earlier deadline), and sets the key to expire at its
// latest deadline. An index therefore holds only entries of records that
// may still be live or that ended less than about a lifetime ago, and
// expires with the last of them.
//
// A record's deadline is its expiry plus its remaining lifetime (twice the
// lifetime from now), so that keep-alives move it rarely. What each save
// costs:
//
//   - a login (a Create with a user, or a Write that changes the user): the
//     index script first, then the record: two round trips;
//   - a Write or Touch that keeps the user: the save script alone, one
//     round trip, as without the index. Only when the record's new expiry
//     passes its deadline, which happens about once per lifetime of a
//     session that is kept alive, does the script give it a new deadline
//     and return its user, and the store send that user's index script: one
//     more round trip then;
//   - a log-out that keeps the session (a Write with no user): one round
//     trip, the save script removes "\x00user";
//   - Delete: DEL, one round trip; the index keeps the entry until its
//     deadline.
//
// UserRecords reads the user's index under every key prefix the store
// knows, with ZRANGEBYSCORE of the deadlines still ahead, then every record
// found with HGETALL, each step one pipeline (on a Redis Cluster, one round
// trip per node, in parallel). It returns only the records that are still
// live and whose "\x00user" is the user: an entry of a record that was
// deleted, expired, evicted, moved to another user or logged out is passed
// over, and goes at its deadline. The key prefixes it knows are those the
// root package gives it when a manager starts ([Store.CheckKeyPrefix]) and
// those of the tokens it has indexed; a store from [New] used without a
// manager lists nothing of a prefix it has not indexed under.
//
// What the store guarantees, and where it cannot:
//
//   - A Write or Touch of a record that is gone returns ErrNotFound and
//     brings nothing back: the record stays gone, and an entry that a Write
//     with a user added first to the user's index lists nothing.
//   - The index is written before the record, so a failure between the two
//     steps of a login (the process dies, Redis fails) leaves at most an
//     entry that lists nothing, never a record of a user that RevokeUser
//     cannot find. The one step the other way round is the rare move of a
//     kept-alive record's deadline: if its index script fails after the
//     save script has run, Save returns the error, and the record may be
//     left out of the listing from its old deadline until its expiry, for
//     less than one lifetime.
//   - An index is a key like any other for Redis's eviction: with a
//     maxmemory policy that evicts keys (allkeys-* or volatile-*, the
//     index has a TTL), an evicted index leaves its user's live sessions
//     unlisted, and so not revoked by RevokeUser, until each is indexed
//     again by a login or the move of its deadline. Give Redis that keeps
//     sessions the noeviction policy, or room enough.
//   - One store used by several sessions with different key prefixes (a
//     store passed in "store" to more than one) lists the user's records
//     under all of them to each.
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
// A session is one key, and an index of a user is another, so every
// command, MULTI/EXEC and script touches one hash slot and runs unchanged
// on a Redis Cluster. Keep braces out of key_prefix: a hash tag such as
// "{app}" would put every session in the same slot, on one node. With Sentinel, give the Sentinels' addresses in addrs
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
