// Package memcache is the session driver for memcached, over
// [github.com/bradfitz/gomemcache], registered as session_type "memcache"
// ([Name]).
//
// Importing the package for its side effect registers the driver:
//
//	import _ "github.com/sessionplus/sessionplus/drivers/memcache"
//
// A session then selects it with a live client or with the servers to
// connect to:
//
//	sessionplus.Options{"cookie_name": "session", "session_type": "memcache", "client": mc}
//	sessionplus.Options{"cookie_name": "session", "session_type": "memcache",
//		"servers": []string{"10.0.0.1:11211", "10.0.0.2:11211"}}
//
// # Options
//
// Exactly one of client and servers is required; the other keys are
// optional. Open rejects unknown keys, values of the wrong type and the
// other mistakes below (both client and servers, a value out of range, a
// server that is not a "host:port") with an error wrapping
// [sessionplus.ErrConfig] that names the key. [sessionplus.New] finds all
// of them, in every session, before it contacts any server.
//
//   - client (*memcache.Client of gomemcache): a client the application
//     made and keeps: closing the sessions leaves it open. Its Timeout (the
//     network timeout of each round trip) and MaxIdleConns are the
//     application's to set.
//   - servers ([]string): the servers, each "host:port" (or the path of a
//     Unix socket), spread by gomemcache's own ServerList selector. The
//     driver builds the client and closes it when the sessions are closed.
//   - timeout (duration: a time.Duration, a string such as "5s", or whole
//     seconds; default 5s, [DefaultTimeout]): the longest any one
//     operation of the store may take (Load, Save, Delete, each with all
//     of its round trips, and Open's ping). An operation ends at the
//     earlier of the caller's deadline and this bound, for a client passed
//     in as for one built from servers: a request's context often has no
//     deadline. For the client built from servers it is also the client's
//     Timeout, the network timeout of each dial and round trip (gomemcache's
//     default is 500ms); a client passed in keeps its own (see Errors and
//     contexts for what that means). It must be positive.
//   - max_idle_conns (int): the idle connections to each server that the
//     client built from servers keeps. Default [DefaultMaxIdleConns] (10;
//     gomemcache's own default of 2 makes a busy app reconnect constantly).
//     Only with servers.
//   - max_item_size (int, bytes, at least 1024): the largest item Save
//     writes: key, encoded record and memcached's item header of about 60
//     bytes. Set it to the servers' item size limit (memcached -I). Default
//     [DefaultMaxItemSize], 1 MiB, memcached's default.
//   - cas_retries (int, at least 1): how many times a field-level write is
//     retried after a concurrent write of the same session. Default
//     [DefaultCASRetries] (10).
//
// The common keys (cookie_*, session_lifetime, key_prefix, ...) are the root
// package's. Open then resolves the servers' addresses and pings every
// server once, so that a wrong address or a server that is down fails at
// startup; that error names the key but does not wrap ErrConfig. With its
// context done already, Open returns the context's error without
// connecting.
//
// # Storage layout
//
// A session is one item, whose key is the token the root package derives
// from the session id: key_prefix, ":" and 43 base64url characters (by
// default a hash of the id). memcached keys are at most 250 bytes without
// spaces or control characters, so key_prefix must be at most 206 bytes;
// [Store.CheckKeyPrefix] checks a prefix. Load and Delete of a token that
// is not a valid memcached key return an error wrapping
// [sessionplus.ErrNotFound] (nothing can be stored under it); Save under
// such a token fails with an error that says so.
//
// The item's value is the record in [sessionplus.MarshalRecord]'s encoding
// (its fields and its expiry), followed by one 8-byte Unix time per
// keep-alive since the record was last written: the last of them is the
// record's expiry. The item thus grows by 8 bytes per keep-alive (the root
// package sends at most one per tenth of the session's lifetime) until the
// next write of fields rewrites it. A record indexed under a user also
// holds, ahead of it, the user (see Users' sessions); the index items
// themselves are under key_prefix,
// ":u:" and 40 characters of a hash of the user, which no session key can
// be.
//
// # Expiry
//
// memcached drops each item on its own: the driver sends an expiration a few
// seconds before the record's expiry, as seconds from now up to 30 days, and
// as an absolute Unix time beyond (memcached's rule: a larger number of
// seconds would be read as a date in 1970). memcached's clock ticks once a
// second, so an item can outlive its expiration by up to two seconds; the
// margin (3 seconds for relative times; one minute for absolute ones, which
// memcached reads on its own clock, so that a server clock up to a minute
// behind the application's is covered) makes sure an item is gone by the
// time its record expires. A session thus ends up to a few seconds before its
// recorded expiry, and a save whose new expiry falls within that margin
// deletes the item rather than storing it. Expirations are capped at
// memcached's largest, in January 2038. (The root package checks the expiry
// of every record Load returns, so a server that is late to drop an item
// never serves it.)
//
// # Keep-alives
//
// A keep-alive ([sessionplus.Touch]) neither reads nor rewrites the
// record: it appends the new expiry to the item (memcached's append), then
// touches the item with the new expiration (memcached's touch), two round
// trips whose answers are a few bytes each, however large the record, and
// with a user index as without. Both commands need the item to be there,
// so a keep-alive never creates one: a keep-alive of a missing item, or of
// one deleted while it runs, returns an error wrapping
// [sessionplus.ErrNotFound]. As memcached has dropped an item by the time
// its record expires, an item they find holds a live record: a keep-alive
// can never revive an expired session. Reading nothing, a keep-alive cannot
// tell an item that is not this driver's: it appends its expiry to it all
// the same, which leaves it no session. A keep-alive racing a write of the
// same session may leave the record with the earlier of their two expiries.
//
// memcached refuses an append with the same NOT_STORED both when there is
// no item and when the item would outgrow the server's size limit. The
// keep-alive then reads the item with gets: a miss is a record that is gone
// ([sessionplus.ErrNotFound]); a live record is rewritten with cas as a
// field-level write of no fields would, which drops the appended expiries.
//
// # Field-level writes
//
// memcached has no partial update. A field-level write
// ([sessionplus.Write]) reads the item with gets, applies the changed and
// deleted fields to its record, and writes it back with cas. It never
// creates an item: if there is none, if its record has expired, if it is not
// in this driver's format, or if it is deleted between the gets and the cas
// (a log-out during the request), the write stores nothing and returns an
// error wrapping [sessionplus.ErrNotFound]. When another request wrote the
// item in between, the write is retried, after a short random wait, up to
// cas_retries times; so two requests that change different fields of one
// session both land. A write that still conflicts then fails with an error
// wrapping gomemcache's ErrCASConflict (or ErrNotStored).
//
// # Size limit
//
// A record whose item would be over max_item_size is not written: Save
// returns an error wrapping [ErrTooLarge] that gives the item's size and
// the limit (the root package adds the session's name). If a server refuses
// an item that max_item_size allowed (its -I is lower), Save returns an
// error wrapping ErrTooLarge with the server's answer, never a silent drop.
//
// # Errors and contexts
//
// Only a missing item (gomemcache's ErrCacheMiss, or a cas answered
// NOT_FOUND), an item not in this driver's format, an expired record and an
// invalid key are "not found": any other failure, such as a server that is
// down, is returned as an error, never as an empty session. Errors never
// hold a value.
//
// Each operation ends when its context does: the caller's, bounded by the
// timeout option. It then fails with an error that is errors.Is
// context.DeadlineExceeded (context.Canceled where the caller canceled),
// never [sessionplus.ErrNotFound]; the store's timeout says so: "no answer
// from memcached within 5s (the store's timeout)". gomemcache takes no
// context, so this differs from the drivers whose clients do in one
// respect: the store runs the round trips of each operation in a goroutine
// of its own and stops waiting for them when the context ends, but cannot
// interrupt a round trip under way. That round trip goes on in the
// background until it is done or the client's own Timeout cuts it off
// (the store's timeout for the client built from servers; whatever the
// application set, 500ms by default, for a client passed in), and its
// result is dropped. The operation takes no further step: a save checks
// its context before each write (of an index item, of the record), and the
// waits between CAS retries end with it. A keep-alive that appended its
// expiry but stopped before its touch leaves the item to memcached's
// earlier expiration: it ends before its record says. A write that timed
// out may thus still land. A client passed in with a Timeout longer than
// the store's keeps such goroutines, one per operation that timed out, for
// that long.
//
// # Users' sessions (UserIndex)
//
// The store implements [sessionplus.UserIndex], so that
// [sessionplus.Manager.UserSessions], [sessionplus.Manager.RevokeUser] and
// the like work with Config.UserField. memcached cannot list keys, so the
// store keeps one index item per user (and key_prefix), listing the
// storage key of each of the user's records. A record of a user keeps the
// user in its own item. An entry says nothing of its record's expiry: a
// listing reads the records and keeps those that are live, so a
// keep-alive need not know of the index, and a record kept alive stays
// listed for as long as it lives.
//
// A login appends its entry to the user's index item with memcached's
// append, one round trip: appends are atomic, so concurrent logins of the
// user all land (each entry says its own length; the entries of a token
// listed more than once are one). When there is no index item the append
// is refused,
// and the login adds one (if a concurrent login added it first, it appends
// again). The entry is always written before the record: a save whose
// index update fails stores nothing, so no record of a user is ever
// stored where the user's index does not list it.
//
// append keeps an item's expiration and a login cannot learn it without a
// further round trip, so index items are stored with no expiration (0);
// an expiration could otherwise end an item before the entries appended to
// it since. The item is kept bounded by compaction instead: a rewrite with
// gets and cas that drops the superseded entries, and those of records
// expired, deleted or moved to another user once no save that wrote them
// can still be under way (a minute past the store's timeout). A listing,
// which has read the records, compacts every item in which it finds such
// entries (an item left with none is dropped), and so does a login whose
// append the server refuses because the item is at the server's item size
// limit, with one more round trip, a get of the records listed; if the
// user's live sessions still do not fit in max_item_size,
// that login fails with an error wrapping [ErrTooLarge]. A compaction that
// loses to a concurrent login is retried (up to 64 times) at a login, and
// left to the next listing at a listing.
//
// [Store.UserRecords] reads the index items (one get), then the records
// they list (one get of all of them), and returns those that are live and
// still the user's: it never lists a record that is gone. It looks under
// every key_prefix the store knows: those of [Store.CheckKeyPrefix], which
// the root package calls at startup, and those of the records it indexed.
// A store that knows none returns an error.
//
// Cost, in round trips: a Load, a Delete, a Write that keeps the user and a
// keep-alive cost what they cost without the index, however far a
// keep-alive moves the expiry (a Delete leaves the entry, see above). A login costs one more, the append: a Create with a
// user takes 2 instead of 1, a Write that sets a user 3 instead of 2. The
// first login of a user (or the first after a listing dropped the user's
// emptied item) costs two more, the refused append and the add; a login
// that finds the item full costs the compaction too (gets, and cas; a get
// of the records when it must check which are gone). A log-out (a Write
// setting no user) takes no more. A listing takes 2, and a third per index
// item it compacts.
//
// Limitations. memcached is a cache: under memory pressure it evicts items
// it has not used lately, index items as well as records. An evicted
// record is a session that ended (its browser starts a new one; its entry
// is skipped). An evicted index item loses the entries of its user's
// sessions: until those sessions' next login, UserSessions does not show
// them and RevokeUser cannot end them. Size memcached so
// that it never evicts (watch the evictions counter of memcached's stats),
// keep the sessions on servers of their own rather than sharing them with a
// cache, or run memcached with -M, which refuses new items with an error
// when memory is full rather than evicting: logins then fail, visibly,
// instead of leaving sessions unlisted. A server that is down makes the
// logins and listings of the users whose index items it holds fail with an
// error (each index item is on the server gomemcache picks for its key,
// often not the one of the records). Two stores on the same servers under
// the same key_prefix share their indexes. A record written before the
// user index was in use (by an earlier version of this driver, or without
// Config.UserField) is indexed at its next login, not before; and a
// version of this driver from before the user index reads a record of a
// user as no session. The items and index items of the version whose
// index entries held a deadline (and whose keep-alives read the record to
// move it) read as this version's, the deadline ignored; in a deployment
// that runs both for a while, that version never drops an entry this one
// wrote, but may drop one of its own at its deadline while a keep-alive of
// this version has moved the record's expiry past it, leaving that
// session unlisted until its next login.
// As index items have no expiration, the item of a user who is never
// listed again keeps the entries of the user's expired sessions until
// memcached evicts it (it grows no further than the user's logins, and a
// login compacts it at the server's size limit): with -M, such items take
// memory that only a listing (UserSessions, RevokeUser) of the user, or a
// flush, gives back. Between compactions an item also holds the entries
// of sessions ended or moved, up to the server's item size limit.
//
// # Several servers
//
// With several servers each item lives on one of them, picked from its key
// by gomemcache's selector (a CRC-32 of the key, modulo the number of
// servers), and every application instance that lists the same servers in
// the same order finds a session on the same server. A server that is down
// makes the sessions it holds fail to load, with an error; they are not
// moved. Changing the list moves most sessions to another server, where
// they are not found: users of those sessions start new ones.
//
// # Typed constructor
//
// [New] returns a store for a client without the registry:
//
//	mc := gomemcache.New("10.0.0.1:11211", "10.0.0.2:11211")
//	st := memcache.New(mc, &memcache.Options{MaxItemSize: 2 << 20, Timeout: 2 * time.Second})
//
// and sessionplus.Options{"cookie_name": "session", "store": st} uses it.
package memcache
