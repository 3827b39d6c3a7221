package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	gomongo "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"

	"github.com/sessionplus/sessionplus"
)

// The fields of a session document.
const (
	fieldID      = "_id"
	fieldData    = "data"
	fieldExpires = "expires_at"
	fieldUser    = "user" // the user the record is indexed under (see UserRecords); absent for none
)

// maxTokenLen is the longest token the store takes: the limit of an index
// key on MongoDB before 4.2. See [Store.CheckKeyPrefix].
const maxTokenLen = 1024

// maxAttempts bounds the tries of a Create that collides on _id with a
// concurrent Create of the same token (see create).
const maxAttempts = 5

// maxDocSize is the largest document MongoDB stores: 16 MiB.
const maxDocSize = 16 << 20

// docOverhead bounds the bytes of a session document besides its token and
// fields: the document's and data's headers, the keys _id, data and
// expires_at, and the date.
const docOverhead = 64

// fieldSize returns the bytes that field name with value v takes in data:
// type, key, NUL, length, subtype and the bytes.
func fieldSize(name string, v []byte) int { return 1 + len(encodeField(name)) + 1 + 4 + 1 + len(v) }

// checkSize returns an error wrapping [sessionplus.ErrRecordTooLarge] if the
// fields of values alone make a document over MongoDB's limit. MongoDB
// would refuse it too; some compatible servers would store it.
func checkSize(token string, values map[string][]byte) error {
	n := docOverhead + len(token)
	for name, v := range values {
		n += fieldSize(name, v)
	}
	if n > maxDocSize {
		return fmt.Errorf("mongo: %w: the fields take %d bytes as a document; MongoDB documents hold at most %d",
			sessionplus.ErrRecordTooLarge, n, maxDocSize)
	}
	return nil
}

// tooLargeCodes are the server errors of a document over the limit.
var tooLargeCodes = []int{
	10334, // BSONObjectTooLarge
	17419, // the document after an update is too large
	17420, // the document after a replace or upsert is too large
}

var errBadToken = errors.New("mongo: the token is not a valid document id (empty, longer than 1024 bytes, NUL or invalid UTF-8)")

// validToken reports whether token can be a document's _id: MongoDB servers
// store strings as UTF-8, and compatible ones may cut them at a NUL.
func validToken(token string) bool {
	return token != "" && len(token) <= maxTokenLen && utf8.ValidString(token) && strings.IndexByte(token, 0) < 0
}

// live returns the filter of the live document of token at now.
func live(token string, now time.Time) bson.D {
	return bson.D{{Key: fieldID, Value: token}, {Key: fieldExpires, Value: bson.D{{Key: "$gt", Value: now}}}}
}

