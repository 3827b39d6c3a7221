package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/owned"
)

// Name is the session_type under which the driver registers.
const Name = "postgres"

// DefaultTable is the table of the sessions when none is configured.
const DefaultTable = "sessions"

// DefaultTimeout bounds each operation of a [Store] by default (see
// [Options.Timeout]).
const DefaultTimeout = 5 * time.Second

func init() { sessionplus.Register(Name, Driver{}) }

// Driver opens PostgreSQL stores from a session's options. It is
// registered under [Name]; see the package documentation for the options.
type Driver struct{}

// config holds the driver-specific keys of a postgres session.
type config struct {
	Client      *pgxpool.Pool  `mapstructure:"client"`
	URL         string         `mapstructure:"url"`
	Table       string         `mapstructure:"table"`
	CreateTable *bool          `mapstructure:"create_table"`
	Timeout     *time.Duration `mapstructure:"timeout"`
}

// Validate checks what decoding cannot: exactly one of client and url,
// a client that is not nil, the table's name, a positive timeout and the
// url's form. It contacts nothing; no error holds the URL's password.
func (c *config) Validate(cfg sessionplus.DriverConfig) error {
	_, hasClient := cfg.Options["client"]
	_, hasURL := cfg.Options["url"]
	switch {
	case hasClient && hasURL:
		return sessionplus.ConfigErrorf(`keys "client" and "url": give one of them, not both`)
	case !hasClient && !hasURL:
		return sessionplus.ConfigErrorf(`key "client" or "url": one is required: a *pgxpool.Pool ` +
			`(github.com/jackc/pgx/v5/pgxpool) or a URL such as "postgres://user:password@host:5432/db"`)
	case hasClient && c.Client == nil:
		return sessionplus.ConfigErrorf(`key "client": expected a *pgxpool.Pool, got nil`)
	}
	if _, ok := cfg.Options["table"]; ok {
		if err := checkTableName(c.Table); err != nil {
			return sessionplus.ConfigErrorf(`key "table": %v`, err)
		}
	}
	if c.Timeout != nil && *c.Timeout <= 0 {
		return sessionplus.ConfigErrorf(`key "timeout": expected a positive duration such as "5s", got %v`, *c.Timeout)
	}
	if hasURL {
		if _, err := parseURL(c.URL, passwords(c.URL)); err != nil {
			return err
		}
	}
	return nil
}

// Open returns a [Store] for one session. It builds a pool from url, or
// uses the one passed in client, pings the server once (so that a wrong
// address fails at startup), creates the table and its index unless
// create_table is false, and checks the table's columns. Configuration
// mistakes are errors wrapping [sessionplus.ErrConfig] that name the key,
// reported by Decode before anything is contacted; no error holds the
// URL's password. The store closes a pool it built when the session
// manager closes it; a pool passed in is never closed.
func (Driver) Open(ctx context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var c config
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	o := Options{Table: DefaultTable, Timeout: DefaultTimeout, Logger: cfg.Logger}
	if _, ok := cfg.Options["table"]; ok {
		o.Table = c.Table
	}
	if c.Timeout != nil {
		o.Timeout = *c.Timeout
	}

	_, hasURL := cfg.Options["url"]
	pool, key := c.Client, "client"
	var red redactor
	var own func() error
	if hasURL {
		key = "url"
		red = passwords(c.URL)
		pc, err := parseURL(c.URL, red) // Validate parsed it already
		if err != nil {
			return nil, err
		}
		// pgxpool lets a connection attempt go on in the background after
		// the request that wanted it gave up, for up to two minutes unless
		// connect_timeout says otherwise: bound it by the store's timeout.
		if pc.ConnConfig.ConnectTimeout <= 0 {
			pc.ConnConfig.ConnectTimeout = o.Timeout
		}
		if pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, sessionplus.ConfigErrorf(`key "url": %s`, red.apply(err.Error()))
		}
		own = func() error { pool.Close(); return nil }
	}
	st, err := New(pool, &o)
	if err != nil {
		if own != nil {
			own()
		}
		return nil, err
	}
	if own != nil {
		st.owned.Own(own)
	}
	st.red = red

	fail := func(err error) (sessionplus.Store, error) {
		st.Close()
		return nil, err
	}
	if err := st.ping(ctx, key); err != nil {
		return fail(err)
	}
	if c.CreateTable == nil || *c.CreateTable {
		if err := st.CreateTable(ctx); err != nil {
			return fail(err)
		}
	}
	if err := st.checkColumns(ctx); err != nil {
		return fail(err)
	}
	return st, nil
}

