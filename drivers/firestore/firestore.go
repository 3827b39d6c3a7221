package firestore

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	gfirestore "cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/owned"
	"github.com/sessionplus/sessionplus/internal/userkey"
)

// Name is the session_type under which the driver registers.
const Name = "firestore"

// Names of the fields of a session document.
const (
	dataField   = "data"       // a map: one entry of bytes per session field
	expiryField = "expires_at" // a timestamp: the record's absolute expiry
	userField   = "user"       // the user the record is indexed under (see UserRecords); absent for none
)

// DefaultTimeout is how long one call of a [Store] may take by default
// (see [Options.Timeout]).
const DefaultTimeout = 10 * time.Second

func init() { sessionplus.Register(Name, Driver{}) }

// Driver opens firestore stores. It is registered under [Name].
type Driver struct{}

// options holds the driver-specific keys of a firestore session.
type options struct {
	Client     *gfirestore.Client `mapstructure:"client"`
	ProjectID  string             `mapstructure:"project_id"`
	Collection string             `mapstructure:"collection"`
	Timeout    *time.Duration     `mapstructure:"timeout"`
}

// Open returns a [Store] for one session's options: client or project_id,
// and collection (see the package documentation). A client built from
// project_id belongs to the store, and [Store.Close] closes it. Option
// errors wrap [sessionplus.ErrConfig] and name the key.
func (Driver) Open(ctx context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var o options
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	timeout := DefaultTimeout
	if o.Timeout != nil {
		timeout = *o.Timeout
	}

	client, built := o.Client, o.Client == nil // built from project_id: the store's own
	if built {
		c, err := newClient(ctx, o.ProjectID)
		if err != nil {
			return nil, sessionplus.ConfigErrorf(`key "project_id": cannot create a Firestore client: %v`, err)
		}
		client = c
	}
	st, err := New(client, &Options{Collection: o.Collection, Timeout: timeout})
	if err != nil {
		if built {
			client.Close()
		}
		return nil, err // not a typed nil *Store in a non-nil Store
	}
	if built {
		st.owned.Own(client.Close)
	}
	return st, nil
}

// Validate checks what decoding cannot: client or project_id, not both
// and not empty; collection, required and a collection path; a timeout
// other than 0. It contacts nothing.
func (o *options) Validate(cfg sessionplus.DriverConfig) error {
	_, hasClient := cfg.Options["client"]
	_, hasProject := cfg.Options["project_id"]
	switch {
	case hasClient && hasProject:
		return sessionplus.ConfigErrorf(`key "project_id": set either "client" or "project_id", not both`)
	case hasClient && o.Client == nil:
		return sessionplus.ConfigErrorf(`key "client": expected a *firestore.Client, got nil`)
	case hasProject && o.ProjectID == "":
		return sessionplus.ConfigErrorf(`key "project_id": expected a Google Cloud project id, got an empty string`)
	case !hasClient && !hasProject:
		return sessionplus.ConfigErrorf(`key "client" or "project_id": one is required: ` +
			`a *firestore.Client, or the project id to build one with the default credentials (or FIRESTORE_EMULATOR_HOST)`)
	}
	if _, ok := cfg.Options["collection"]; !ok || o.Collection == "" {
		return sessionplus.ConfigErrorf(`key "collection": required: the collection that holds the sessions, such as "sessions"`)
	}
	if err := checkCollection(o.Collection); err != nil {
		return sessionplus.ConfigErrorf(`key "collection": %v`, err)
	}
	if o.Timeout != nil && *o.Timeout == 0 {
		return sessionplus.ConfigErrorf(`key "timeout": expected a duration such as "5s" (or a negative one for no timeout), got 0`)
	}
	return nil
}

// Options configures a [Store] made with [New].
type Options struct {
	// Collection is the path of the collection that holds the session
	// documents: a collection id such as "sessions", or a subcollection
	// path such as "apps/shop/sessions". Required.
	Collection string

	// Timeout bounds each call of the store (Load, Save, Delete), on top
	// of the deadline of the context it is given: the Go client retries an
	// unreachable Firestore until the context ends, and a request's context
	// often has no deadline. 0 means DefaultTimeout (10s); a negative
	// value sets no bound beyond the context's.
	Timeout time.Duration
}

var _ sessionplus.UserIndex = (*Store)(nil)