// Load returns the record stored under token. A document that is missing
// or whose expires_at has passed, whether or not the server's TTL monitor
// has deleted it yet, is an error wrapping [sessionplus.ErrNotFound], and
// so is a token that cannot be a document id. Any other error, such as a
// server that does not answer, is returned as it is, wrapped.
func (s *Store) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	if !validToken(token) {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	raw, err := s.coll.FindOne(ctx, live(token, time.Now())).Raw()
	if errors.Is(err, gomongo.ErrNoDocuments) {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	if err != nil {
		return sessionplus.Record{}, fail(ctx, "find", err)
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return sessionplus.Record{}, fmt.Errorf("mongo: the stored session is not a document of this driver: %w", err)
	}
	return rec, nil
}

// decodeRecord reads a session document.
func decodeRecord(raw bson.Raw) (sessionplus.Record, error) {
	ms, ok := raw.Lookup(fieldExpires).DateTimeOK()
	if !ok {
		return sessionplus.Record{}, errors.New("expires_at is not a date")
	}
	rec := sessionplus.Record{Values: map[string][]byte{}, Expiry: time.UnixMilli(ms)}
	data := raw.Lookup(fieldData)
	if data.Type == 0 { // no data: a record of no fields
		return rec, nil
	}
	doc, ok := data.DocumentOK()
	if !ok {
		return sessionplus.Record{}, errors.New("data is not a document")
	}
	elems, err := doc.Elements()
	if err != nil {
		return sessionplus.Record{}, err
	}
	for _, e := range elems {
		name, err := decodeField(e.Key())
		if err != nil {
			return sessionplus.Record{}, fmt.Errorf("data has a key that is %w", err)
		}
		_, v, ok := e.Value().BinaryOK()
		if !ok {
			return sessionplus.Record{}, errors.New("data has a value that is not binary")
		}
		rec.Values[name] = append(make([]byte, 0, len(v)), v...)
	}
	return rec, nil
}

// Save applies u to the document of token as [sessionplus.Kind] describes,
// and returns token. Each kind is one command:
//
//   - Create: one ReplaceOne with upsert of the whole document.
//   - Write: one UpdateOne, without upsert, of the document of token whose
//     expires_at has not passed, that $sets data.<field> for each field in
//     Set and expires_at, and $unsets data.<field> for each field in Del.
//     Fields of other writes are left as they are, so two requests that
//     change different fields of a session both land.
//   - Touch: one UpdateOne, without upsert, that $sets expires_at of the
//     document of token whose expires_at has not passed.
//
// A Write or Touch that matches no document (none is stored, or an expired
// one the TTL monitor has not removed yet, or one a log-out deleted)
// changes nothing and returns [sessionplus.ErrNotFound]: the filter and
// the update are one command, so a session that another request ended is
// never brought back. A save whose fields alone exceed MongoDB's document
// limit of 16 MiB, or that the server refuses as too large, fails with an
// error wrapping [sessionplus.ErrRecordTooLarge] and changes nothing.
//
// Saves and deletes of one token through one Store are serialized, for
// the servers that do not apply an update to a document atomically (see
// the package documentation); those of different tokens run in parallel.
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	if !validToken(token) {
		if u.Kind == sessionplus.Create {
			return "", errBadToken
		}
		return "", sessionplus.ErrNotFound // nothing can be stored under it
	}
	var update bson.D
	switch u.Kind {
	case sessionplus.Create, sessionplus.Write:
		if err := checkSize(token, u.Set); err != nil {
			return "", err
		}
		if u.Kind == sessionplus.Write {
			update = fieldUpdate(u)
		}
	case sessionplus.Touch:
		update = bson.D{{Key: "$set", Value: bson.D{{Key: fieldExpires, Value: u.Expiry}}}}
	default:
		return "", fmt.Errorf("mongo: unknown kind of save %v", u.Kind)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	unlock, err := s.locks.lock(ctx, token)
	if err != nil {
		return "", lockFailed(ctx, err)
	}
	defer unlock()
	if u.Kind == sessionplus.Create {
		err = s.create(ctx, token, u)
	} else {
		err = s.update(ctx, token, update)
	}
	if err != nil {
		return "", err
	}
	return token, nil
}

// document returns the whole document of a record.
func document(token string, u sessionplus.Update) bson.D {
	data := make(bson.D, 0, len(u.Set))
	for name, v := range u.Set {
		data = append(data, bson.E{Key: encodeField(name), Value: binary(v)})
	}
	doc := bson.D{{Key: fieldID, Value: token}, {Key: fieldData, Value: data}, {Key: fieldExpires, Value: u.Expiry}}
	if u.User != "" {
		doc = append(doc, bson.E{Key: fieldUser, Value: userValue(u.User)})
	}
	return doc
}

// userValue is how a user key is stored in the user field: a string, or
// binary for a key that is not valid UTF-8 or holds a NUL (a BSON string
// may hold one, but FerretDB, which keeps documents in PostgreSQL, cannot
// store it).
func userValue(user string) any {
	if utf8.ValidString(user) && strings.IndexByte(user, 0) < 0 {
		return user
	}
	return bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: []byte(user)}
}

// binary returns v as a BSON binary; nil becomes an empty one.
func binary(v []byte) bson.Binary {
	if v == nil {
		v = []byte{}
	}
	return bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: v}
}

