package sessionplus

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// idLen is the length of a session id: 32 random bytes in unpadded base64url.
const idLen = 43

var b64 = base64.RawURLEncoding.Strict()

// newID returns a new session id of 256 bits from crypto/rand.
func newID() string {
	var b [32]byte
	rand.Read(b[:]) // never returns an error; crashes the program if the system has no randomness
	return b64.EncodeToString(b[:])
}

// validID reports whether id has the exact form newID produces.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	var buf [32]byte
	n, err := b64.Decode(buf[:], []byte(id))
	return err == nil && n == 32
}

// storageKey is the key a server-side record of id is stored under:
// prefix + ":" + the SHA-256 of the id, so that a leaked database holds no
// usable session id, or the id itself when hashing is turned off.
func storageKey(prefix, id string, hash bool) string {
	if !hash {
		return prefix + ":" + id
	}
	sum := sha256.Sum256([]byte(id))
	return prefix + ":" + b64.EncodeToString(sum[:])
}

// idCookie is what the cookie of a server-side session carries: the id, the
// permanent flag and when the next keep-alive is due, so that an untouched
// session can be kept alive without reading it.
//
// Its form is "<id>.<p|s><due, base 36 Unix seconds>", followed by
// ".<HMAC-SHA256 of cookie name, id and the rest>" under use_signer.
type idCookie struct {
	id        string
	permanent bool
	due       time.Time
}

// encodeMeta appends the permanent flag and the due time to b.
func encodeMeta(b *strings.Builder, permanent bool, due time.Time) {
	if permanent {
		b.WriteByte('p')
	} else {
		b.WriteByte('s')
	}
	b.WriteString(strconv.FormatInt(due.Unix(), 36))
}

// parseMeta parses what encodeMeta wrote.
func parseMeta(meta string) (permanent bool, due time.Time, ok bool) {
	if len(meta) < 2 || (meta[0] != 'p' && meta[0] != 's') {
		return false, time.Time{}, false
	}
	n, err := strconv.ParseInt(meta[1:], 36, 64)
	if err != nil || n < 0 {
		return false, time.Time{}, false
	}
	return meta[0] == 'p', time.Unix(n, 0), true
}

// A client-side session's cookie is the value its store returned followed
// by "~" and the same keep-alive hint (permanent flag and due time), so that
// a request that does not touch the session needs no decoding to know that
// nothing is due. The hint is not authenticated: forging it can only make
// the session's own keep-alive come sooner or later (the record, with its
// authenticated expiry and permanent flag, is what counts when read).
type hint struct {
	permanent bool
	due       time.Time
}

// withHint returns the cookie value of a client-side session.
func withHint(value string, h hint) string {
	var b strings.Builder
	b.Grow(len(value) + 10)
	b.WriteString(value)
	b.WriteByte('~')
	encodeMeta(&b, h.permanent, h.due)
	return b.String()
}

// splitHint splits a client-side cookie value into the store's value and
// the hint. Without a valid hint the whole value is the store's, and the
// session is read to decide.
func splitHint(v string) (token string, h hint, ok bool) {
	i := strings.LastIndexByte(v, '~')
	if i < 0 {
		return v, hint{}, false
	}
	perm, due, ok := parseMeta(v[i+1:])
	if !ok {
		return v, hint{}, false
	}
	return v[:i], hint{permanent: perm, due: due}, true
}

// encode returns the cookie value, signed with the first key when signKeys
// is not empty.
func (c idCookie) encode(name string, signKeys [][]byte) string {
	var b strings.Builder
	b.Grow(idLen + 16 + 44)
	b.WriteString(c.id)
	b.WriteByte('.')
	encodeMeta(&b, c.permanent, c.due)
	if len(signKeys) > 0 {
		body := b.String()
		b.WriteByte('.')
		b.WriteString(b64.EncodeToString(idMAC(signKeys[0], name, body)))
	}
	return b.String()
}

// parseIDCookie parses a cookie value made by encode. When signKeys is not
// empty a valid signature under one of them is required. Anything else is
// rejected: such a cookie starts a new session and its id is never adopted.
func parseIDCookie(name, v string, signKeys [][]byte) (idCookie, bool) {
	if len(v) < idLen+3 || v[idLen] != '.' {
		return idCookie{}, false
	}
	id, rest := v[:idLen], v[idLen+1:]
	meta, sig, signed := strings.Cut(rest, ".")
	if signed != (len(signKeys) > 0) {
		return idCookie{}, false
	}
	if signed && !verifyIDMAC(signKeys, name, v[:idLen+1+len(meta)], sig) {
		return idCookie{}, false
	}
	perm, due, ok := parseMeta(meta)
	if !validID(id) || !ok {
		return idCookie{}, false
	}
	return idCookie{id: id, permanent: perm, due: due}, true
}

func idMAC(key []byte, name, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(body))
	return m.Sum(nil)
}

func verifyIDMAC(keys [][]byte, name, body, sig string) bool {
	got, err := b64.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	for _, k := range keys {
		if hmac.Equal(got, idMAC(k, name, body)) {
			return true
		}
	}
	return false
}
