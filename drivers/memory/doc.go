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
// Use a server-side backend (redis, mongodb, firestore, memcache, postgres)
// or the secure_cookie store for anything else.
//
// # Options
//
//   - max_sessions (int, default 100,000, [DefaultMaxSessions]): the most
//     records the store holds. It must be a positive whole number; 0, a
//     negative number, a fraction or a value of another type is an error
//     wrapping [sessionplus.ErrConfig] that names the key.
//
// Any other driver-specific key is rejected the same way. The store logs
// through the logger of the sessions (see [sessionplus.DriverConfig.Logger]).
//
// # Eviction
//
// The store never holds more than max_sessions records (give or take the
// Creates running at that instant), so that logins from a client that keeps
// no cookie cannot fill the memory of the process. A Create of a new token
// in a full store first removes the record nearest to its expiry, never the
// one being created: expired records go first, then ordinary sessions
// before permanent ones. A Create over a token the store holds removes
// nothing. A Load, Write or Touch of an evicted record finds nothing
// ([sessionplus.ErrNotFound]), as for an expired one, and creates nothing.
// [Store.Evicted] counts the live records evicted, and while evictions go
// on the logger gets a warning at most once a minute, with the count since
// the last one; it never holds tokens or values.
//
// # Expiry and sweeping
//
// Each record keeps its absolute expiry, and [Store.Load] never returns a
// record whose expiry has passed. The store is split into 64 shards by a
// hash of the token, each under its own lock and each with its records in
// a min-heap by expiry. Every call (Load, Save, Delete) removes up to 8
// expired records from its token's shard, and up to 8 more from one other
// shard chosen at random if that one's lock is free, so expired records are
// reclaimed as long as the store is used at all, a bounded amount of work at
// a time: no request waits for a sweep of the whole store, and there is no
// background goroutine. [Store.Len] reports how many records are held,
// expired ones not yet swept included. The memory of the maps and heaps is
// kept once the records have gone (Go maps do not shrink), at most what
// max_sessions records took.
//
// # Memory and latency
//
// A record is kept as one string (its fields, length-prefixed), a small
// entry, and a slot in its shard's map and in its heap. Measured with
// bench/cmd/memstore on 2 cores (go1.26, median of 3 runs, lowest and
// highest in brackets), for a token of 51 bytes and two fields of 40 bytes:
//
//   - heap per session: 283 bytes at 100,000 sessions and 299 at 1,000,000,
//     against 633 and 677 for the store this one replaced (one map and one
//     lock, swept whole);
//   - 1,000,000 sessions, half of them expiring over a 10 s window of
//     Loads, Writes and Touches from 2 goroutines: a request arriving at a
//     random moment took 39 µs at the 99th percentile for a Load (35–43)
//     and 31 µs for a Write (28–32), 4.1 ms at most (3.8–12.1), against
//     74 µs, 84 µs and 52 ms (51–55) for the old store;
//   - reclaiming 1,000,000 expired sessions, one goroutine alone: no call
//     took longer than 3.6 ms (3.0–4.5), about the longest gap of an empty
//     loop on the same machine (2.7 ms, 2.4–3.4), against 302 ms (270–318)
//     for the one call of the old store that swept them all.
//
// The command and the full table are in bench/cmd/memstore:
//
//	cd bench && go run ./cmd/memstore -sizes 100000,1000000 -runs 3
//
// # Constructors
//
// [New] and [NewWithOptions] return a store directly, without the registry,
// for tests or for wiring it in code:
//
//	st := memory.New() // the defaults
//	st, err := memory.NewWithOptions(&memory.Options{MaxSessions: 10_000, Logger: logger})
//
// The zero [Store] is ready to use too, with the defaults. The store is
// safe for concurrent use. It copies the bytes it is given and the bytes it
// returns, so callers may modify theirs freely.
package memory
