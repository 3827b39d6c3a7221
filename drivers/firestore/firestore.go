package firestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	gfirestore "cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sessionplus/sessionplus"
)

// Name is the session_type under which the driver registers.
const Name = "firestore"

// Names of the fields of a session document.
const (
	dataField   = "data"       // a map: one entry of bytes per session field
	expiryField = "expires_at" // a timestamp: the record's absolute expiry
)

// DefaultTimeout is how long one call of a [Store] may take by default
// (see [Options.Timeout]).
const DefaultTimeout = 10 * time.Second

// fastMargin is how far a document's expiry must be from now for a
// field-level write or a keep-alive to update it without a transaction
// (see Store.update).
const fastMargin = time.Minute

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
func (Driver) Open(ctx context.Context, opts sessionplus.Options) (sessionplus.Store, error) {
	var o options
	if err := sessionplus.DecodeOptions(opts, &o); err != nil {
		return nil, err
	}
	_, hasClient := opts["client"]
	_, hasProject := opts["project_id"]
	switch {
	case hasClient && hasProject:
		return nil, sessionplus.ConfigErrorf(`key "project_id": set either "client" or "project_id", not both`)
	case hasClient && o.Client == nil:
		return nil, sessionplus.ConfigErrorf(`key "client": expected a *firestore.Client, got nil`)
	case hasProject && o.ProjectID == "":
		return nil, sessionplus.ConfigErrorf(`key "project_id": expected a Google Cloud project id, got an empty string`)
	case !hasClient && !hasProject:
		return nil, sessionplus.ConfigErrorf(`key "client" or "project_id": one is required: ` +
			`a *firestore.Client, or the project id to build one with the default credentials (or FIRESTORE_EMULATOR_HOST)`)
	}
	if _, ok := opts["collection"]; !ok || o.Collection == "" {
		return nil, sessionplus.ConfigErrorf(`key "collection": required: the collection that holds the sessions, such as "sessions"`)
	}
	if err := checkCollection(o.Collection); err != nil {
		return nil, sessionplus.ConfigErrorf(`key "collection": %v`, err)
	}
	timeout := DefaultTimeout
	if o.Timeout != nil {
		if *o.Timeout == 0 {
			return nil, sessionplus.ConfigErrorf(`key "timeout": expected a duration such as "5s" (or a negative one for no timeout), got 0`)
		}
		timeout = *o.Timeout
	}

	client, owned := o.Client, false
	if client == nil {
		c, err := newClient(ctx, o.ProjectID)
		if err != nil {
			return nil, sessionplus.ConfigErrorf(`key "project_id": cannot create a Firestore client: %v`, err)
		}
		client, owned = c, true
	}
	st, err := New(client, &Options{Collection: o.Collection, Timeout: timeout})
	if err != nil {
		if owned {
			client.Close()
		}
		return nil, err // not a typed nil *Store in a non-nil Store
	}
	st.owned = owned
	return st, nil
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

// Store keeps each session in one Firestore document. It is safe for
// concurrent use. Make one with [New] or [Driver.Open].
type Store struct {
	client   *gfirestore.Client
	coll     *gfirestore.CollectionRef
	nameSize int           // what the collection path adds to a document's size
	timeout  time.Duration // of each call; none if negative
	timedOut error         // the cause of a context ended by timeout
	owned    bool          // the client was built by Open, so Close closes it

	closeOnce sync.Once
	closeErr  error
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
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.owned {
			s.closeErr = s.client.Close()
		}
	})
	return s.closeErr
}

// Load returns the record stored under token. It returns an error wrapping
// [sessionplus.ErrNotFound] when Firestore answers codes.NotFound, when the
// document has expired (whether or not the TTL policy has deleted it yet),
// and for a token that cannot name a document.
func (s *Store) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return sessionplus.Record{}, fmt.Errorf("firestore: %w", err)
	}
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
	rec, err := decodeDoc(snap)
	if err != nil {
		return sessionplus.Record{}, err
	}
	if !time.Now().Before(rec.Expiry) {
		return sessionplus.Record{}, errExpired
	}
	return rec, nil
}

