// Package postgres is the PostgreSQL session driver, registered as
// session_type "postgres" ([Name]), on the connection pool of pgx v5
// ([github.com/jackc/pgx/v5/pgxpool]).
//
// Importing the package for its side effect registers the driver:
//
//	import _ "github.com/sessionplus/sessionplus/drivers/postgres"
//
// A session then selects it with a URL, for a configuration that lives in a
// file, or with a pool the app already has:
//
//	sessionplus.Options{"cookie_name": "session", "session_type": "postgres", "url": "postgres://app:secret@db:5432/app"}
//	sessionplus.Options{"cookie_name": "session", "session_type": "postgres", "client": pool}
//
// # Options
//
// Exactly one of client and url is required; any other key that is not a
// common one is rejected.
//
//   - client (*pgxpool.Pool, no default): a pool of
//     github.com/jackc/pgx/v5/pgxpool. The store never closes it.
//   - url (string, no default): "postgres://[user[:password]@]host[:port]/db[?param=value&...]"
//     (or "postgresql://"), parsed by pgxpool.ParseConfig, which takes the
//     settings of libpq (sslmode, connect_timeout, application_name, ...),
//     pgx's own (pool_max_conns, pool_min_conns, pool_max_conn_lifetime,
//     ...) and, like libpq, the PG* environment variables for what the URL
//     leaves out. The store builds a pool from it and closes the pool when
//     the [sessionplus.Manager] is closed; its connect_timeout defaults to
//     the store's timeout. Key/value connection strings ("host=... ") are
//     not taken: write them as a URL.
//   - table (string, default "sessions"): the table of the sessions, an
//     identifier of ASCII letters, digits and underscores (not starting
//     with a digit, at most 63 bytes), optionally qualified by a schema
//     ("app.sessions"). The driver quotes it in every statement, so case
//     matters: "Sessions" is another table than "sessions".
//   - create_table (bool, default true): create the table and its indexes
//     at Open where they do not exist, and upgrade a table of an earlier
//     version of the driver ([Store.CreateTable]). Set it to false where
//     the table is managed elsewhere or the user may not create tables.
//   - timeout (duration: a time.Duration, a string such as "5s", or whole
//     seconds; default 5s): the longest any one operation may take (Load,
//     Save, Delete, one statement of a sweep, and each step of Open). An
//     operation ends at the earlier of the caller's deadline and this
//     bound, for a pool passed in as for one built from url: a request's
//     context often has no deadline, and an unreachable server would
//     otherwise hang every request. It must be positive.
//
// Open pings the server once, so that a wrong address or database fails at
// startup with an error that names the host (and never the URL's
// password); then, unless create_table is false, it creates the table, and
// in any case it checks that the table has the four columns below with
// their types. Errors in the options wrap [sessionplus.ErrConfig] and name
// the key; they are found without contacting anything (client and url
// both or neither, a nil client, a table name or a url that does not
// parse, a timeout that is not positive), so [sessionplus.New] reports
// them before it contacts any session's backend. A table that is missing
// or of another shape is a configuration error too, found at Open.
//
// The common keys of a server-side session are read by the root package:
// key_prefix (default "session"), hash_ids, use_signer, session_lifetime,
// session_permanent_lifetime and the cookie_* keys; see [sessionplus.Options].
//
// # Table
//
// A session is one row:
//
//	CREATE TABLE sessions (
//		token    text PRIMARY KEY,     -- key_prefix, ":" and a hash of the session id
//		data     jsonb NOT NULL,       -- {"<field>": "<base64 of the value>", ...}
//		expiry   timestamptz NOT NULL, -- the absolute expiry, to the microsecond
//		user_key text                  -- the user it is indexed under; NULL for none
//	);
//	CREATE INDEX sessions_expiry_idx ON sessions (expiry);
//	CREATE INDEX sessions_user_key_idx ON sessions (user_key) WHERE user_key IS NOT NULL;
//
// token is the storage key the root package hands the driver (by default
// a hash of the session id, so the table holds no usable session ids). Each
// field of the session is one member of the jsonb object data: its name,
// and its encoded value in standard base64 (jsonb holds text, not bytes). A
// field name that jsonb cannot hold, one that is not valid UTF-8 or holds
// NUL (as the root package's "\x00meta" does), is stored as "\x01b64:" and
// the base64url of its bytes, and so is a name that starts with "\x01b64:"
// itself; every other name is stored as it is. Names and values come back
// from [Store.Load] unchanged. user_key is described under "Users'
// sessions" below.
//
// A token must be valid UTF-8 without NUL and at most 2048 bytes (an
// entry of the primary key's index holds about 2700): [Store.CheckKeyPrefix],
// which the root package calls at startup, refuses a key_prefix over 2004
// bytes, and a token that cannot be stored is never found.
//
// # Statements
//
// Every operation is one statement, one round trip (pgx prepares each
// statement once per connection, on its first use there):
//
//   - Load: SELECT data, expiry FROM t WHERE token = $1 AND expiry > $now.
//   - Create (a new session, or a new id): INSERT ... ON CONFLICT (token)
//     DO UPDATE SET data = excluded.data, expiry = excluded.expiry,
//     user_key = excluded.user_key.
//   - Write (a change): UPDATE t SET data = (data - $del::text[]) ||
//     $set::jsonb, expiry = $e WHERE token = $1 AND expiry > $now. Only the
//     fields the request changed are sent, and PostgreSQL applies the
//     UPDATE to the row as it is when it gets the row's lock, so two
//     requests that change different fields of one session both land. A
//     Write matching no live row (none, an expired one, or one that a
//     log-out deleted an instant ago) changes nothing and returns an error
//     wrapping [sessionplus.ErrNotFound]: it never creates a row. A Write
//     at a login or log-out also sets ", user_key = $u" in the same
//     UPDATE.
//   - Touch (a keep-alive): UPDATE t SET expiry = $e WHERE token = $1 AND
//     expiry > $now; no row is [sessionplus.ErrNotFound] too.
//   - Delete: DELETE FROM t WHERE token = $1 RETURNING expiry > $now; no
//     live row is [sessionplus.ErrNotFound] (an expired row is removed all
//     the same).
//   - UserRecords: SELECT token, data, expiry FROM t WHERE user_key = $1
//     AND expiry > $now.
//
// # Users' sessions (UserIndex)
//
// The store implements [sessionplus.UserIndex], so that with
// [sessionplus.Config.UserField] set, [sessionplus.Manager.UserSessions],
// RevokeUser, RevokeSession and [sessionplus.Session.RevokeOthers] can list
// and end a user's sessions. The index is the user_key column of each row
// and the partial index on it, which holds only the rows that have a user:
//
//   - A Create sets user_key to the record's user, or NULL for none, also
//     when it replaces a row under the same token; a Write at a login or a
//     log-out sets it in the same UPDATE as the fields; any other Write and
//     a Touch leave it. So it is always the row's own, in the same atomic
//     statement as the row: a Write or a Touch of a row that a revocation
//     deleted matches nothing and indexes nothing.
//   - [Store.UserRecords] is one SELECT that the index serves, and reads
//     the rows as Load does; a row past its expiry is not listed.
//   - A Delete, and the sweep of expired rows, remove the row and its
//     entry in the index with it: the index holds no more than the table.
//
// Cost: nothing more. A login (Create with a user, or a Write that sets
// it), a log-out, a Write and a Touch are each still one statement and one
// round trip (the tests count them with a pgx tracer and at the socket);
// listing a user's sessions is one statement.
//
// user_key holds the user's key as it is where text can hold it and it is
// at most 512 bytes: "42", "alice@example.com". A key that is not valid
// UTF-8, holds NUL, is longer, or starts with "\x01sha256:", is stored as
// "\x01sha256:" and the base64url of its SHA-256 instead: the column is only
// compared for equality, and an entry of the index stays small.
//
// A table of an earlier version of the driver, which has no user_key, is
// upgraded at Open (unless create_table is false): the column is added
// (instantly: it is nullable and has no default) and the index is built.
// Building it reads the whole table once, holds off the table's writes
// meanwhile, and must end within the store's timeout; for a large table,
// build it beforehand without either, and the Open then finds it:
//
//	ALTER TABLE sessions ADD COLUMN IF NOT EXISTS user_key text;
//	CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_user_key_idx ON sessions (user_key) WHERE user_key IS NOT NULL;
//
// With create_table false, Open fails on a table without user_key, and its
// error gives these statements. Sessions stored before the upgrade have
// no user until their next login (they are not listed, and RevokeUser
// leaves them); while app instances of the earlier version share the table
// during a rolling upgrade, the logins they make are not indexed either,
// and a log-out they make leaves the session listed (RevokeUser then ends
// a session no longer logged in).
//
// # Expiry
//
// $now above is the application's clock (Go's time.Now), never the
// server's now(): a row is live while its expiry is after the time the
// application reads, the test the root package makes on every record too,
// so the two never disagree. App instances that share a table should keep
// their clocks in sync (NTP), as they must for cookies anyway.
//
// Expired rows are never served, listed, kept alive or written, but
// PostgreSQL does not remove them by itself. The store sweeps them: after a Create, at
// most once a minute per [Store], it runs in the background
//
//	DELETE FROM t WHERE token IN (SELECT token FROM t WHERE expiry <= $now
//		LIMIT 1000 FOR UPDATE SKIP LOCKED) AND expiry <= $now
//
// which the index on expiry makes cheap, and which leaves alone the rows
// that requests are writing. Sessions that expire faster than 1000 a
// minute per app instance pile up: call [Store.Sweep], which deletes in
// such batches until none are left, from a job of your own. A failed
// automatic sweep is logged as a warning to the configured logger.
//
// # Timeouts
//
// When an operation's context ends, pgx abandons the statement and closes
// its connection; PostgreSQL does not notice until it next writes to it,
// so a write that was waiting (on a row lock, say) may still be applied
// after Save returned its error. A server-side statement_timeout makes the
// server end such statements too: add it to the URL, in milliseconds
// (postgres://.../app?statement_timeout=5000), or set it for the role
// (ALTER ROLE app SET statement_timeout = '5s'). Behind PgBouncer, prefer
// the role: it refuses startup parameters it does not know.
//
// The pool that the driver builds from url has pgxpool's defaults unless
// the URL says otherwise: at most max(4, number of CPUs) connections
// (pool_max_conns), closed after an hour (pool_max_conn_lifetime).
//
// # Errors
//
// No row is the only answer that means "no such session". Every other
// failure (the server down or too slow, a missing table, a permission) is
// returned as "postgres: <operation>: <cause>" and unwraps to pgx's error
// (errors.As with *pgconn.PgError gives the SQLSTATE), or, when the context
// ended, to context.Canceled or context.DeadlineExceeded; it never wraps
// [sessionplus.ErrNotFound]. A record over PostgreSQL's limits (a jsonb
// value holds at most 256 MiB) fails with an error wrapping
// [sessionplus.ErrRecordTooLarge]. Errors never hold the token, a value or
// the URL's password.
//
// # Typed constructor
//
// [New] builds a store of a pool without the registry and does no I/O;
// [Store.CreateTable] makes the table:
//
//	st, err := postgres.New(pool, &postgres.Options{Table: "sessions"})
//	...
//	err = st.CreateTable(ctx)
//
// The store is then the "store" of a session:
//
//	sessionplus.Options{"cookie_name": "session", "store": st}
//
// The store is safe for concurrent use. [Store.Close] stops its automatic
// sweeps; it closes the pool only where [Driver.Open] built it from url.
//
// # Tests
//
// The driver's tests run against the server in SESSIONPLUS_POSTGRES_URL,
// each in a new table with a random name, dropped afterwards; without it
// they skip (and fail under CI=true). ./scripts/test starts a throwaway
// PostgreSQL for them on 127.0.0.1:5439 (scripts/backends/postgres.sh). To
// run them against another server:
//
//	SESSIONPLUS_POSTGRES_URL=postgres://user:password@localhost:5432/db go test -race ./drivers/postgres/
package postgres
