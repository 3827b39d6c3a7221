// Package firestore provides the session driver that keeps server-side
// sessions in Google Cloud Firestore, through
// [cloud.google.com/go/firestore]. It registers itself under the
// session_type "firestore" ([Name]) when imported:
//
//	import _ "github.com/sessionplus/sessionplus/drivers/firestore"
//
// A session then selects it with a client of its own:
//
//	client, err := firestore.NewClient(ctx, "my-project") // cloud.google.com/go/firestore
//	...
//	sessionplus.Options{
//		"cookie_name":  "session",
//		"session_type": "firestore",
//		"client":       client,
//		"collection":   "sessions",
//	}
//
// or with the project id alone, when the configuration comes from a file:
//
//	{"cookie_name": "session", "session_type": "firestore", "project_id": "my-project", "collection": "sessions"}
//
// # Options
//
// Besides the common keys (cookie_*, session_*, key_prefix, use_signer,
// hash_ids), which the root package reads, a firestore session takes:
//
//   - client (*firestore.Client of cloud.google.com/go/firestore): the client
//     to use. The store never closes it. Either client or project_id is
//     required, not both.
//   - project_id (string): the Google Cloud project whose (default) database
//     holds the sessions. The store builds its client with
//     firestore.NewClient and the Application Default Credentials, or, when
//     the environment variable FIRESTORE_EMULATOR_HOST is set, for the
//     emulator at that address (the Go client does that by itself).
//     [Store.Close], which the root package's Manager.Close calls, closes
//     that client. For another database, or other client options, build
//     the client yourself and pass it as client.
//   - collection (string): the collection that holds the session documents,
//     such as "sessions", or a subcollection path such as
//     "apps/shop/sessions". Required; there is no default.
//   - timeout (duration: a time.Duration, "5s", or whole seconds): the
//     longest one Load, Save or Delete may take, on top of the deadline of
//     the request's context. Default [DefaultTimeout], 10s; a negative
//     duration sets none. The Go client retries an unreachable Firestore
//     until the context ends, and a request's context often has no
//     deadline: without a bound, an outage would hang every request.
//
// Any other key, a value of the wrong type, a missing required key, both
// client and project_id, and a timeout of 0 are errors wrapping
// [sessionplus.ErrConfig] that name the key. The root package finds them
// all when it checks the configuration, before any backend is contacted.
//
// # Documents
//
// A session is one document, <collection>/<token>, where the token is the
// storage key the root package derives from the session id: key_prefix,
// ":", and by default the SHA-256 of the id in base64url (so a leaked
// database holds no usable session id; see hash_ids). A document holds two fields:
//
//   - data: a map with one entry per session field, its value the field's
//     encoded bytes (a Firestore bytes value);
//   - expires_at: the absolute expiry of the session (a timestamp).
//
// Firestore refuses some document ids and field names: ids with "/", "."
// and "..", names that are empty, and both when they match __.*__ or are not
// valid UTF-8. Such tokens and names are stored escaped, with %XX for each
// byte that could be refused (and for "%" itself), as URLs do; the common
// ones, "session:..." and names such as "user_id" or "cart.items", are
// stored as they are. Field names come back from [Store.Load] unchanged.
// A token whose escaped id would be over Firestore's 1500 bytes is never
// found, and cannot be saved; [Store.CheckKeyPrefix], which the root
// package calls at startup, refuses a key_prefix that would make such ids.
//
// Firestore limits a document to 1 MiB, which bounds a session's size. A
// save that would make the document larger fails, before anything is
// written, with an error wrapping [sessionplus.ErrRecordTooLarge] (the size
// is counted as Firestore documents it: names, values, and a few bytes of
// overhead).
//
// # Writes
//
// A new session, or a new id after Regenerate, is written whole (Set,
// replacing any document under its id). A change to a session that exists
// writes only the changed fields: one Update of the field paths
// data.<name> that were set, the ones deleted with firestore.Delete, and
// expires_at. Updates of different field paths do not overwrite each
// other, so two requests of one user that change different fields both
// land. A session that a request leaves unchanged is kept alive, once in a
// while, by an Update of expires_at alone.
//
// Neither kind of update creates a document, nor brings back one that a
// log-out deleted or that expired: an Update carries the precondition that
// the document exists, and an expired session's document may still be there
// (see below), while Firestore cannot make a write depend on a field's
// value. So a field-level write or a keep-alive first reads the document
// (each costs a document read and a write), and one that is missing, not
// a session, or expired gets no write: Save returns an error wrapping
// [sessionplus.ErrNotFound]. A log-out between the read and the write
// makes the Update fail with codes.NotFound, reported the same way. The
// root package only ever moves a session's expiry later, so if Save
// returns before the expiry it read, the write committed while the session
// was live; a write answered only after that expiry may have come too late,
// and the store then deletes the document it wrote (with a last-update-time
// precondition, so that nothing written since is lost) and reports
// ErrNotFound. No transaction is used: the Go client rolls back a failed
// one with a timeout of its own, past the request's deadline.
//
// Deleting a session is a Delete with the precondition that the document
// exists: deleting one that does not (codes.NotFound) returns an error
// wrapping [sessionplus.ErrNotFound], which tells the root package that
// another request ended the session first.
//
// # Expiry
//
// Firestore deletes expired documents with a TTL policy on expires_at,
// which you set once per collection group (the last id of collection; add
// --database for a database other than "(default)"), with the gcloud CLI:
//
//	gcloud firestore fields ttls update expires_at \
//		--collection-group=sessions --enable-ttl
//
// or in the Google Cloud console (Firestore, Time-to-live). Without the
// policy, expired sessions are never served but their documents stay until
// overwritten. The policy deletes late: Google documents "typically within
// 24 hours after its expiration date" (some of its pages say 72). Until
// then [Store.Load] returns the expired record as it is stored, and the
// root package, which checks the expiry of every record it loads, treats
// it as absent; writes leave it alone (see above). The store starts no
// background work of its own.
//
// Nothing queries the session documents, so their fields need no indexes,
// while Firestore indexes every field by default: an index entry per
// session field, stored and updated with every write. Exempting both fields
// saves that, and avoids the write hotspots that Google warns an indexed
// TTL timestamp can cause:
//
//	gcloud firestore indexes fields update data --collection-group=sessions --disable-indexes
//	gcloud firestore indexes fields update expires_at --collection-group=sessions --disable-indexes
//
// # Users' sessions (UserIndex)
//
// The store implements [sessionplus.UserIndex] (see Config.UserField): a
// record of a logged-in user carries the user in the document's top-level
// field "user" (the user key; "\x01sha256:" and its digest for a key that
// is not valid UTF-8 or over 512 bytes, as a query takes at most 1500, and
// for a key that starts with "\x01sha256:" itself, so that no user's key
// names another user's records),
// next to data and expires_at, so session fields (under data) can never
// be mistaken for it. The write that saves the record sets it: a Create's
// Set writes or drops it, a Write that changes the user updates or deletes
// it in its one precondition-guarded Update (a record that a revocation
// deleted fails the precondition and is not indexed again), and other
// Writes and Touches leave it. No save costs an RPC more than without the
// index, a login included (TestUserIndexRPCs counts them: a Create is one
// Commit, a Write or Touch a BatchGetDocuments and a Commit, with a user
// or without). [Store.UserRecords] is one query, an equality
// on user, which Firestore's automatic single-field index serves (no
// composite index to create; the expiry is checked on the results). The
// index goes with the document: a Delete, or the TTL policy on expires_at.
//
// # Errors
//
// codes.NotFound from Firestore is the only answer that means "no such
// session" (besides, for a write, a document that has expired or is not a
// session). Every other error, including a context that is canceled or
// past its deadline, is returned as an error that names the Firestore call
// that failed ("firestore: get: ...", or set, update, delete; the root
// package adds the session and its own operation) and wraps the cause: the
// context's error when the context is done (so errors.Is(err,
// context.DeadlineExceeded) holds), Firestore's status otherwise
// (status.Code gives its code). Firestore's messages name the document:
// the root package removes the token from a store's errors, and where a
// token's document id is escaped (so not the token itself), the store
// replaces that id with "<token>".
//
// # Reconnecting
//
// gRPC waits ever longer between attempts to reach a server that went away
// (up to two minutes by default), and sessions stay unavailable meanwhile.
// The client the driver builds from project_id caps that wait at one
// second. For a client passed in "client", dial it the same way:
//
//	grpc.WithConnectParams(grpc.ConnectParams{
//		Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
//	})
//
// (with option.WithGRPCDialOption for firestore.NewClient).
//
// # Constructor
//
// [New] builds a store from a client without the registry, for wiring in
// code or for a store passed as "store" to the root package:
//
//	st, err := firestore.New(client, &firestore.Options{Collection: "sessions"})
//
// [Options] holds what the collection and timeout keys set.
//
// The store is safe for concurrent use.
package firestore