// Save applies u to the document under token as [sessionplus.Update]
// describes, and returns token:
//
//   - Replace writes the whole document (Set).
//   - A field-level write updates the field paths of u.Set, deletes those
//     of u.Del and sets expires_at, or writes a new document from u.Set
//     alone when no live one exists.
//   - A keep-alive updates expires_at only, and fails with an error
//     wrapping [sessionplus.ErrNotFound] when no live document exists.
//
// A Replace or field-level write whose expiry has already passed deletes
// the document instead.
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("firestore: %w", err)
	}
	ref, ok := s.doc(token)
	if !ok {
		if (u.Kind == sessionplus.Touch) {
			return "", errBadToken
		}
		return "", fmt.Errorf("firestore: the token cannot name a Firestore document (empty, or over %d bytes)", maxIDBytes)
	}
	var err error
	switch {
	case !time.Now().Before(u.Expiry) && (u.Kind != sessionplus.Touch):
		// Expired already: nothing to keep. (A keep-alive into the past
		// goes on below, to report a missing record as usual.)
		if _, err := ref.Delete(ctx); err != nil {
			return "", opErr("delete", token, errOf(ctx, err))
		}
	case (u.Kind == sessionplus.Create):
		if err := s.checkSize(ref.ID, nil, u); err != nil {
			return "", err
		}
		if _, err := ref.Set(ctx, newDoc(u.Set, u.Expiry)); err != nil {
			return "", opErr("set", token, errOf(ctx, err))
		}
	default:
		err = s.update(ctx, token, ref, u)
	}
	if err != nil {
		return "", err
	}
	return token, nil
}

// Delete removes the document under token. Deleting a document that does
// not exist, or a token that cannot name one, returns nil.
func (s *Store) Delete(ctx context.Context, token string) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("firestore: %w", err)
	}
	ref, ok := s.doc(token)
	if !ok {
		return nil
	}
	if _, err := ref.Delete(ctx); err != nil {
		return opErr("delete", token, errOf(ctx, err))
	}
	return nil
}

// update applies a field-level write or a keep-alive u to the document of
// ref if it holds a live record. Otherwise a field-level write replaces the
// document with one made of u.Set alone, and a keep-alive fails with
// [sessionplus.ErrNotFound]. Either way the fields of an expired record are
// never revived.
//
// Firestore cannot make a write depend on a field's value, so update reads
// the document first. When the document is live and its expiry is more
// than fastMargin away (and beyond ctx's deadline), the write goes out as
// one Update of the changed field paths with an exists precondition:
// updates of different field paths commute, so concurrent writes of
// different fields all land. The margin keeps the document from expiring
// between that read and that write. A live document closer to its expiry
// is updated with a last-update-time precondition. A missing or expired
// one is deleted (with that precondition) and created afresh from u.Set;
// a concurrent writer that wins a race makes the write fail and update
// decides again, at most three times. No transaction is used: the Go
// client rolls a failed one back with a timeout of its own, past the
// caller's deadline. A keep-alive of a document that is missing or expired
// fails at once.
func (s *Store) update(ctx context.Context, token string, ref *gfirestore.DocumentRef, u sessionplus.Update) error {
	keepAlive := (u.Kind == sessionplus.Touch)
	ups := fieldUpdates(u)
	now := time.Now()
	margin := fastMargin
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) > margin {
		margin = dl.Sub(now)
	}
	// Decide from a read, then write; a concurrent writer that changes the
	// picture in between makes the write fail and the decision is made
	// again. No transaction: the client's rollback of a failed one runs
	// with a timeout of its own, past the caller's deadline.
	for attempt := 0; ; attempt++ {
		snap, err := ref.Get(ctx)
		if err != nil && !isNotFound(ctx, err) {
			return opErr("get", token, errOf(ctx, err))
		}
		exists := err == nil
		switch {
		case exists && liveUntil(snap, now.Add(margin)):
			if err := s.checkSize(ref.ID, snap, u); err != nil {
				return err
			}
			_, err := ref.Update(ctx, ups) // Update fails on a missing document
			if err == nil {
				return nil
			}
			if !isNotFound(ctx, err) {
				return opErr("update", token, errOf(ctx, err))
			}
			// Deleted since the read: decide again.
		case keepAlive && (!exists || !liveUntil(snap, now)):
			return sessionplus.ErrNotFound // nothing to keep alive
		case exists && liveUntil(snap, now):
			// Live, but close to its expiry: write only if nothing changed
			// it since the read (on Firestore; the emulator ignores the
			// precondition).
			if err := s.checkSize(ref.ID, snap, u); err != nil {
				return err
			}
			_, err := ref.Update(ctx, ups, gfirestore.LastUpdateTime(snap.UpdateTime))
			if err == nil {
				return nil
			}
			if !isNotFound(ctx, err) && status.Code(err) != codes.FailedPrecondition {
				return opErr("update", token, errOf(ctx, err))
			}
		default:
			// Missing, expired or about to expire: the record starts
			// afresh from the fields of this write, so that an expired
			// record's fields never come back.
			if err := s.checkSize(ref.ID, nil, u); err != nil {
				return err
			}
			if exists {
				_, err := ref.Delete(ctx, gfirestore.LastUpdateTime(snap.UpdateTime))
				if err != nil && !isNotFound(ctx, err) && status.Code(err) != codes.FailedPrecondition {
					return opErr("delete", token, errOf(ctx, err))
				}
			}
			_, err := ref.Create(ctx, newDoc(u.Set, u.Expiry))
			if err == nil {
				return nil
			}
			if ctx.Err() != nil || status.Code(err) != codes.AlreadyExists {
				return opErr("create", token, errOf(ctx, err))
			}
			// Created by a concurrent request: decide again.
		}
		if attempt == 2 {
			return opErr("update", token, errors.New("the document kept changing under three attempts"))
		}
	}
}

