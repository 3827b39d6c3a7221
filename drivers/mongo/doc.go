// Package mongo is the MongoDB session driver, registered as session_type
// "mongodb" ([Name]), on the official Go driver
// [go.mongodb.org/mongo-driver/v2/mongo].
//
// Importing the package for its side effect registers the driver:
//
//	import _ "github.com/sessionplus/sessionplus/drivers/mongo"
//
// A session then selects it with
//
//	sessionplus.Options{
//		"cookie_name":  "session",
//		"session_type": "mongodb",
//		"url":          "mongodb://db1:27017,db2:27017,db3:27017/?replicaSet=rs0",
//		"db":           "app",
//		"collection":   "sessions",
//	}
//
// The package is named mongo, like the official driver's; code that uses
// both imports one under another name, such as
// gomongo "go.mongodb.org/mongo-driver/v2/mongo".
//
// # Options
//
// Besides the common keys (cookie_*, session_*, key_prefix, ...):
//
//   - client (*mongo.Client of go.mongodb.org/mongo-driver/v2/mongo): a
//     connected client. The caller keeps it: closing the session manager
//     does not disconnect it. Give client or url, not both.
//   - url (string): a connection string, "mongodb://" or "mongodb+srv://",
//     with every option the official driver takes in it: a replica set
//     ("mongodb://h1,h2,h3/?replicaSet=rs0"), credentials, TLS, timeouts.
//     The driver connects with it and disconnects when the manager is
//     closed; its connectTimeoutMS and serverSelectionTimeoutMS default to
//     the store's timeout (the official driver's are 30s). Give client or
//     url, not both.
//   - db (string): the database of the sessions. Required.
//   - collection (string): the collection of the sessions. Required; it is
//     created by the first write if it does not exist.
//   - create_indexes (bool): create the TTL index on expires_at when the
//     store opens (see Expiry). Default true; set false when the index is
//     managed elsewhere or the user may not create indexes.
//   - timeout (duration: a time.Duration, a string such as "5s", or whole
//     seconds; default 5s, [DefaultTimeout]): the longest any one
//     operation of the store may take (Load, Save, Delete, and each step
//     of Open: the ping and CreateIndexes). An operation ends at the
//     earlier of the caller's deadline and this bound, for a client passed
//     in as for one built from url: a request's context often has no
//     deadline, and a server that never answers would otherwise hold every
//     request (the official driver alone waits 30s to find a server, and
//     longer for an answer on a connection that hangs). A save or
//     delete waiting behind another of the same session (see Servers of
//     the MongoDB protocol) waits within the same bound. It must be
//     positive. [Store.Sweep] is bounded by its context only, since one
//     sweep may delete many documents: give it a context with a deadline.
//
// Open pings the server once, through the primary, so a wrong url or a
// server that is down fails at startup rather than at the first request.
// Errors in the options wrap [sessionplus.ErrConfig] and name the key; they
// are found when the options are decoded, before any server of any session
// is contacted, except the mistakes of a "mongodb+srv://" url, which show
// only once Open looks up its DNS records.
//
// An operation that ran out of time (the caller's deadline or the store's
// timeout) fails with an error that is errors.Is context.DeadlineExceeded
// (context.Canceled where the caller canceled) and never wraps
// [sessionplus.ErrNotFound]; the store's timeout says so: "no answer from
// MongoDB within 5s (the store's timeout)". A write that timed out may
// still have been applied by the server.
//
// Sessions are read from the primary whatever the read preference of the
// url or client: a read from a lagging secondary could miss the last write
// of a session. There are no transactions: every save and delete is one
// command on one document.
//
// # Document
//
// A session is one document of the collection:
//
//	{_id: <token>, data: {<field>: <binary>, ...}, expires_at: <date>}
//
// _id is the storage key that the root package hands the driver (by
// default key_prefix, ":" and a hash of the session id, so the database
// holds no usable session ids), each value is the field's encoded value as
// BSON binary (subtype 0), and expires_at is the session's absolute
// deadline. BSON dates have millisecond precision, so an expiry is stored
// to the millisecond.
//
// A document holds at most 16 MiB, MongoDB's limit: a save over it fails
// with an error wrapping [sessionplus.ErrRecordTooLarge] and changes
// nothing (the driver checks the fields of each save itself, for servers
// that do not enforce the limit). An _id holds at most 1024 bytes, so a
// key_prefix over 980 bytes fails the configuration at startup.
//
// A new session, or one whose id changes ([sessionplus.Create]), is
// written whole with one ReplaceOne (upsert). Changing a session
// ([sessionplus.Write]) is one UpdateOne, without upsert, on the filter
// {_id: <token>, expires_at: {$gt: <now>}}, that $sets data.<field> for
// each changed field and expires_at, and $unsets data.<field> for each
// removed field: fields that this request did not change are not written,
// so two requests that change different fields of one session both land.
// Keeping an unchanged session alive ([sessionplus.Touch]) is the same
// UpdateOne with a $set of expires_at alone. A Write or Touch that matches
// no document changes nothing and returns [sessionplus.ErrNotFound]: the
// check and the write are one command, so a request in flight never
// brings back a session that another request logged out or that expired.
// Ending a session is one DeleteOne; deleting a token with no document
// returns ErrNotFound.
//
// # Field names
//
// Field names are stored so that MongoDB takes each as one key of data,
// never as a path or an operator, and they come back unchanged. In each
// name, ".", "$" and "%", control characters (NUL included) and bytes that
// are not UTF-8 are percent-encoded ("%2E", "%24", "%25", ...: "a.b" is
// stored as "a%2Eb"), and the empty name is stored as "%". Every other
// character, non-ASCII letters included, is kept, so common names such as
// "user_id" are stored as they are.
//
// # Expiry
//
// With create_indexes, Open creates a TTL index on expires_at
// (expireAfterSeconds 0): the server deletes expired sessions itself, in a
// pass about once a minute. Whatever the TTL monitor does, every read,
// keep-alive and field-level write filters on expires_at > now, so an
// expired session is never served, kept alive or brought back by a later
// write.
//
// A server that cannot create the TTL index, because it does not implement
// TTL indexes (FerretDB v1 answers NotImplemented, code 238) or because an
// index on expires_at exists already with other options, does not fail
// Open: one warning goes to the configured logger, and a plain index on
// expires_at is made where there is none. Expired documents then stay
// stored until deleted: call [Store.Sweep] periodically, from one app
// instance, to delete them.
//
// # Servers of the MongoDB protocol
//
// MongoDB applies each update to a document atomically. FerretDB v1
// applies one as a read of the document and a write of the whole document
// back, with no lock in between, so two updates of one session at the same
// time can lose a field, and an update that read the document just before
// a delete reports a match though it wrote nothing. The driver serializes
// the saves and deletes of a session within one [Store], so the concurrent
// requests of one app instance are safe on such a server; the requests of
// several instances that share a FerretDB are not, and need MongoDB.
//
// # Users' sessions (UserIndex)
//
// The store implements [sessionplus.UserIndex] (see Config.UserField): a
// record of a logged-in user carries the user in the top-level field
// "user" of its document (a string; binary for a user key that is not valid
// UTF-8), next to data and expires_at. The field is written by the same
// command as the record: a Create's ReplaceOne sets or drops it, a Write
// that changes the user $sets or $unsets it in its one UpdateOne (so a
// record a revocation deleted matches nothing and is not indexed again),
// and other Writes and Touches leave it. No save costs a round trip more
// than without the index, a login included. [Store.UserRecords] is one
// find on user and expires_at, served by the index on user that
// [Store.CreateIndexes] makes (with create_indexes false, create it
// yourself: db.sessions.createIndex({user: 1})). Where an index of the
// application's own stands in its way (one named user_1 on another key,
// say), Open keeps that index and logs a warning instead of failing; the
// listings then scan the collection unless some index is on user. The
// index cannot outlive
// a record: it goes with the document, when the TTL monitor or
// [Store.Sweep] deletes it.
//
// # Typed constructor
//
// [New] makes a store of a collection without the registry and does no
// I/O; [Store.CreateIndexes] makes the TTL index:
//
//	coll := client.Database("app").Collection("sessions")
//	st, err := mongo.New(coll, &mongo.Options{Logger: logger, Timeout: 2 * time.Second})
//	...
//	err = st.CreateIndexes(ctx)
//
// The store is then the "store" of a session:
//
//	sessionplus.Options{"cookie_name": "session", "session_type": "mongodb", "store": st}
//
// A store of New uses coll as given, read preference included, and never
// disconnects its client.
//
// # Tests
//
// The driver's tests run against the server in SESSIONPLUS_MONGODB_URL, in
// a new collection of the database sessionplus_test, dropped afterwards;
// without it they skip (and fail under CI=true). ./scripts/test builds and
// starts FerretDB for them. To run them against a real MongoDB:
//
//	SESSIONPLUS_MONGODB_URL=mongodb://localhost:27017/ go test -race ./drivers/mongo/
package mongo
