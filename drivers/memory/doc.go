// Package memory is the in-process session store, registered as
// session_type "memory".
//
// Importing the package for its side effect registers the driver:
//
//	import _ "github.com/sessionplus/sessionplus/drivers/memory"
//
// A session then selects it with
//
//	sessionplus.Options{"cookie_name": "session", "session_type": "memory"}
//
// It is meant for development, tests and single-process apps: the records
// live in the memory of the process, so every session vanishes when the
// process restarts, and two instances of an app do not share their sessions.
// Use a server-side backend (redis, mongodb, firestore, memcache) or the
// secure_cookie store for anything else.
//
// # Options
//
// None. Open rejects every driver-specific key with an error wrapping
// [sessionplus.ErrConfig] that names the key.
//
// # Expiry
//
// Each record keeps its absolute expiry, and [Store.Load] never returns a
// record whose expiry has passed: that is checked on every read. A record
// saved with an expiry that has already passed is not kept at all. Expired
// records are reclaimed without a background goroutine: a read that finds
// one removes it, and writes sweep the whole store once every so many
// writes, a number that grows with the store's size. A sweep thus costs O(1)
// per write amortised, and the store holds at most about twice as many
// records as were live at the last sweep. [Store.Len] reports how many
// records are held.
//
// # Constructor
//
// [New] returns a store directly, without the registry, for tests or for
// wiring it in code:
//
//	st := memory.New()
//
// The store is safe for concurrent use. It copies the bytes it is given and
// the bytes it returns, so callers may modify theirs freely.
package memory
