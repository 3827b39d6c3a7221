package memcache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/sessionplus/sessionplus"
)

// memcached cannot list keys, so the records of a user are listed by one
// index item per user and key prefix, under indexKey, whose value is
//
//	indexVersion | entry*
//
// with, for each record, entry = uvarint(len(token)) | token | reserved |
// written: the record's storage key, 8 reserved bytes (see noDeadline) and
// the 8-byte big-endian Unix time at which the entry was written. Each
// entry says its own length, so a login adds its entry with memcached's
// append, one round trip that concurrent logins cannot lose (see
// indexUnder); entries of a token already listed are one (see merge). A
// record indexed under a user keeps the user in its own item (see
// item.go), and is listed while it is live and the user's, however often
// keep-alives moved its expiry: an entry says nothing of its record's
// expiry, so a keep-alive need not know of the index, nor read the record.
//
// append leaves an item's expiration as it was, and a login cannot tell
// what it is without another round trip, so index items are stored with
// none (0): they go when they are compacted empty or evicted. Compaction
// rewrites the item with gets and cas, dropping the superseded entries and
// those of records expired, deleted or moved to another user, but only
// entries written long enough ago that no save which wrote them can still
// be about to write its record (see settled). It happens at a listing that
// finds entries to drop (it has read every record listed), and at a login
// that the server refuses to append to because the item is at its size
// limit (which reads the records then, see live).
const indexVersion = 1

// indexRetries bounds the attempts of one compaction of an index item
// that concurrent logins of the same user keep changing.
const indexRetries = 64

var _ sessionplus.UserIndex = (*Store)(nil)

type entry struct {
	token   string
	written int64 // Unix seconds
}

// indexKey returns the key of user's index item among the records of key
// prefix prefix: prefix, ":u:" and 40 base64url characters of a SHA-256 of
// the user, 3 bytes shorter than the storage keys of the root package
// (prefix, ":" and 43 characters), which it can never equal.
func indexKey(prefix, user string) string {
	sum := sha256.Sum256([]byte(user))
	return prefix + ":u:" + base64.RawURLEncoding.EncodeToString(sum[:30])
}

// prefixOf returns the key prefix of a storage key: what comes before its
// last ":" ("" if it has none).
func prefixOf(token string) string {
	i := strings.LastIndexByte(token, ':')
	if i < 0 {
		return ""
	}
	return token[:i]
}

func encodeIndex(entries []entry) []byte {
	b := []byte{indexVersion}
	for _, e := range entries {
		b = appendEntry(b, e)
	}
	return b
}

// appendEntry appends the encoding of e to b.
func appendEntry(b []byte, e entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(e.token)))
	b = append(b, e.token...)
	b = binary.BigEndian.AppendUint64(b, noDeadline)
	return binary.BigEndian.AppendUint64(b, uint64(e.written))
}

var errMalformedIndex = errors.New("memcache: the user's index item is not in this driver's format " +
	"(another program wrote under its key?); delete it, and the user's sessions are listed again from their next login")

func decodeIndex(b []byte) ([]entry, error) {
	if len(b) == 0 || b[0] != indexVersion {
		return nil, errMalformedIndex
	}
	var entries []entry
	for rest := b[1:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n == 0 || n > uint64(len(rest)-k) || len(rest)-k-int(n) < 16 {
			return nil, errMalformedIndex
		}
		rest = rest[k:]
		e := entry{token: string(rest[:n])}
		rest = rest[n:]
		e.written = int64(binary.BigEndian.Uint64(rest[8:])) // rest[:8] is reserved: see noDeadline
		rest = rest[16:]
		entries = append(entries, e)
	}
	return entries, nil
}

// merge returns the entries of entries, one per token, in the order of
// their tokens' first entries. Where a token has several, the merged entry
// was written at the latest of their times, so that it settles only once
// the last save that wrote one has (see settled).
func merge(entries []entry) []entry {
	at := make(map[string]int, len(entries))
	var out []entry
	for _, e := range entries {
		i, ok := at[e.token]
		if !ok {
			at[e.token] = len(out)
			out = append(out, e)
			continue
		}
		out[i].written = max(out[i].written, e.written)
	}
	return out
}

// remember notes prefix as a key prefix whose index items UserRecords
// reads.
func (s *Store) remember(prefix string) {
	if _, ok := s.prefixes.Load(prefix); !ok {
		s.prefixes.Store(prefix, struct{}{})
	}
}