// Store keeps each session in one Firestore document. It is safe for
// concurrent use. Make one with [New] or [Driver.Open].
type Store struct {
	client   *gfirestore.Client
	coll     *gfirestore.CollectionRef
	nameSize int           // what the collection path adds to a document's size
	timeout  time.Duration // of each call; none if negative
	timedOut error         // the cause of a context ended by timeout
	owned    owned.Client  // the client Open built from project_id; none for a client passed in
}

var (
	_ sessionplus.Store            = (*Store)(nil)
	_ sessionplus.KeyPrefixChecker = (*Store)(nil)
	_ io.Closer                    = (*Store)(nil)
)

// New returns a store that keeps sessions in the collection opts.Collection
// through client. opts is required, since the collection has no default.
// The store never closes client: the caller does, after the store's last
// use. The errors wrap [sessionplus.ErrConfig].
func New(client *gfirestore.Client, opts *Options) (*Store, error) {
	if client == nil {
		return nil, sessionplus.ConfigErrorf("firestore: New: client is nil")
	}
	if opts == nil || opts.Collection == "" {
		return nil, sessionplus.ConfigErrorf(`firestore: New: Options.Collection is required: the collection that holds the sessions, such as "sessions"`)
	}
	if err := checkCollection(opts.Collection); err != nil {
		return nil, sessionplus.ConfigErrorf("firestore: New: Options.Collection: %v", err)
	}
	coll := client.Collection(opts.Collection)
	if coll == nil { // checkCollection should have said why
		return nil, sessionplus.ConfigErrorf("firestore: New: Options.Collection: %q is not a collection path", opts.Collection)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Store{
		client:   client,
		coll:     coll,
		nameSize: pathSize(opts.Collection),
		timeout:  timeout,
		timedOut: fmt.Errorf("no answer from Firestore within %v (the store's timeout)", timeout),
	}, nil
}

// CheckKeyPrefix reports whether the tokens the root package makes with
// key_prefix prefix (prefix, ":" and 43 base64url characters) can name
// documents: their ids, escaped, must be at most 1500 bytes. Its error
// wraps [sessionplus.ErrConfig]. The root package calls it at startup.
func (s *Store) CheckKeyPrefix(prefix string) error {
	if _, ok := docID(prefix + ":" + strings.Repeat("A", 43)); !ok {
		return sessionplus.ConfigErrorf(`firestore: key "key_prefix": %d bytes make document ids over Firestore's limit of %d bytes (with "%%XX" for "/", "%%" and control characters)`,
			len(prefix), maxIDBytes)
	}
	return nil
}

// Close closes the Firestore client if [Driver.Open] built it from
// project_id. A client passed in (the "client" option, or [New]) is left
// open. Close may be called more than once.
func (s *Store) Close() error { return s.owned.Close() }

// Load returns the record stored under token. It returns an error wrapping
// [sessionplus.ErrNotFound] when Firestore answers codes.NotFound, for a
// document that is not a record, and for a token that cannot name a
// document. A document whose expiry has passed but that Firestore's TTL
// policy has not deleted yet is returned as it is: the root package checks
// the expiry of every record.
func (s *Store) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	ref, ok := s.doc(token)
	if !ok {
		return sessionplus.Record{}, errBadToken
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		if isNotFound(ctx, err) {
			return sessionplus.Record{}, sessionplus.ErrNotFound
		}
		return sessionplus.Record{}, opErr("get", token, errOf(ctx, err))
	}
	return decodeDoc(snap)
}

// Save applies u to the document under token as [sessionplus.Kind]
// describes, and returns token:
//
//   - Create writes the whole document (Set), replacing any document there.
//   - Write updates the field paths of u.Set, deletes those of u.Del (with
//     firestore.Delete) and sets expires_at, and Touch sets expires_at
//     alone, both only if a live record is there (see Store.update);
//     otherwise they change nothing and return an error wrapping
//     [sessionplus.ErrNotFound].
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	ref, ok := s.doc(token)
	switch {
	case !ok && u.Kind == sessionplus.Create:
		return "", fmt.Errorf("firestore: the token cannot name a Firestore document (empty, or over %d bytes)", maxIDBytes)
	case !ok:
		return "", errBadToken
	}
	switch u.Kind {
	case sessionplus.Create:
		if err := s.checkSize(ref.ID, nil, u); err != nil {
			return "", err
		}
		if _, err := ref.Set(ctx, newDoc(u)); err != nil {
			return "", opErr("set", token, errOf(ctx, err))
		}
	case sessionplus.Write, sessionplus.Touch:
		if err := s.update(ctx, token, ref, u); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("firestore: unknown kind of save %v", u.Kind)
	}
	return token, nil
}

