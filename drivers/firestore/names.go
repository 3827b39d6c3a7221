package firestore

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sessionplus/sessionplus/internal/pctescape"
)

// maxIDBytes is Firestore's limit on a document id, and on a field name.
const maxIDBytes = 1500

// Firestore takes almost any string as a document id or a map key, with a
// few exceptions: a document id cannot contain "/", be "." or "..", or
// match __.*__; a field name cannot be empty or match __.*__; both must be
// valid UTF-8 and at most 1500 bytes. Tokens (key_prefix + ":" + base64url)
// and session field names rarely hit these, but may, so both are stored
// under an escaped form that is the string itself in all common cases: the
// escape character "%", and every byte that Firestore could refuse, are
// written %XX (two hex digits, as in URLs). Since "%" itself is always
// escaped, the escaped form is unique, and decoding gives the string back.
//
// Escaped are: "%"; "/" (in ids); ASCII control characters; the bytes of
// invalid UTF-8; the first "_" of a string that starts with "__" (so that
// nothing matches __.*__); the dots of "." and ".." (in ids). The empty
// field name, which Firestore refuses, is stored as "%" alone, which no
// other name escapes to.

// docID returns the document id of token, and false if token cannot be
// one: it is empty, or its id would be over 1500 bytes.
func docID(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	id := escape(token, true)
	if len(id) > maxIDBytes {
		return "", false
	}
	return id, true
}

// tokenOf returns the token of the document id id, the inverse of docID.
func tokenOf(id string) string { return unescape(id) }

// encodeField returns the key under which the field name is stored in the
// data map.
func encodeField(name string) string {
	if name == "" {
		return "%"
	}
	return escape(name, false)
}

// decodeField returns the field name stored under key. A key that is not a
// valid escaped form (written by something else) is taken as it is.
func decodeField(key string) string {
	if key == "%" {
		return ""
	}
	return unescape(key)
}

// unescape undoes escape. A string that is not a valid escaped form
// (written by something else) is returned as it is.
func unescape(key string) string {
	if s, ok := pctescape.Unescape(key); ok {
		return s
	}
	return key
}

// escape returns s with the bytes Firestore could refuse written %XX (see
// above); id selects the rules of document ids.
func escape(s string, id bool) string {
	dots := id && (s == "." || s == "..")
	return pctescape.Escape(s, func(s string, i int) bool {
		c := s[i]
		return c < 0x20 || c == 0x7f ||
			c == '/' && id ||
			c == '.' && dots ||
			c == '_' && i == 0 && strings.HasPrefix(s, "__")
	})
}

// checkCollection reports why path is not a collection path of Firestore:
// ids separated by "/", an odd number of them (collection/document/...
// /collection), each a valid id.
func checkCollection(path string) error {
	ids := strings.Split(path, "/")
	if len(ids)%2 == 0 {
		return fmt.Errorf("%q is a document path, not a collection path (it needs an odd number of ids: \"sessions\", or \"apps/shop/sessions\")", path)
	}
	for _, id := range ids {
		switch {
		case id == "":
			return fmt.Errorf("%q has an empty id", path)
		case id == "." || id == "..":
			return fmt.Errorf("%q has the id %q, which Firestore does not allow", path, id)
		case len(id) >= 4 && strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__"):
			return fmt.Errorf("%q has the id %q: ids matching __.*__ are reserved by Firestore", path, id)
		case !utf8.ValidString(id):
			return fmt.Errorf("%q is not valid UTF-8", path)
		case len(id) > maxIDBytes:
			return fmt.Errorf("%q has an id over %d bytes", path, maxIDBytes)
		}
	}
	return nil
}
