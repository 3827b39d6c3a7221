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
)

// maxTokenLen is the longest token the store takes: the limit of an index
// key on MongoDB before 4.2. See [Store.CheckKeyPrefix].
const maxTokenLen = 1024

// maxAttempts bounds the rounds of a save that races with other writes of
// the same token (see writeFields).
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
	if err := ctx.Err(); err != nil {
		return sessionplus.Record{}, err
	}
	if !validToken(token) {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	now := time.Now()
	raw, err := s.coll.FindOne(ctx, live(token, now)).Raw()
	if errors.Is(err, gomongo.ErrNoDocuments) {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	if err != nil {
		return sessionplus.Record{}, s.fail("find", token, err)
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return sessionplus.Record{}, fmt.Errorf("mongo: the stored session is not a document of this driver: %w", err)
	}
	if !now.Before(rec.Expiry) {
		return sessionplus.Record{}, sessionplus.ErrNotFound
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

// Save applies u to the document of token as [sessionplus.Update]
// describes, and returns token:
//
//   - Replace: one ReplaceOne with upsert of the whole document.
//   - A field-level write: one UpdateOne with upsert, on the document of
//     token that has not expired, that $sets data.<field> for the fields in
//     Set and expires_at, and $unsets data.<field> for the fields in Del.
//     Fields of other writes are left as they are, so two requests that
//     change different fields of a session both land. Where an expired
//     document still holds the token (the TTL monitor had not removed it
//     yet), it is replaced by a document of Set alone: its fields never
//     come back.
//   - A keep-alive: one UpdateOne, without upsert, of expires_at of the
//     live document; none is an error wrapping [sessionplus.ErrNotFound].
//
// An update whose Expiry has already passed deletes the document instead
// (a keep-alive still returns ErrNotFound when there was no live document).
// A save whose fields alone exceed MongoDB's document limit of 16 MiB, or
// that the server refuses as too large, fails with an error wrapping
// [sessionplus.ErrRecordTooLarge] and changes nothing.
//
// Saves of one token through one Store are serialized, for the servers
// that do not apply an update to a document atomically (see the package
// documentation); saves of different tokens run in parallel.
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !validToken(token) {
		if (u.Kind == sessionplus.Touch) {
			return "", sessionplus.ErrNotFound
		}
		return "", errBadToken
	}
	if (u.Kind != sessionplus.Touch) && time.Now().Before(u.Expiry) {
		if err := checkSize(token, u.Set); err != nil {
			return "", err
		}
	}
	unlock, err := s.locks.lock(ctx, token)
	if err != nil {
		return "", err
	}
	defer unlock()
	now := time.Now()
	switch {
	case !now.Before(u.Expiry):
		err = s.saveExpired(ctx, token, u, now)
	case (u.Kind == sessionplus.Create):
		err = s.replace(ctx, token, u)
	case (u.Kind == sessionplus.Touch):
		err = s.keepAlive(ctx, token, u, now)
	default:
		err = s.writeFields(ctx, token, u, now)
	}
	if err != nil {
		return "", err
	}
	return token, nil
}

// document returns the whole document of a record.
func document(token string, values map[string][]byte, expiry time.Time) bson.D {
	data := make(bson.D, 0, len(values))
	for name, v := range values {
		data = append(data, bson.E{Key: encodeField(name), Value: binary(v)})
	}
	return bson.D{{Key: fieldID, Value: token}, {Key: fieldData, Value: data}, {Key: fieldExpires, Value: expiry}}
}

// binary returns v as a BSON binary; nil becomes an empty one.
func binary(v []byte) bson.Binary {
	if v == nil {
		v = []byte{}
	}
	return bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: v}
}

func (s *Store) replace(ctx context.Context, token string, u sessionplus.Update) error {
	doc := document(token, u.Set, u.Expiry)
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
		return s.fail("replace", token, err)
	}
	return nil
}

func (s *Store) keepAlive(ctx context.Context, token string, u sessionplus.Update, now time.Time) error {
	res, err := s.coll.UpdateOne(ctx, live(token, now),
		bson.D{{Key: "$set", Value: bson.D{{Key: fieldExpires, Value: u.Expiry}}}})
	if err != nil {
		return s.fail("update", token, err)
	}
	if res.MatchedCount == 0 {
		return sessionplus.ErrNotFound
	}
	return nil
}

// saveExpired applies an update whose expiry has passed: the document goes.
func (s *Store) saveExpired(ctx context.Context, token string, u sessionplus.Update, now time.Time) error {
	filter := bson.D{{Key: fieldID, Value: token}}
	if (u.Kind == sessionplus.Touch) {
		filter = live(token, now)
	}
	res, err := s.coll.DeleteOne(ctx, filter)
	if err != nil {
		return s.fail("delete", token, err)
	}
	if (u.Kind == sessionplus.Touch) && res.DeletedCount == 0 {
		return sessionplus.ErrNotFound
	}
	return nil
}

func (s *Store) writeFields(ctx context.Context, token string, u sessionplus.Update, now time.Time) error {
	set := make(bson.D, 0, len(u.Set)+1)
	for name, v := range u.Set {
		set = append(set, bson.E{Key: fieldData + "." + encodeField(name), Value: binary(v)})
	}
	set = append(set, bson.E{Key: fieldExpires, Value: u.Expiry})
	update := bson.D{{Key: "$set", Value: set}}
	var unset bson.D
	for _, name := range u.Del {
		if _, ok := u.Set[name]; !ok { // a field in both is set
			unset = append(unset, bson.E{Key: fieldData + "." + encodeField(name), Value: ""})
		}
	}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}

	for range maxAttempts {
		_, err := s.coll.UpdateOne(ctx, live(token, now), update, options.UpdateOne().SetUpsert(true))
		if err == nil {
			return nil
		}
		if !gomongo.IsDuplicateKeyError(err) {
			return s.fail("update", token, err)
		}
		// The upsert found no live document but could not insert one: an
		// expired document holds the token (or a concurrent upsert won).
		// Replace the expired one by a record of Set alone, unless it has
		// come alive since, in which case the update is tried again.
		res, err := s.coll.ReplaceOne(ctx,
			bson.D{{Key: fieldID, Value: token}, {Key: fieldExpires, Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$gt", Value: now}}}}}},
			document(token, u.Set, u.Expiry))
		if err != nil {
			return s.fail("replace", token, err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
	}
	return fmt.Errorf("mongo: update: the document changed under %d rounds of concurrent writes; gave up", maxAttempts)
}

// Delete removes the document of token. Deleting an unknown token, or one
// that cannot be a document id, returns nil.
func (s *Store) Delete(ctx context.Context, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validToken(token) {
		return nil
	}
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: fieldID, Value: token}}); err != nil {
		return s.fail("delete", token, err)
	}
	return nil
}

// fail wraps err of operation op on token. The message leaves out the token
// (a duplicate-key error quotes the _id, for one) and its last part, which
// is the id or its hash.
func (s *Store) fail(op, token string, err error) error {
	msg := strings.ReplaceAll(err.Error(), token, "<token>")
	if i := strings.LastIndexByte(token, ':'); i >= 0 && len(token)-i > 16 {
		msg = strings.ReplaceAll(msg, token[i+1:], "<id>")
	}
	if hasCode(err, tooLargeCodes...) || errors.Is(err, driver.ErrDocumentTooLarge) {
		return fmt.Errorf("mongo: %s: %w: %w", op, sessionplus.ErrRecordTooLarge, &wrapped{msg: msg, err: err})
	}
	return &wrapped{msg: "mongo: " + op + ": " + msg, err: err}
}
