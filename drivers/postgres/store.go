package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/userkey"
)

// SQLSTATE codes the driver tells apart.
const (
	codeUndefinedTable       = "42P01"
	codeProgramLimitExceeded = "54000" // a jsonb, a field or an index entry over its limit
)

// sweepInterval is the least time between two automatic sweeps of a store.
const sweepInterval = time.Minute

// sweepBatch is the most rows one sweep statement deletes.
const sweepBatch = 1000

// queries are the statements of a store, for its table. Every one compares
// expiry with a time from the application's clock ($2, or $1 for the
// sweep), never with the server's now(): a record is live while its
// expiry is after the time the application reads, as the root package
// checks it.
type queries struct {
	load, create, write, writeUser, touch, del, sweep, userRecords string
}

func newQueries(t string) queries {
	return queries{
		load: `SELECT data, expiry FROM ` + t + ` WHERE token = $1 AND expiry > $2`,
		create: `INSERT INTO ` + t + ` (token, data, expiry, user_key) VALUES ($1, $2::jsonb, $3, $4)
ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry, user_key = excluded.user_key`,
		write: `UPDATE ` + t + ` SET data = (data - $3::text[]) || $4::jsonb, expiry = $5
WHERE token = $1 AND expiry > $2`,
		// A Write with SetUser: the same, and the row's user in the same
		// atomic step ($6 NULL un-indexes it).
		writeUser: `UPDATE ` + t + ` SET data = (data - $3::text[]) || $4::jsonb, expiry = $5, user_key = $6
WHERE token = $1 AND expiry > $2`,
		touch: `UPDATE ` + t + ` SET expiry = $3 WHERE token = $1 AND expiry > $2`,
		// The row goes whether or not it has expired; only a live one
		// counts as deleted.
		del: `DELETE FROM ` + t + ` WHERE token = $1 RETURNING expiry > $2`,
		// SKIP LOCKED leaves the rows that a request is writing; the outer
		// test of expiry is made again on the row as it is when locked, so
		// that a session that a Create brought back to life meanwhile is
		// kept.
		sweep: fmt.Sprintf(`DELETE FROM %s WHERE token IN
(SELECT token FROM %[1]s WHERE expiry <= $1 LIMIT %d FOR UPDATE SKIP LOCKED) AND expiry <= $1`, t, sweepBatch),
		// The partial index on user_key serves it; its rows are decoded
		// as Load's are.
		userRecords: `SELECT token, data, expiry FROM ` + t + ` WHERE user_key = $1 AND expiry > $2`,
	}
}

// Errors of a token with no live record.
var (
	errExpired  = fmt.Errorf("%w (expired)", sessionplus.ErrNotFound)
	errBadToken = fmt.Errorf("%w (the token is not valid UTF-8 text of at most %d bytes without NUL, so nothing can be stored under it)",
		sessionplus.ErrNotFound, maxTokenLen)
)

// validToken reports whether token can be a key of the table: text, in
// PostgreSQL, is valid UTF-8 without NUL, and an index entry is bounded.
func validToken(token string) bool {
	return len(token) <= maxTokenLen && validText(token)
}

// Load returns the record stored under token, in one statement:
//
//	SELECT data, expiry FROM <table> WHERE token = $1 AND expiry > $now
//
// No row (none, or an expired one that no sweep has removed yet) is an
// error wrapping [sessionplus.ErrNotFound], and so is a token that cannot
// be stored.
func (s *Store) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return sessionplus.Record{}, fmt.Errorf("postgres: load: %w", ctxErr(ctx, err))
	}
	if !validToken(token) {
		return sessionplus.Record{}, errBadToken
	}
	var (
		data   []byte
		expiry time.Time
	)
	err := s.pool.QueryRow(ctx, s.q.load, token, time.Now()).Scan(&data, &expiry)
	if errors.Is(err, pgx.ErrNoRows) {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	if err != nil {
		return sessionplus.Record{}, s.fail(ctx, "load", token, err)
	}
	rec, err := record(data, expiry)
	if err != nil {
		return sessionplus.Record{}, fmt.Errorf("postgres: load: %w", err)
	}
	return rec, nil
}