// parseURL parses the url option into a pool configuration.
func parseURL(u string, red redactor) (*pgxpool.Config, error) {
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		what := "an empty string"
		if u != "" {
			what = "a string that does not start with postgres:// or postgresql://"
		}
		return nil, sessionplus.ConfigErrorf(`key "url": expected a URL such as "postgres://user:password@host:5432/db", got %s`, what)
	}
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, sessionplus.ConfigErrorf(`key "url": %s`, parseError(u, err, red))
	}
	return cfg, nil
}

// parseError describes the error of parsing the URL u without its
// password. pgx masks the password in the URL it quotes as best it can, but
// a URL that does not parse can make its bounds ambiguous, and the cause
// may quote a piece of it: where u holds a password, the URL is quoted as
// [safeURL] masks it, and the cause is left out.
func parseError(u string, err error, red redactor) string {
	pce := (*pgconn.ParseConfigError)(nil)
	if !errors.As(err, &pce) {
		return red.apply(err.Error())
	}
	// pgx's text is "cannot parse `<url>`: <what>" and " (<cause>)"; <what>
	// is a description of its own.
	text, cause := pce.Error(), errors.Unwrap(pce)
	if cause != nil {
		text = strings.TrimSuffix(text, " ("+cause.Error()+")")
	}
	what := text[strings.LastIndex(text, "`: ")+len("`: "):]
	safe := safeURL(u)
	msg := fmt.Sprintf("cannot parse %q: %s", red.apply(safe), what)
	if cause != nil && safe == u && len(red) == 0 {
		msg += " (" + cause.Error() + ")"
	}
	return msg
}

// safeURL returns the URL u with its password masked, without parsing it:
// everything from the first ":" of the part before the last "@" to that
// "@", and the values of the query parameters password and sslpassword.
// Where the bounds are ambiguous it masks too much, never too little.
func safeURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if user, _, hasPW := strings.Cut(rest[:at], ":"); hasPW {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	if base, query, ok := strings.Cut(rest, "?"); ok {
		params := strings.Split(query, "&")
		for i, p := range params {
			k, _, _ := strings.Cut(p, "=")
			if dk, err := url.QueryUnescape(k); err != nil || strings.Contains(strings.ToLower(dk), "password") {
				params[i] = k + "=xxxxx"
			}
		}
		rest = base + "?" + strings.Join(params, "&")
	}
	return scheme + "://" + rest
}

// Options configures a [Store] made with [New]. A nil *Options means the
// defaults.
type Options struct {
	// Table is the table of the sessions: an identifier of ASCII letters,
	// digits and underscores (not starting with a digit, at most 63
	// bytes), optionally qualified by a schema ("app.sessions"). It is
	// quoted in every statement, so case matters. Default [DefaultTable].
	Table string

	// Timeout bounds each operation of the store (Load, Save, Delete, one
	// statement of Sweep, CreateTable), on top of the deadline of the
	// context it is given: a request's context often has none, and an
	// unreachable server would otherwise hang every request. Default
	// [DefaultTimeout] (5s); it must not be negative.
	Timeout time.Duration

	// Logger receives a warning when an automatic sweep of expired
	// sessions fails. It never receives tokens or values. Default
	// slog.Default().
	Logger *slog.Logger
}