// maxDocBytes is Firestore's limit on the size of a document.
const maxDocBytes = 1 << 20

// checkSize returns an error wrapping [sessionplus.ErrRecordTooLarge] if the
// document with the id id would be over Firestore's limit after u: u
// applied to the record of cur, or, when cur is nil or u replaces, u.Set
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
	if cur != nil && (u.Kind != sessionplus.Create) {
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
	errNotLive  = errors.New("firestore: no live document")
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

// newDoc returns the document of a record made of values, expiring at
// expiry.
func newDoc(values map[string][]byte, expiry time.Time) map[string]any {
	data := make(map[string]any, len(values))
	for name, v := range values {
		if v == nil {
			v = []byte{} // a nil slice would be stored as null
		}
		data[encodeField(name)] = v
	}
	return map[string]any{dataField: data, expiryField: expiry}
}

// fieldUpdates returns the updates of a field-level write: one field path
// per field set or deleted, and the expiry (only the expiry for a
// keep-alive).
func fieldUpdates(u sessionplus.Update) []gfirestore.Update {
	ups := make([]gfirestore.Update, 0, len(u.Set)+len(u.Del)+1)
	for name, v := range u.Set {
		if v == nil {
			v = []byte{}
		}
		ups = append(ups, gfirestore.Update{FieldPath: gfirestore.FieldPath{dataField, encodeField(name)}, Value: v})
	}
	for _, name := range u.Del {
		if _, set := u.Set[name]; set {
			continue // never both, says Update; if so, the value wins
		}
		ups = append(ups, gfirestore.Update{FieldPath: gfirestore.FieldPath{dataField, encodeField(name)}, Value: gfirestore.Delete})
	}
	return append(ups, gfirestore.Update{Path: expiryField, Value: u.Expiry})
}

// liveUntil reports whether snap holds a well-formed record that expires
// after t.
func liveUntil(snap *gfirestore.DocumentSnapshot, t time.Time) bool {
	if snap == nil || !snap.Exists() {
		return false
	}
	exp, ok := snap.Data()[expiryField].(time.Time)
	return ok && t.Before(exp)
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

// opError is the error of a Firestore call (get, set, update, delete,
// transaction). Its message leaves out the token and the document id,
// which Firestore's messages may contain (they name the document).
type opError struct {
	op      string
	err     error
	redacts []string
}

// opErr returns the error of the call op on the document of token.
func opErr(op, token string, err error) error {
	e := &opError{op: op, err: err}
	// Tokens the root package makes are 45 characters or more; replacing
	// very short ones would garble the message for no gain.
	if len(token) >= 8 {
		e.redacts = append(e.redacts, token)
		if id, ok := docID(token); ok && id != token {
			e.redacts = append(e.redacts, id)
		}
	}
	return e
}

func (e *opError) Error() string {
	msg := e.err.Error()
	for _, r := range e.redacts {
		msg = strings.ReplaceAll(msg, r, "<token>")
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
