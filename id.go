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

// storageKey is the key a server-side record is stored under: prefix + ":"
// + the SHA-256 of the id and of its lifetime terms (permanent or not, and
// when it was created), so that a leaked database holds no usable session
// id; or, with hashing turned off, the id and the terms themselves.
//
// The terms are part of the key, not of the record, and that is what lets
// the server trust them without reading the record: a cookie whose
// permanent flag or creation time was edited names a key under which
// nothing is stored, so its keep-alive and its writes find nothing (both
// create nothing), and its read starts a fresh session.
func storageKey(prefix string, c idCookie, hash bool) string {
	var buf [idLen + 16]byte
	body := append(buf[:0], c.id...)
	body = append(body, '.')
	body = c.appendTerms(body)
	var b strings.Builder
	b.Grow(len(prefix) + 1 + max(len(body), idLen))
	b.WriteString(prefix)
	b.WriteByte(':')
	if !hash {
		b.Write(body)
		return b.String()
	}
	sum := sha256.Sum256(body)
	var enc [idLen]byte
	b64.Encode(enc[:], sum[:])
	b.Write(enc[:])
	return b.String()
}

// idCookie is what the cookie of a server-side session carries: the id, the
// terms of its lifetime (the permanent flag and the creation time, which
// the storage key binds), and when the next keep-alive is due, so that an
// untouched session can be kept alive without reading it.
//
// Its form is "<id>.<p|s><created>.<due>", times in base 36 Unix seconds,
// followed by ".<HMAC-SHA256 of cookie name and the rest>" under
// use_signer. The due time is not bound to anything: editing it only makes
// the session's own keep-alive come sooner or later.
type idCookie struct {
	id        string
	permanent bool
	created   time.Time
	due       time.Time
}

// appendTerms appends the permanent flag and the creation time to b.
func (c idCookie) appendTerms(b []byte) []byte {
	if c.permanent {
		b = append(b, 'p')
	} else {
		b = append(b, 's')
	}
	return strconv.AppendInt(b, c.created.Unix(), 36)
}

// parseUnix36 parses a time written as base 36 Unix seconds.
func parseUnix36(s string) (time.Time, bool) {
	if s == "" || len(s) > 13 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 36, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// A client-side session's cookie is the value its store returned followed
// by "~" and a keep-alive hint: the permanent flag and when the next
// keep-alive is due, so that a request that does not touch the session
// needs no decoding to know that nothing is due. The hint is not
// authenticated and decides nothing: it only lets an untouched cookie go
// undecoded. Whenever the session is saved again, its lifetime comes from
// the record inside the cookie, which is signed and encrypted; forging the
// hint can only make that re-save come sooner or later.
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
	if h.permanent {
		b.WriteByte('p')
	} else {
		b.WriteByte('s')
	}
	b.WriteString(strconv.FormatInt(h.due.Unix(), 36))
	return b.String()
}

// splitHint splits a client-side cookie value into the store's value and
// the hint. Without a valid hint the whole value is the store's, and the
// session is read to decide.
func splitHint(v string) (token string, h hint, ok bool) {
	i := strings.LastIndexByte(v, '~')
	if i < 0 || i+2 > len(v) || (v[i+1] != 'p' && v[i+1] != 's') {
		return v, hint{}, false
	}
	due, ok := parseUnix36(v[i+2:])
	if !ok {
		return v, hint{}, false
	}
	return v[:i], hint{permanent: v[i+1] == 'p', due: due}, true
}

// encode returns the cookie value, signed with the first key when signKeys
// is not empty.
func (c idCookie) encode(name string, signKeys [][]byte) string {
	var buf [idLen + 32 + 44]byte
	b := append(buf[:0], c.id...)
	b = append(b, '.')
	b = c.appendTerms(b)
	b = append(b, '.')
	b = strconv.AppendInt(b, c.due.Unix(), 36)
	if len(signKeys) > 0 {
		mac := idMAC(signKeys[0], name, b)
		b = append(b, '.')
		b = b64.AppendEncode(b, mac)
	}
	return string(b)
}

// parseIDCookie parses a cookie value made by encode. When signKeys is not
// empty a valid signature under one of them is required. Anything else is
// rejected: such a cookie starts a new session and its id is never adopted.
func parseIDCookie(name, v string, signKeys [][]byte) (idCookie, bool) {
	if len(v) < idLen+5 || v[idLen] != '.' {
		return idCookie{}, false
	}
	id, rest := v[:idLen], v[idLen+1:]
	terms, rest, ok := strings.Cut(rest, ".")
	if !ok || len(terms) < 2 || (terms[0] != 'p' && terms[0] != 's') {
		return idCookie{}, false
	}
	dueS, sig, signed := strings.Cut(rest, ".")
	if signed != (len(signKeys) > 0) {
		return idCookie{}, false
	}
	if signed && !verifyIDMAC(signKeys, name, []byte(v[:len(v)-len(sig)-1]), sig) {
		return idCookie{}, false
	}
	created, ok1 := parseUnix36(terms[1:])
	due, ok2 := parseUnix36(dueS)
	if !validID(id) || !ok1 || !ok2 {
		return idCookie{}, false
	}
	return idCookie{id: id, permanent: terms[0] == 'p', created: created, due: due}, true
}
func idMAC(key []byte, name string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

func verifyIDMAC(keys [][]byte, name string, body []byte, sig string) bool {
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