// fieldUpdate returns the update document of a Write: $set of the fields
// in Set and of expires_at, $unset of the fields in Del; with SetUser, $set
// or $unset of the user field, in the same atomic update.
func fieldUpdate(u sessionplus.Update) bson.D {
	set := make(bson.D, 0, len(u.Set)+1)
	for name, v := range u.Set {
		set = append(set, bson.E{Key: fieldData + "." + encodeField(name), Value: binary(v)})
	}
	set = append(set, bson.E{Key: fieldExpires, Value: u.Expiry})
	unset := make(bson.D, 0, len(u.Del)+1)
	for _, name := range u.Del {
		unset = append(unset, bson.E{Key: fieldData + "." + encodeField(name), Value: ""})
	}
	switch {
	case u.SetUser && u.User != "":
		set = append(set, bson.E{Key: fieldUser, Value: userValue(u.User)})
	case u.SetUser:
		unset = append(unset, bson.E{Key: fieldUser, Value: ""})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	return update
}

func (s *Store) create(ctx context.Context, token string, u sessionplus.Update) error {
	doc := document(token, u)
	var err error
	for range maxAttempts {
		// Two upserts of a new token at once can collide on _id, on
		// servers that do not retry that themselves: the second one, tried
		// again, finds the document and replaces it.
		_, err = s.coll.ReplaceOne(ctx, bson.D{{Key: fieldID, Value: token}}, doc, options.Replace().SetUpsert(true))
		if !gomongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return fail(ctx, "replace", err)
	}
	return nil
}

// update applies update, a Write or a Touch, to the live document of
// token; without one it changes nothing and returns ErrNotFound.
func (s *Store) update(ctx context.Context, token string, update bson.D) error {
	res, err := s.coll.UpdateOne(ctx, live(token, time.Now()), update)
	if err != nil {
		return fail(ctx, "update", err)
	}
	if res.MatchedCount == 0 {
		return sessionplus.ErrNotFound
	}
	return nil
}

// UserRecords returns the live records indexed under user: one find on
// the user field, which [Store.CreateIndexes] indexes. A record is indexed
// by the same command that writes it (the user field of its document), so
// the index cannot outlive the record nor cost a round trip of its own.
func (s *Store) UserRecords(ctx context.Context, user string) ([]sessionplus.UserRecord, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	filter := bson.D{{Key: fieldUser, Value: userValue(user)}, {Key: fieldExpires, Value: bson.D{{Key: "$gt", Value: time.Now()}}}}
	cur, err := s.coll.Find(ctx, filter)
	if err != nil {
		return nil, fail(ctx, "find", err)
	}
	defer cur.Close(ctx)
	var out []sessionplus.UserRecord
	for cur.Next(ctx) {
		token, ok := cur.Current.Lookup(fieldID).StringValueOK()
		if !ok {
			return nil, errors.New("mongo: a stored session's _id is not a string: the collection holds documents of another program")
		}
		rec, err := decodeRecord(cur.Current)
		if err != nil {
			return nil, fmt.Errorf("mongo: the stored session is not a document of this driver: %w", err)
		}
		out = append(out, sessionplus.UserRecord{Token: token, Record: rec})
	}
	if err := cur.Err(); err != nil {
		return nil, fail(ctx, "find", err)
	}
	return out, nil
}

// Delete removes the document of token, live or expired. It returns
// [sessionplus.ErrNotFound] when there was none (and for a token that
// cannot be a document id).
func (s *Store) Delete(ctx context.Context, token string) error {
	if !validToken(token) {
		return sessionplus.ErrNotFound
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	unlock, err := s.locks.lock(ctx, token)
	if err != nil {
		return lockFailed(ctx, err)
	}
	defer unlock()
	res, err := s.coll.DeleteOne(ctx, bson.D{{Key: fieldID, Value: token}})
	if err != nil {
		return fail(ctx, "delete", err)
	}
	if res.DeletedCount == 0 {
		return sessionplus.ErrNotFound
	}
	return nil
}

// fail wraps err of operation op, whose context is ctx. A document over the
// server's limit is an error wrapping [sessionplus.ErrRecordTooLarge] as
// well; a failure once ctx has ended is ctx's error (see [sessionplus.ContextError]).
func fail(ctx context.Context, op string, err error) error {
	if hasCode(err, tooLargeCodes...) || errors.Is(err, driver.ErrDocumentTooLarge) {
		return fmt.Errorf("mongo: %s: %w: %w", op, sessionplus.ErrRecordTooLarge, err)
	}
	return fmt.Errorf("mongo: %s: %w", op, sessionplus.ContextError(ctx, err))
}

// lockFailed is the error of an operation whose context ended while it
// waited for another save or delete of the same token (see keyLocks).
func lockFailed(ctx context.Context, err error) error {
	return fmt.Errorf("mongo: waiting for another save of the session: %w", sessionplus.ContextError(ctx, err))
}