// UserRecords returns the live records indexed under user (see
// [sessionplus.UserIndex]), in one statement, which the partial index on
// user_key serves:
//
//	SELECT token, data, expiry FROM <table> WHERE user_key = $1 AND expiry > $now
//
// A row that is not a record of this driver fails the whole listing, with
// an error that says so.
func (s *Store) UserRecords(ctx context.Context, user string) ([]sessionplus.UserRecord, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list user: %w", ctxErr(ctx, err))
	}
	if user == "" {
		return nil, nil // no record is indexed under no user
	}
	rows, err := s.pool.Query(ctx, s.q.userRecords, userColumn(user), time.Now())
	if err != nil {
		return nil, s.fail(ctx, "list user", "", err)
	}
	defer rows.Close()
	var (
		out    []sessionplus.UserRecord
		token  string
		data   []byte
		expiry time.Time
	)
	for rows.Next() {
		if err := rows.Scan(&token, &data, &expiry); err != nil {
			return nil, s.fail(ctx, "list user", "", err)
		}
		rec, err := record(data, expiry)
		if err != nil {
			return nil, fmt.Errorf("postgres: list user: %w", err)
		}
		out = append(out, sessionplus.UserRecord{Token: token, Record: rec})
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list user", "", err)
	}
	return out, nil
}

// Save applies u to the row of token as [sessionplus.Kind] describes, in one
// statement, and returns token:
//
//   - Create: INSERT ... ON CONFLICT (token) DO UPDATE SET data =
//     excluded.data, expiry = excluded.expiry: the row becomes u.Set and
//     u.Expiry, whatever was there.
//   - Write: UPDATE ... SET data = (data - $del::text[]) || $set::jsonb,
//     expiry = $e WHERE token = $1 AND expiry > $now: only the fields in
//     u.Set and u.Del change, in one atomic statement, so two requests that
//     change different fields of one session both land.
//   - Touch: UPDATE ... SET expiry = $e WHERE token = $1 AND expiry > $now.
//
// The row's user_key column holds its user (see [Store.UserRecords]): a
// Create sets it to u.User (NULL for ""), a Write with u.SetUser sets it in
// the same UPDATE (", user_key = $u"), and a Write without SetUser and a
// Touch leave it. No kind costs a statement more.
//
// A Write or a Touch that matches no live row changes nothing and returns
// an error wrapping [sessionplus.ErrNotFound]: neither ever creates a row.
// A record over PostgreSQL's limits (a jsonb value holds at most 256 MiB)
// fails with an error wrapping [sessionplus.ErrRecordTooLarge].
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	op := "save (" + u.Kind.String() + ")"
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("postgres: %s: %w", op, ctxErr(ctx, err))
	}
	if !validToken(token) {
		if u.Kind == sessionplus.Create {
			return "", fmt.Errorf("postgres: %s: the token cannot be stored: it must be valid UTF-8 text of at most %d bytes without NUL", op, maxTokenLen)
		}
		return "", errBadToken
	}
	now := time.Now()
	var (
		tag pgconn.CommandTag
		err error
	)
	switch u.Kind {
	case sessionplus.Create:
		tag, err = s.pool.Exec(ctx, s.q.create, token, encodeData(u.Set), u.Expiry, userColumn(u.User))
	case sessionplus.Write:
		del := make([]string, len(u.Del)) // never nil: NULL would empty data
		for i, name := range u.Del {
			del[i] = encodeName(name)
		}
		if u.SetUser {
			tag, err = s.pool.Exec(ctx, s.q.writeUser, token, now, del, encodeData(u.Set), u.Expiry, userColumn(u.User))
		} else {
			tag, err = s.pool.Exec(ctx, s.q.write, token, now, del, encodeData(u.Set), u.Expiry)
		}
	case sessionplus.Touch:
		tag, err = s.pool.Exec(ctx, s.q.touch, token, now, u.Expiry)
	default:
		return "", fmt.Errorf("postgres: unknown kind of save %v", u.Kind)
	}
	if err != nil {
		return "", s.fail(ctx, op, token, err)
	}
	if tag.RowsAffected() == 0 {
		return "", sessionplus.ErrNotFound
	}
	if u.Kind == sessionplus.Create {
		s.maybeSweep(now)
	}
	return token, nil
}

// Delete removes the row of token, in one statement. It returns an error
// wrapping [sessionplus.ErrNotFound] if there was no live row: none, or an
// expired one (which is removed all the same).
func (s *Store) Delete(ctx context.Context, token string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: delete: %w", ctxErr(ctx, err))
	}
	if !validToken(token) {
		return errBadToken
	}
	var live bool
	err := s.pool.QueryRow(ctx, s.q.del, token, time.Now()).Scan(&live)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return sessionplus.ErrNotFound
	case err != nil:
		return s.fail(ctx, "delete", token, err)
	case !live:
		return errExpired
	}
	return nil
}