// UserRecords returns the live records indexed under user: one query on
// the document field user (an equality on one field, which Firestore's
// automatic single-field indexes serve; no composite index is needed, the
// expiry is checked here). A record is indexed by the same write that
// saves it, so the index costs no round trip of its own and goes with the
// document (a Delete, or the TTL policy on expires_at).
func (s *Store) UserRecords(ctx context.Context, user string) ([]sessionplus.UserRecord, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	snaps, err := s.coll.Where(userField, "==", userValue(user)).Documents(ctx).GetAll()
	if err != nil {
		return nil, opErr("query", "", errOf(ctx, err))
	}
	now := time.Now()
	out := make([]sessionplus.UserRecord, 0, len(snaps))
	for _, snap := range snaps {
		rec, err := decodeDoc(snap)
		if err != nil || !rec.Expiry.After(now) {
			continue // not a record of this driver, or expired: not a live session
		}
		out = append(out, sessionplus.UserRecord{Token: tokenOf(snap.Ref.ID), Record: rec})
	}
	return out, nil
}

// Delete removes the document under token, with a precondition that it
// exists. It returns an error wrapping [sessionplus.ErrNotFound] when there
// is none (Firestore answers codes.NotFound), and for a token that cannot
// name a document.
func (s *Store) Delete(ctx context.Context, token string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	ref, ok := s.doc(token)
	if !ok {
		return errBadToken
	}
	if _, err := ref.Delete(ctx, gfirestore.Exists); err != nil {
		if isNotFound(ctx, err) {
			return sessionplus.ErrNotFound
		}
		return opErr("delete", token, errOf(ctx, err))
	}
	return nil
}

// update applies a Write or a Touch u to the document of ref if it holds a
// live record, and otherwise changes nothing and returns an error wrapping
// [sessionplus.ErrNotFound]: a request in flight never brings back a
// session that a log-out deleted or that timed out, even while its expired
// document waits for Firestore's TTL policy.
//
// Firestore cannot make a write depend on a field's value, so update reads
// the document first: missing, not a record, or expired, it is left alone.
// A live one gets one Update of the changed field paths (firestore.Delete
// for the fields removed) and of expires_at, with the precondition that
// the document exists, so that a log-out between the read and the write
// makes the write fail with codes.NotFound. Updates of different field
// paths commute, so concurrent writes of different fields all land, with
// no retries.
//
// What remains is the expiry: the record must still be live when the
// write commits. The root package only ever moves a token's expiry later,
// so if the call returns before the expiry that was read, the commit came
// before it too. If it returns after, the commit may have come after the
// record expired, and may have revived it: update then deletes the
// document it wrote (unless something changed it since) and reports
// ErrNotFound. That takes a write that crosses its record's expiry, which
// is rare. No transaction is used: the Go client rolls a failed one back
// with a timeout of its own, past the caller's deadline.
func (s *Store) update(ctx context.Context, token string, ref *gfirestore.DocumentRef, u sessionplus.Update) error {
	snap, err := ref.Get(ctx)
	if err != nil {
		if isNotFound(ctx, err) {
			return sessionplus.ErrNotFound
		}
		return opErr("get", token, errOf(ctx, err))
	}
	expiry, ok := snap.Data()[expiryField].(time.Time)
	if !ok || !time.Now().Before(expiry) {
		return errExpired // or not a record: nothing to write to
	}
	if u.Kind == sessionplus.Write {
		if err := s.checkSize(ref.ID, snap, u); err != nil {
			return err
		}
	}
	wr, err := ref.Update(ctx, fieldUpdates(u)) // with an exists precondition
	switch {
	case err == nil && time.Now().Before(expiry):
		return nil
	case err == nil:
		return s.undo(ctx, token, ref, wr.UpdateTime)
	case isNotFound(ctx, err):
		return sessionplus.ErrNotFound // deleted since the read: a log-out
	}
	return opErr("update", token, errOf(ctx, err))
}

// undo deletes the document that a write of update committed at written,
// if nothing changed it since, and reports ErrNotFound: the write may have
// landed after the record had expired.
func (s *Store) undo(ctx context.Context, token string, ref *gfirestore.DocumentRef, written time.Time) error {
	_, err := ref.Delete(ctx, gfirestore.LastUpdateTime(written))
	if err != nil && !isNotFound(ctx, err) && (ctx.Err() != nil || status.Code(err) != codes.FailedPrecondition) {
		return opErr("delete", token, errOf(ctx, err))
	}
	return errExpired
}