// knownPrefixes returns the prefixes remembered, sorted.
func (s *Store) knownPrefixes() []string {
	var out []string
	s.prefixes.Range(func(k, _ any) bool {
		out = append(out, k.(string))
		return true
	})
	slices.Sort(out)
	return out
}

// indexUnder lists token in user's index item of token's key prefix,
// before the record under token is written as user's. It
// appends the entry to the item: one round trip. memcached refuses the
// append (NOT_STORED) when there is no item, and then indexUnder adds one
// holding the entry; when a concurrent login added it first (NOT_STORED
// again), it appends once more. A third refusal is an item at the server's
// size limit, which indexUnder compacts with the entry in it.
func (s *Store) indexUnder(ctx context.Context, user, token string) error {
	prefix := prefixOf(token)
	key := indexKey(prefix, user)
	if !validKey(key) {
		return fmt.Errorf("memcache: the key prefix of the storage key (%d bytes) leaves no room for the key of the user index (%d bytes, over memcached's limit of %d): use a shorter key_prefix",
			len(prefix), len(key), MaxKeyLen)
	}
	s.remember(prefix)
	e := entry{token: token, written: time.Now().Unix()}
	tail := appendEntry(nil, e)
	for _, step := range []struct {
		op  string
		run func(*gomemcache.Item) error
		it  *gomemcache.Item
	}{
		{"append (user index)", s.client.Append, &gomemcache.Item{Key: key, Value: tail}},
		{"add (user index)", s.client.Add, &gomemcache.Item{Key: key, Value: append([]byte{indexVersion}, tail...)}},
		{"append (user index)", s.client.Append, &gomemcache.Item{Key: key, Value: tail}},
	} {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := step.run(step.it)
		if err == nil {
			return nil
		}
		if !errors.Is(err, gomemcache.ErrNotStored) {
			return s.writeError(step.op, err, key, step.it.Value)
		}
	}
	return s.compact(ctx, user, key, e)
}

