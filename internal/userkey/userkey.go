// Package userkey is the one rule by which the drivers whose backends
// cannot index every user key as it is (postgres's user_key column,
// Firestore's user field) store a user key: as it is where the backend
// can hold and index it, otherwise as a fixed-size digest.
package userkey

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// digestPrefix starts every digest form Stored returns. It begins with a
// control byte that real user keys do not hold.
const digestPrefix = "\x01sha256:"

// maxLen is the longest user key Stored keeps as it is: well inside the
// 1500 bytes a Firestore query takes and the about 2700 of a PostgreSQL
// index entry.
const maxLen = 512

// Stored returns the form in which user is stored and looked up: user
// itself if fits(user) (the backend can hold it as it is), it is at most
// 512 bytes and it does not start with "\x01sha256:"; otherwise
// "\x01sha256:" and the base64url of user's SHA-256. The stored form is
// only ever compared for equality, so the digest does as well as the key.
//
// A key that already starts with the prefix is hashed too, because
// otherwise it would be stored as it is and could equal the digest form of
// another key: user B, choosing as its key the digest of user A's long
// key, would then list and revoke A's sessions. Hashed, B's key is stored
// under a digest of its own, so no two distinct keys are stored alike
// (short of a SHA-256 collision).
func Stored(user string, fits func(string) bool) string {
	if len(user) <= maxLen && !strings.HasPrefix(user, digestPrefix) && fits(user) {
		return user
	}
	sum := sha256.Sum256([]byte(user))
	return digestPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}