// maxDocBytes is Firestore's limit on the size of a document.
const maxDocBytes = 1 << 20

// checkSize returns an error wrapping [sessionplus.ErrRecordTooLarge] if the
// document with the id id would be over Firestore's limit after u: u
// applied to the record of cur, or, when cur is nil or u is a Create, u.Set
// alone. Sizes are counted as Firestore documents them
// (https://firebase.google.com/docs/firestore/storage-size): a string is
// its UTF-8 bytes plus one, bytes their length, a timestamp 8, a map the
// sum of its keys and values, a document its name (its path's ids, plus
// 16), its fields' names and values, plus 32.
func (s *Store) checkSize(id string, cur *gfirestore.DocumentSnapshot, u sessionplus.Update) error {
	data := 0
	changed := make(map[string]bool, len(u.Set)+len(u.Del))
	for name, v := range u.Set {
		key := encodeField(name)
		changed[key] = true
		data += len(key) + 1 + len(v)
	}
	if cur != nil && u.Kind != sessionplus.Create {
		for _, name := range u.Del {
			changed[encodeField(name)] = true
		}
		old, _ := cur.Data()[dataField].(map[string]any)
		for key, v := range old {
			if !changed[key] {
				data += len(key) + 1 + valueSize(v)
			}
		}
	}
	size := s.nameSize + len(id) + 1 + 16 + 32 + len(dataField) + 1 + data + len(expiryField) + 1 + 8
	if size > maxDocBytes {
		return fmt.Errorf("firestore: %w: the document would be %d bytes, over Firestore's limit of %d", sessionplus.ErrRecordTooLarge, size, maxDocBytes)
	}
	return nil
}

// valueSize returns the size of a stored value as Firestore counts it.
func valueSize(v any) int {
	switch v := v.(type) {
	case []byte:
		return len(v)
	case string:
		return len(v) + 1
	}
	return 8 // a timestamp or a number; a null is 1
}

// pathSize returns what the ids of a collection path add to the size of a
// document's name.
func pathSize(path string) int {
	n := 0
	for _, id := range strings.Split(path, "/") {
		n += len(id) + 1
	}
	return n
}

var (
	errBadToken = fmt.Errorf("%w (the token cannot name a Firestore document)", sessionplus.ErrNotFound)
	errExpired  = fmt.Errorf("%w (expired)", sessionplus.ErrNotFound)
)

// withTimeout returns ctx bounded by the store's timeout.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout < 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, s.timeout, s.timedOut)
}

// doc returns the document of token, and false if token cannot name one.
func (s *Store) doc(token string) (*gfirestore.DocumentRef, bool) {
	id, ok := docID(token)
	if !ok {
		return nil, false
	}
	ref := s.coll.Doc(id)
	return ref, ref != nil
}

// newDoc returns the document of the record a Create u writes, with its
// user.
func newDoc(u sessionplus.Update) map[string]any {
	data := make(map[string]any, len(u.Set))
	for name, v := range u.Set {
		if v == nil {
			v = []byte{} // a nil slice would be stored as null
		}
		data[encodeField(name)] = v
	}
	doc := map[string]any{dataField: data, expiryField: u.Expiry}
	if u.User != "" {
		doc[userField] = userValue(u.User)
	}
	return doc
}

// userValue is how a user key is stored in the user field:
// [userkey.Stored] with the rule that a Firestore query takes only valid
// UTF-8 (and at most 1500 bytes, which Stored's 512 keeps inside).
func userValue(user string) string {
	return userkey.Stored(user, utf8.ValidString)
}

// fieldUpdates returns the updates of a Write: one field path per field
// set or deleted, the user with SetUser, and the expiry (only the expiry
// for a Touch, whose Set and Del are empty).
func fieldUpdates(u sessionplus.Update) []gfirestore.Update {
	ups := make([]gfirestore.Update, 0, len(u.Set)+len(u.Del)+1)
	for name, v := range u.Set {
		if v == nil {
			v = []byte{}
		}
		ups = append(ups, gfirestore.Update{FieldPath: gfirestore.FieldPath{dataField, encodeField(name)}, Value: v})
	}
	for _, name := range u.Del {
		ups = append(ups, gfirestore.Update{FieldPath: gfirestore.FieldPath{dataField, encodeField(name)}, Value: gfirestore.Delete})
	}
	switch {
	case u.SetUser && u.User != "":
		ups = append(ups, gfirestore.Update{Path: userField, Value: userValue(u.User)})
	case u.SetUser:
		ups = append(ups, gfirestore.Update{Path: userField, Value: gfirestore.Delete})
	}
	return append(ups, gfirestore.Update{Path: expiryField, Value: u.Expiry})
}