// Store is a [sessionplus.Store] that keeps each session as one row of a
// PostgreSQL table. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	table    string // as configured, for messages
	ident    string // quoted, for statements
	timeout  time.Duration
	timedOut error // the cause of a context ended by the timeout
	logger   *slog.Logger
	owned    owned.Client // the pool Open built from url: Close closes it
	red      redactor     // the url's password, kept out of errors

	q queries

	nextSweep atomic.Int64       // Unix nanoseconds before which no automatic sweep starts
	bg        context.Context    // of the automatic sweeps
	stopBG    context.CancelFunc // cancels bg; called by Close
	mu        sync.Mutex         // guards closed and sweeps.Add
	closed    bool
	sweeps    sync.WaitGroup
	closeOnce sync.Once
}

var (
	_ sessionplus.Store            = (*Store)(nil)
	_ sessionplus.KeyPrefixChecker = (*Store)(nil)
	_ sessionplus.UserIndex        = (*Store)(nil)
	_ io.Closer                    = (*Store)(nil)
)

// New returns a store that keeps its sessions in the table opts.Table of
// the database of pool. It does no I/O: call [Store.CreateTable] once at
// startup if the table may not exist yet (Open does unless create_table is
// false). The store never closes pool. The errors wrap
// [sessionplus.ErrConfig].
func New(pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if pool == nil {
		return nil, sessionplus.ConfigErrorf("postgres: New: the pool is nil")
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if err := checkTableName(o.Table); err != nil {
		return nil, sessionplus.ConfigErrorf("postgres: New: Options.Table: %v", err)
	}
	switch {
	case o.Timeout < 0:
		return nil, sessionplus.ConfigErrorf("postgres: New: Options.Timeout: expected a positive duration, got %v", o.Timeout)
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ident := pgx.Identifier(strings.Split(o.Table, ".")).Sanitize()
	bg, stop := context.WithCancel(context.Background())
	return &Store{
		pool:     pool,
		table:    o.Table,
		ident:    ident,
		timeout:  o.Timeout,
		timedOut: fmt.Errorf("no answer from PostgreSQL within %v (the store's timeout)", o.Timeout),
		logger:   o.Logger,
		q:        newQueries(ident),
		bg:       bg,
		stopBG:   stop,
	}, nil
}

// Close stops the automatic sweeps, waiting for one under way, and closes
// the pool if [Driver.Open] built it from url. A pool passed in (the client
// option, or [New]) is left open. Close may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.stopBG()
		s.sweeps.Wait()
	})
	return s.owned.Close()
}

// Table returns the name of the table of the sessions, as configured.
func (s *Store) Table() string { return s.table }

// maxTokenLen is the longest token the store takes, in bytes: an entry of
// the primary key's B-tree holds about 2700 bytes at most.
const maxTokenLen = 2048

// idLen is the length of the id part of a token: 43 base64url characters.
const idLen = 43

// CheckKeyPrefix reports whether the tokens of key_prefix prefix (prefix,
// ":" and 43 characters) fit in the primary key: the root package calls it
// once at startup. Its error wraps [sessionplus.ErrConfig].
func (s *Store) CheckKeyPrefix(prefix string) error {
	if n := len(prefix) + 1 + idLen; n > maxTokenLen {
		return sessionplus.ConfigErrorf(`key "key_prefix": %d bytes is too long for the postgres store: its keys, prefix, ":" and 43 characters, hold at most %d bytes`,
			len(prefix), maxTokenLen)
	}
	return nil
}

// ping reaches the server once, through key's pool, so that a wrong address
// fails at startup.
func (s *Store) ping(ctx context.Context, key string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		cc := s.pool.Config().ConnConfig
		where := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
		return &opError{
			msg: fmt.Sprintf("postgres: cannot connect to the server of key %q at %s: %s", key, where, oneLine(s.red.apply(errText(ctx, err)))),
			err: ctxErr(ctx, err),
		}
	}
	return nil
}