// compact rewrites user's index item under key with e in it, with gets and
// cas (add where there is none), dropping the superseded entries (see
// merge) and, when the item would still be over max_item_size, the
// settled entries whose records are gone, expired or not user's (see
// live). It retries when a concurrent login
// changed the item in between.
func (s *Store) compact(ctx context.Context, user, key string, e entry) error {
	for attempt := 0; ; attempt++ {
		it, err := s.client.Get(key) // a gets: it carries the CAS id
		var entries []entry
		switch {
		case errors.Is(err, gomemcache.ErrCacheMiss):
			it = nil
		case err != nil:
			return &opError{"get (user index)", err}
		default:
			if entries, err = decodeIndex(it.Value); err != nil {
				return err
			}
		}
		entries = merge(append(entries, e))
		value := encodeIndex(entries)
		if s.checkSize(key, value) != nil {
			if entries, err = s.live(user, entries); err != nil {
				return err
			}
			value = encodeIndex(entries)
			if err := s.checkSize(key, value); err != nil {
				return fmt.Errorf("%w: the user has %d live sessions (or saved within the last minute), more than one index item of max_item_size lists; "+
					"log them out (RevokeUser) or raise max_item_size", ErrTooLarge, len(entries))
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		next := &gomemcache.Item{Key: key, Value: value}
		if it == nil {
			err = s.client.Add(next)
		} else {
			next.CasID = it.CasID
			err = s.client.CompareAndSwap(next)
		}
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, gomemcache.ErrCASConflict) && !errors.Is(err, gomemcache.ErrNotStored) && !errors.Is(err, gomemcache.ErrCacheMiss):
			return s.writeError("cas (user index)", err, key, value)
		case attempt+1 >= indexRetries:
			return fmt.Errorf("memcache: user index: the user's index item kept changing under concurrent logins; gave up after %d attempts: %w", attempt+1, err)
		}
		// Another login of the user appended to (or added, or dropped)
		// the item between our gets and our write: wait a little, at
		// random, and merge again.
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// live returns the entries of entries but those of settled entries whose
// records are gone or not user's: one more round trip, made only when the
// index item is full.
func (s *Store) live(user string, entries []entry) ([]entry, error) {
	tokens := make([]string, 0, len(entries))
	for _, e := range entries {
		tokens = append(tokens, e.token)
	}
	items, err := s.client.GetMulti(tokens)
	if err != nil {
		return nil, &opError{"get (records of a user)", err}
	}
	now := time.Now()
	return slices.DeleteFunc(entries, func(e entry) bool {
		return s.settled(e, now) && !owns(items[e.token], user, now)
	}), nil
}

// settled reports whether e was written long enough ago that the save
// which wrote it has written its record, or never will: a save takes
// at most the store's timeout (see do), and the last command it sent
// reaches memcached well within a minute after. Only then does a record
// that is missing, or another user's, make e stale: before, the save may
// be about to write it.
func (s *Store) settled(e entry, now time.Time) bool {
	return now.Sub(time.Unix(e.written, 0)) > s.timeout+time.Minute
}

// stale reports whether e, of user's index, lists no live record of user
// any more (it is the record under e's token, it if any), nor can again.
func (s *Store) stale(e entry, it *gomemcache.Item, user string, now time.Time) bool {
	return s.settled(e, now) && !owns(it, user, now)
}

// owns reports whether it holds a live record of user.
func owns(it *gomemcache.Item, user string, now time.Time) bool {
	if it == nil {
		return false
	}
	rec, u, err := decodeItem(it.Value)
	return err == nil && u == user && now.Before(rec.Expiry)
}

// UserRecords returns the live records indexed under user; see
// [sessionplus.UserIndex]. It reads the user's index item of every key
// prefix the store knows (those given to [Store.CheckKeyPrefix], which the
// root package calls at startup, and those of the records it indexed), then
// the records it lists, with one get of all of them, and returns those
// that are live and still the user's. Two round trips; when it found
// entries to drop (superseded ones, or settled ones of records that are
// gone, expired or no longer the user's), a third compacts the
// index item with cas (skipped if a login appended to it meanwhile). A
// store that knows no key prefix returns an error.
func (s *Store) UserRecords(ctx context.Context, user string) ([]sessionplus.UserRecord, error) {
	prefixes := s.knownPrefixes()
	if len(prefixes) == 0 {
		return nil, errors.New("memcache: UserRecords: the store knows no key_prefix to find the index under: " +
			"it indexed no record and Store.CheckKeyPrefix was not called (the root package calls it at startup)")
	}
	if user == "" {
		return nil, nil
	}
	var out []sessionplus.UserRecord
	err := s.do(ctx, "list (user index)", func(ctx context.Context) error {
		keys := make([]string, 0, len(prefixes))
		for _, p := range prefixes {
			if k := indexKey(p, user); validKey(k) {
				keys = append(keys, k)
			}
		}
		indexes, err := s.client.GetMulti(keys)
		if err != nil {
			return &opError{"get (user index)", err}
		}
		lists := make(map[string][]entry, len(indexes))
		var tokens []string
		for key, it := range indexes {
			entries, err := decodeIndex(it.Value)
			if err != nil {
				return err
			}
			lists[key] = entries
			for _, e := range entries {
				tokens = append(tokens, e.token)
			}
		}
		if len(tokens) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		items, err := s.client.GetMulti(tokens)
		if err != nil {
			return &opError{"get (records of a user)", err}
		}
		now := time.Now()
		for key, entries := range lists {
			merged := merge(entries)
			for _, e := range merged {
				it := items[e.token]
				if !owns(it, user, now) {
					continue
				}
				rec, _, _ := decodeItem(it.Value)
				out = append(out, sessionplus.UserRecord{Token: e.token, Record: rec})
			}
			keep := slices.DeleteFunc(merged, func(e entry) bool { return s.stale(e, items[e.token], user, now) })
			if len(keep) < len(entries) && ctx.Err() == nil {
				s.prune(indexes[key], keep)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// prune rewrites the index item it with the entries keep alone, with
// cas: best effort, as a listing's side job. A login that appended to the
// item since it was read makes the cas fail, and the entries stay for the
// next listing or compaction. An item left with no entry is dropped: the
// cas gives it an expiration in the past, which memcached reads as gone
// now, so that no login can append to an item about to expire.
func (s *Store) prune(it *gomemcache.Item, keep []entry) {
	next := &gomemcache.Item{Key: it.Key, Value: encodeIndex(keep), CasID: it.CasID}
	if len(keep) == 0 {
		next.Expiration = -1
	}
	_ = s.client.CompareAndSwap(next) // best effort: see above
}
