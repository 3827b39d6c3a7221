// Package sessionplus gives one web application several sessions at once,
// each with its own cookie and its own backend, and routes every session
// field to the session that owns it. It is the Go port of the Python package
// flask-session-plus.
//
// This root package is the framework-agnostic core: configuration, field
// routing, the per-request [Session], ids, lifetimes, the value codec,
// cookies and saving, on net/http types only, with a net/http middleware
// ([Manager.Middleware], [FromRequest]) and configuration files
// ([LoadConfigFile], [NewFromFile]). The Echo v4 middleware lives in package
// [github.com/sessionplus/sessionplus/multisession], the Echo v5 one in
// [github.com/sessionplus/sessionplus/multisessionv5]; backends are drivers
// that register themselves by session_type when imported, as database/sql
// drivers do:
//
//	import (
//		_ "github.com/sessionplus/sessionplus/drivers/cookie"   // "secure_cookie"
//		_ "github.com/sessionplus/sessionplus/drivers/memory"   // "memory"
//		_ "github.com/sessionplus/sessionplus/drivers/redis"    // "redis"
//	)
//
// # Configuration
//
// The configuration is a list of [Options] maps, one per session, with the
// keys of flask-session-plus's SESSION_CONFIG. It is validated once, by [New]
// (or multisession's ToMiddleware): an unknown session_type, an unknown key,
// a value of the wrong type, a missing required key, a duplicate
// cookie_name, a second "auto" session, a secret key shorter than 32 bytes,
// SameSite=None without Secure and a broken __Host-/__Secure- prefix are
// errors that name the session and the key. The caller's maps are never
// modified.
//
// Durations accept a time.Duration, a Go duration string ("24h") or whole
// seconds (3600, or 3600.0 as JSON decodes it).
//
// The keys every session takes:
//
//	key                         type                       default
//	cookie_name                 string                     required; also the session's name
//	session_type                string                     "secure_cookie"
//	session_fields              []string | "auto" |        [] (every field)
//	                            {"include": []string} |
//	                            {"exclude": []string}
//	cookie_domain               string                     "" (the cookie is sent to the host that set it only)
//	cookie_path                 string                     "/"
//	cookie_httponly             bool                       true
//	cookie_secure               bool                       false
//	cookie_max_age              duration | nil             nil: the cookie ends with the browser session
//	cookie_samesite             "Lax" | "Strict" | "None"  "Lax"
//	                            | http.SameSite
//	session_lifetime            duration                   24h
//	session_permanent_lifetime  duration                   744h (31 days)
//	session_absolute_lifetime   duration                   none: no absolute timeout
//	secret_keys                 [][]byte | []string        Config.SecretKeys
//	store                       Store                      none: a live store instead of a driver
//
// Server-side sessions (every session_type but secure_cookie) also take:
//
//	key_prefix                  string                     "session"
//	use_signer                  bool                       false
//	hash_ids                    bool                       true
//	token_header                string                     none: the session travels in its cookie only
//
// and the keys of their driver (client, url, db, collection, ...), listed in
// each driver's package documentation. Unlike in flask-session-plus,
// session_lifetime applies to secure_cookie sessions too: the deadline
// travels inside the signed, encrypted cookie, so an old cookie is refused
// even if a browser keeps sending it.
//
// # Field routing
//
// session_fields says which fields a session owns:
//
//   - omitted or []: every field.
//   - a list, or {"include": [...]}: exactly those fields.
//   - {"exclude": [...]}: every field but those.
//   - "auto": every field that no other session names in a list or include.
//
// A field owned by several sessions is written to each and read from the
// first in config order. Setting a field that no session owns is an error
// wrapping [ErrUnownedField], never a silent drop.
//
// # The per-request session
//
// [Manager.Begin] returns the request's [Session], one combined view of all
// the sessions; [Session.Part] reaches one of them by its cookie name. A
// server-side session is read from its backend at most once per request,
// only when the request carries its cookie and the handler touches one of its
// fields; reads of several backends needed together go out concurrently.
// Every read returns an error when the backend fails: a failure is never
// mistaken for "no session", and a session whose read failed is not written
// back in that request, so it cannot wipe what the user has stored.
//
// [GetAs] reads a field as the Go type it was stored with: Go's basic types,
// []byte and time.Time are stored compactly with their exact type, anything
// else as JSON, so a struct comes back as that struct without gob.Register.
// Within a request, the value set is the value read.
//
// Only sessions that changed are written, and a server-side write sends only
// the changed and deleted fields (Redis hash fields, MongoDB $set/$unset,
// Firestore field paths), so two concurrent requests that change different
// fields of one session both land. A session emptied by the handler is
// deleted from its backend and its cookie expired; a new session that holds
// nothing sets no cookie and writes nothing.
//
// # Ids, lifetimes and keep-alive
//
// Server-side session ids are 256 bits from crypto/rand, in base64url. An id
// the backend does not know, has expired or (under use_signer) is not signed
// by one of the secret keys is never adopted: the session starts afresh with
// a new id. Records are stored under key_prefix + ":" + a SHA-256 hash of
// the id and of its lifetime terms, so a leaked database holds no usable
// session ids. [Session.Regenerate] moves every server-side session to a
// new id (call it at login), and [Session.Destroy] ends all of them
// (log-out).
//
// The lifetimes follow OWASP's session management cheat sheet:
//
//   - Idle timeout: a session lasts session_lifetime after its last use, or
//     session_permanent_lifetime once [Session.SetPermanent] marks it
//     permanent ("remember me"); a permanent session's cookie expires with
//     it, other cookies end with the browser session unless cookie_max_age
//     is set.
//   - Absolute timeout: with session_absolute_lifetime, a session ends at
//     most that long after it was created under its id, however active,
//     permanent or not. No record TTL and no cookie expiry passes that
//     point, and the request after it is a fresh session (the handler sees
//     no user), never an error. Regenerate gives a new id and so starts a
//     new window; a change of permanence keeps it.
//
// The server decides every lifetime, and no cookie byte a client can edit
// or replay lengthens one. A server-side session's cookie carries its terms
// (the permanent flag and the creation time) next to its id, and those
// terms are part of the hash the record is stored under: a cookie with
// edited terms names a key that holds nothing, so its keep-alive and its
// writes change nothing (neither creates a record) and its read starts a
// fresh session. A secure cookie keeps its terms inside its signed,
// encrypted record, which alone decides its lifetime when it is saved
// again. Expiry is checked on every read, whatever the backend's own
// sweeper does.
//
// A session that is used but not changed is kept alive without being read:
// at most once every tenth of its lifetime (at most hourly), its expiry is
// moved with a cheap backend call (PEXPIREAT, memcache touch, a one-field
// update). When the next keep-alive is due travels in the cookie: in the
// id cookie of a server-side session (signed under use_signer), and after a
// "~" at the end of a secure cookie, so that a request that does not touch
// a secure cookie's fields does not even decode it. The due time is not
// authenticated: editing it only makes the session's own keep-alive come
// sooner or later, and the tests in package reliability show that it does
// no more.
//
// A deleted record never comes back. When another request ends a session
// (log-out, login, a revocation) while this one is in flight, this
// request's writes and keep-alives find no record and create none; its
// changes to that session are dropped and logged, and it sends no cookie
// for the session, so that the cookie the ending request sent stays in the
// browser. The old cookie loads nothing again.
//
// # Cookies and saving
//
// A response that sets a cookie also gets "Vary: Cookie" and
// `Cache-Control: no-cache="Set-Cookie"`. A cookie larger than the 4096
// bytes browsers keep is an error at save ([ErrCookieTooLarge]), never
// silently dropped. [Session.Commit] saves before the response headers are
// written; the middleware calls it, and a failed save turns the response
// into an error status with no cookie pointing at unsaved data. A tampered,
// garbage or expired cookie starts a fresh session: never an error, never a
// panic. Log records go to the configured [log/slog] logger and never
// contain session ids or values.
//
// # Writing a driver
//
// A driver implements [Driver] (opening a [Store] from a [DriverConfig]:
// the session's driver-specific [Options], decoded and checked with
// [DriverConfig.Decode], its cookie name, secret keys and logger) and registers it
// from init with [Register]. A [Store] moves records by token: Load, Save
// with an [Update] of one [Kind] ([Create] a whole record, [Write] changed
// fields of a live one, [Touch] to keep it alive) and Delete; Write and
// Touch of a record that is gone create nothing. The root package does
// everything else, the generic checks included (done contexts, expiry on
// read, tokens kept out of errors). Package
// [github.com/sessionplus/sessionplus/drivers/drivertest] is the conformance
// suite every driver, built-in or custom, runs.
package sessionplus