// CreateTable creates the table of the sessions and its indexes, where
// they do not exist yet, and upgrades a table of an earlier version of the
// driver, which has no user_key column:
//
//	CREATE TABLE IF NOT EXISTS <table> (
//		token    text PRIMARY KEY,
//		data     jsonb NOT NULL,
//		expiry   timestamptz NOT NULL,
//		user_key text
//	);
//	CREATE INDEX IF NOT EXISTS <table>_expiry_idx ON <table> (expiry);
//	ALTER TABLE <table> ADD COLUMN IF NOT EXISTS user_key text; -- only where it is missing
//	CREATE INDEX IF NOT EXISTS <table>_user_key_idx ON <table> (user_key) WHERE user_key IS NOT NULL;
//
// The statements run in one transaction under an advisory lock, so that
// app instances starting together do not collide. The ALTER TABLE runs
// only where the column is missing: it would lock out every request while
// it waits for a long reader of the table (pg_dump, say), even when it
// has nothing to do. Adding the nullable column is instant; building the
// index on an old table reads the table once, holding off its writes
// meanwhile (see the package documentation for a large table). It needs
// the CREATE privilege on the schema (and to own an old table); without
// it, create or upgrade the table once by hand and open with create_table
// false. [Driver.Open] calls it unless create_table is false.
func (s *Store) CreateTable(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	// Without arguments pgx sends the statements as one simple query, which
	// PostgreSQL runs as one transaction: the transaction-level advisory lock
	// is held until all are done.
	sql := fmt.Sprintf(`SELECT pg_advisory_xact_lock(%[1]d);
CREATE TABLE IF NOT EXISTS %[2]s (token text PRIMARY KEY, data jsonb NOT NULL, expiry timestamptz NOT NULL, user_key text);
CREATE INDEX IF NOT EXISTS %[3]s ON %[2]s (expiry);
DO $$ BEGIN
	IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = '%[2]s'::regclass AND attname = 'user_key' AND NOT attisdropped) THEN
		ALTER TABLE %[2]s ADD COLUMN IF NOT EXISTS user_key text;
	END IF;
END $$;
CREATE INDEX IF NOT EXISTS %[4]s ON %[2]s (user_key) WHERE user_key IS NOT NULL`,
		lockKey(s.table), s.ident,
		pgx.Identifier{indexName(s.table, expirySuffix)}.Sanitize(), pgx.Identifier{indexName(s.table, userSuffix)}.Sanitize())
	if _, err := s.pool.Exec(ctx, sql); err != nil {
		return s.fail(ctx, "create table "+s.table, "", err)
	}
	return nil
}

// wantColumns are the columns of the table and the types format_type names.
var wantColumns = []struct{ name, typ string }{
	{"token", "text"},
	{"data", "jsonb"},
	{"expiry", "timestamp with time zone"},
	{"user_key", "text"},
}