// decodeDoc returns the record of a document. A document that is not a
// record (no expires_at timestamp, no data map, a value that is not bytes)
// is reported as not found: it can only have been written by something
// else, and a new session replaces it.
func decodeDoc(snap *gfirestore.DocumentSnapshot) (sessionplus.Record, error) {
	doc := snap.Data()
	expiry, ok := doc[expiryField].(time.Time)
	if !ok {
		return sessionplus.Record{}, fmt.Errorf("%w (malformed document: %s is not a timestamp)", sessionplus.ErrNotFound, expiryField)
	}
	var data map[string]any
	switch d := doc[dataField].(type) {
	case map[string]any:
		data = d
	case nil: // an empty map may read back as null
	default:
		return sessionplus.Record{}, fmt.Errorf("%w (malformed document: %s is a %T, not a map)", sessionplus.ErrNotFound, dataField, d)
	}
	values := make(map[string][]byte, len(data))
	for key, v := range data {
		switch v := v.(type) {
		case []byte:
			if v == nil {
				v = []byte{}
			}
			values[decodeField(key)] = v
		case nil:
			values[decodeField(key)] = []byte{}
		default:
			return sessionplus.Record{}, fmt.Errorf("%w (malformed document: field %q is a %T, not bytes)", sessionplus.ErrNotFound, decodeField(key), v)
		}
	}
	return sessionplus.Record{Values: values, Expiry: expiry}, nil
}

// isNotFound reports whether err is Firestore's codes.NotFound, the only
// answer that means "no such document". An error of a context that is done
// never is, whatever its code.
func isNotFound(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && status.Code(err) == codes.NotFound
}

// errOf returns ctx's error if ctx is done (the cause of err, whatever the
// client made of it; with the store's timeout, says so), and err otherwise, wrapping
// [sessionplus.ErrRecordTooLarge] too if Firestore refused a document over
// its size limit (checkSize should have caught it, unless concurrent writes
// made the document grow).
func errOf(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if cause := context.Cause(ctx); cause != nil && cause != cerr {
			return fmt.Errorf("%w: %w", cerr, cause)
		}
		return cerr
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument &&
		strings.Contains(st.Message(), "maximum allowed size") {
		return fmt.Errorf("%w: %w", sessionplus.ErrRecordTooLarge, err)
	}
	return err
}

// opError is the error of a Firestore call (get, set, update, delete).
// The root package removes the token from the errors of a store; when the
// token's document id is not the token itself (it was escaped, see
// names.go), the message leaves out that id too, which Firestore's
// messages may contain (they name the document).
type opError struct {
	op     string
	err    error
	redact string // the escaped document id; "" if none
}

// opErr returns the error of the call op on the document of token.
func opErr(op, token string, err error) error {
	e := &opError{op: op, err: err}
	if id, ok := docID(token); ok && id != token {
		e.redact = id
	}
	return e
}

func (e *opError) Error() string {
	msg := e.err.Error()
	if e.redact != "" {
		msg = strings.ReplaceAll(msg, e.redact, "<token>")
	}
	return "firestore: " + e.op + ": " + msg
}

func (e *opError) Unwrap() error { return e.err }

// reconnect bounds how long a client the driver builds waits between two
// attempts to reach a Firestore that went away: gRPC's default backoff grows
// to two minutes, so sessions would stay unavailable long after Firestore
// is back.
var reconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 5 * time.Second,
})

// newClient builds the client of the project_id option, as
// firestore.NewClient does (the emulator at FIRESTORE_EMULATOR_HOST when it
// is set), with the reconnect backoff above.
func newClient(ctx context.Context, projectID string) (*gfirestore.Client, error) {
	addr := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if addr == "" {
		return gfirestore.NewClient(ctx, projectID, option.WithGRPCDialOption(reconnect))
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(emulatorCreds{}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		reconnect)
	if err != nil {
		return nil, fmt.Errorf("dialing FIRESTORE_EMULATOR_HOST: %w", err)
	}
	c, err := gfirestore.NewClient(ctx, projectID, option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// emulatorCreds authenticates to the emulator as its owner, as the
// firestore package does for FIRESTORE_EMULATOR_HOST.
type emulatorCreds struct{}

func (emulatorCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (emulatorCreds) RequireTransportSecurity() bool { return false }
