// Package cookie provides the secure_cookie session driver, which keeps a
// whole session in its cookie, signed and encrypted with
// [github.com/gorilla/securecookie]. It registers itself under the
// session_type "secure_cookie" ([Name]) when imported:
//
//	import _ "github.com/sessionplus/sessionplus/drivers/cookie"
//
// # Options
//
// The driver has no keys of its own, and any key that is not a common one is
// rejected. It uses the common cookie_* keys, and the secret keys of the
// middleware Config or, when set, the session's secret_keys: a list of raw
// secrets, newest first, each at least [sessionplus.MinSecretKeyLen] bytes.
//
// # Signing and encryption
//
// From each secret two independent 32-byte keys are derived with HKDF-SHA256
// ([sessionplus.DeriveKey]): one for HMAC-SHA256, one for AES-256. The
// record is encrypted with AES-256 in CTR mode under a random IV, and the MAC
// covers the cookie name, a timestamp and the encrypted value, so a value
// issued for one cookie does not load as another, and any change to the value
// is rejected. A value that does not verify is treated as no session: Load
// returns an error wrapping [sessionplus.ErrNotFound], and the request starts
// a fresh session.
//
// # Key rotation
//
// Cookies are always written with the first (newest) key and read with any of
// the keys. To rotate, put the new secret in front of the list; once every
// cookie issued under the old secret has expired, drop it. A cookie made with
// a dropped key no longer loads.
//
// # Expiry
//
// The record's expiry (to the second) travels inside the encrypted,
// authenticated payload, and Load rejects a record whose expiry has passed,
// even if a browser keeps sending the cookie after its Expires, and even if the
// cookie was captured and replayed. The securecookie timestamp is not used
// for expiry. A session cannot be revoked before its expiry: Delete has
// nothing to remove, and the root package ends a session by expiring its
// cookie in the browser.
//
// # Size
//
// Browsers keep cookies of up to 4096 bytes, name and value together
// ([sessionplus.MaxCookieSize]). Encryption, the MAC and two rounds of base64
// make the value about 1.8 times the size of the encoded fields plus about 100
// bytes, so a session holds about 2.2 KB of field data. Save fails with an
// error wrapping [sessionplus.ErrCookieTooLarge] for a larger cookie, instead
// of letting the browser drop it; keep large data in a server-side session.
//
// # Typed constructor
//
// [New] builds a store from a cookie name and secret keys without the
// registry:
//
//	st, err := cookie.New("session", [][]byte{newSecret, oldSecret})
package cookie