// checkColumns checks that the table exists and has the columns the store
// uses, with their types, so that a table of another shape fails at
// startup rather than at the first request.
func (s *Store) checkColumns(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped`, s.ident)
	if err != nil {
		return s.checkFailed(ctx, err)
	}
	cols := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return s.fail(ctx, "check table "+s.table, "", err)
		}
		cols[name] = typ
	}
	if err := rows.Err(); err != nil {
		return s.checkFailed(ctx, err)
	}
	for _, c := range wantColumns {
		got, ok := cols[c.name]
		switch {
		case !ok && c.name == "user_key":
			return sessionplus.ConfigErrorf(`key "table": the table %[1]s has no column "user_key" (a table of an earlier version of the driver): `+
				`let the store upgrade it (create_table true), or run ALTER TABLE %[2]s ADD COLUMN user_key text; `+
				`CREATE INDEX %[3]s ON %[2]s (user_key) WHERE user_key IS NOT NULL`,
				s.table, s.ident, pgx.Identifier{indexName(s.table, userSuffix)}.Sanitize())
		case !ok:
			return sessionplus.ConfigErrorf(`key "table": the table %s has no column %q (want token text PRIMARY KEY, data jsonb NOT NULL, expiry timestamptz NOT NULL)`, s.table, c.name)
		case got != c.typ:
			return sessionplus.ConfigErrorf(`key "table": the column %q of the table %s is of type %s, want %s`, c.name, s.table, got, c.typ)
		}
	}
	return nil
}

// checkFailed returns the error of checkColumns's query.
func (s *Store) checkFailed(ctx context.Context, err error) error {
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == codeUndefinedTable {
		return sessionplus.ConfigErrorf(`key "table": the table %s does not exist: create it, or let the store create it (create_table true)`, s.table)
	}
	return s.fail(ctx, "check table "+s.table, "", err)
}

// tableRE matches one identifier that needs no quoting in PostgreSQL,
// except for case.
var tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxIdentLen is the longest identifier PostgreSQL keeps (NAMEDATALEN-1).
const maxIdentLen = 63

// checkTableName reports whether name is a table name the store takes:
// an identifier, or schema.identifier.
func checkTableName(name string) error {
	parts := strings.Split(name, ".")
	ok := len(parts) <= 2
	for _, p := range parts {
		ok = ok && len(p) <= maxIdentLen && tableRE.MatchString(p)
	}
	if !ok {
		return fmt.Errorf(`expected a table name of ASCII letters, digits and underscores, not starting with a digit, `+
			`at most %d bytes, optionally qualified by a schema ("app.sessions"); got %q`, maxIdentLen, name)
	}
	return nil
}

// The suffixes of the names of the indexes of a table.
const (
	expirySuffix = "_expiry_idx"
	userSuffix   = "_user_key_idx"
)

// indexName returns the name of an index of table: the table's last part
// and suffix, with a hash in place of the part's end where that would
// exceed 63 bytes (PostgreSQL would truncate it, and two long table names
// could then share an index name).
func indexName(table, suffix string) string {
	name := table[strings.LastIndexByte(table, '.')+1:]
	if len(name)+len(suffix) <= maxIdentLen {
		return name + suffix
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("%s_%08x%s", name[:maxIdentLen-len(suffix)-9], h.Sum32(), suffix)
}

// lockKey returns the advisory lock of CreateTable for table.
func lockKey(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sessionplus/drivers/postgres: create table " + table))
	return int64(h.Sum64())
}

// withTimeout returns ctx bounded by the store's timeout.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout, s.timedOut)
}

// oneLine joins the lines of pgx's message of several connection attempts.
func oneLine(msg string) string {
	msg = strings.ReplaceAll(msg, ":\n\t", ": ")
	return strings.ReplaceAll(msg, "\n\t", "; ")
}

// redactor holds the forms of a URL's password that an error may quote.
type redactor []string

// passwords returns the forms in which the password of the connection URL
// u can appear: as written (up to the first "@", or the last, of the part
// after the scheme), percent-decoded, and in a password= query parameter.
func passwords(u string) redactor {
	var r redactor
	add := func(p string) {
		if p != "" {
			r = append(r, p)
			if d, err := url.PathUnescape(p); err == nil && d != p && d != "" {
				r = append(r, d)
			}
		}
	}
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return nil
	}
	for _, at := range []int{strings.IndexByte(rest, '@'), strings.LastIndexByte(rest, '@')} {
		if at < 0 {
			continue
		}
		if _, p, ok := strings.Cut(rest[:at], ":"); ok {
			add(p)
		}
	}
	if pu, err := url.Parse(u); err == nil {
		if p, ok := pu.User.Password(); ok {
			add(p)
		}
		for k, vs := range pu.Query() {
			if k == "password" || k == "sslpassword" {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	// Longest first, so that a password containing another is masked whole.
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && len(r[j]) > len(r[j-1]); j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
	return r
}

// apply returns msg with every form of the password masked.
func (r redactor) apply(msg string) string {
	for _, p := range r {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// opError is an error of the driver around one of pgx: its message is the
// driver's, with the token and the URL's password left out, and it unwraps
// to the original for errors.Is and errors.As (*pgconn.PgError, for one).
type opError struct {
	msg string
	err error
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.err }

// errText returns the text of err, or of ctx's error and cause where ctx
// has ended (pgx's own text then says little more).
func errText(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ctxErr(ctx, err).Error()
	}
	return err.Error()
}

// ctxErr returns ctx's error, with its cause, where ctx has ended, and err
// otherwise: a timeout of the store is then errors.Is
// context.DeadlineExceeded, whatever pgx made of it.
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, cerr) {
		return fmt.Errorf("%w: %w", cerr, cause)
	}
	return cerr
}