// Sweep deletes the rows of expired sessions and returns how many it
// deleted. It runs statements of at most 1000 rows each, every one bounded
// by the store's timeout, until one deletes fewer (rows that a request is
// writing at that moment are left for the next sweep) or ctx ends. A store
// sweeps by itself, one statement at most once a minute, after a Create;
// call Sweep to remove a backlog, or from a job of your own.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.sweepOnce(ctx)
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}

// sweepOnce runs one sweep statement.
func (s *Store) sweepOnce(ctx context.Context) (int, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("postgres: sweep: %w", ctxErr(ctx, err))
	}
	tag, err := s.pool.Exec(ctx, s.q.sweep, time.Now())
	if err != nil {
		return 0, s.fail(ctx, "sweep", "", err)
	}
	return int(tag.RowsAffected()), nil
}

// maybeSweep starts one sweep statement in the background, unless one
// started less than sweepInterval ago or the store is closed.
func (s *Store) maybeSweep(now time.Time) {
	next := s.nextSweep.Load()
	if now.UnixNano() < next || !s.nextSweep.CompareAndSwap(next, now.Add(sweepInterval).UnixNano()) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.sweeps.Add(1)
	go func() {
		defer s.sweeps.Done()
		if _, err := s.sweepOnce(s.bg); err != nil && s.bg.Err() == nil {
			s.logger.Warn("sessionplus: postgres: deleting expired sessions failed",
				"table", s.table, "error", err.Error())
		}
	}()
}

// fail wraps err of operation op on token. PostgreSQL does not quote
// parameters in its errors, but the token is replaced all the same, and so
// is the URL's password. An error of a context that has ended wraps the
// context's error and cause instead, never ErrNotFound.
func (s *Store) fail(ctx context.Context, op, token string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("postgres: %s: %w", op, ctxErr(ctx, err))
	}
	msg := s.red.apply(err.Error())
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "<token>")
	}
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == codeProgramLimitExceeded {
		return fmt.Errorf("postgres: %s: %w: %w", op, sessionplus.ErrRecordTooLarge, &opError{msg: msg, err: err})
	}
	return &opError{msg: "postgres: " + op + ": " + msg, err: err}
}

// userColumn returns the value of the user_key column for user: NULL for
// no user, otherwise [userkey.Stored] with validText, so the key itself
// where text can hold it, it is at most 512 bytes (an entry of the index
// holds about 2700) and it does not look like a digest, and its digest
// form otherwise.
func userColumn(user string) any {
	if user == "" {
		return nil
	}
	return userkey.Stored(user, validText)
}

// validText reports whether PostgreSQL's text (and jsonb's) can hold s.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// record returns the record of a row's data and expiry, for Load and
// UserRecords alike.
func record(data []byte, expiry time.Time) (sessionplus.Record, error) {
	values, err := decodeData(data)
	if err != nil {
		return sessionplus.Record{}, fmt.Errorf("the stored session is not a record of this driver: %w", err)
	}
	return sessionplus.Record{Values: values, Expiry: expiry}, nil
}

// The data column is a jsonb object with one member per session field: the
// field's name (see encodeName) and its bytes in standard base64.

// escPrefix starts the stored name of a field whose name jsonb cannot hold
// (one that is not valid UTF-8, or holds NUL, as the root package's
// "\x00meta" does) or that starts with escPrefix itself: such a name is
// stored as escPrefix and its base64url encoding. Every other name is
// stored as it is.
const escPrefix = "\x01b64:"

func encodeName(name string) string {
	if validText(name) && !strings.HasPrefix(name, escPrefix) {
		return name
	}
	return escPrefix + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func decodeName(stored string) (string, error) {
	rest, ok := strings.CutPrefix(stored, escPrefix)
	if !ok {
		return stored, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", errors.New("a field name is escaped but not base64url")
	}
	return string(b), nil
}

// encodeData returns the jsonb object of values; "{}" for none.
func encodeData(values map[string][]byte) json.RawMessage {
	m := make(map[string]string, len(values))
	for name, v := range values {
		m[encodeName(name)] = base64.StdEncoding.EncodeToString(v)
	}
	b, err := json.Marshal(m)
	if err != nil { // a map of strings always marshals
		panic("postgres: encoding a record: " + err.Error())
	}
	return b
}

// decodeData reads the jsonb object of a row. An empty value comes back as
// an empty, non-nil slice.
func decodeData(data []byte) (map[string][]byte, error) {
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, errors.New("data is not a JSON object of strings")
	}
	values := make(map[string][]byte, len(m))
	for stored, enc := range m {
		name, err := decodeName(stored)
		if err != nil {
			return nil, err
		}
		v, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, errors.New("a field's value is not base64")
		}
		if v == nil {
			v = []byte{}
		}
		values[name] = v
	}
	return values, nil
}
