package memcache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
// with, for each record, entry = uvarint(len(token)) | token | deadline |
// written: the record's storage key, the 8-byte big-endian Unix time until
// which the entry holds, and the one at which it was written. A record indexed under a user keeps the user and its
// entry's deadline in its own item (see item.go). Its expiry never passes
// that deadline: a save that would move it past writes a later deadline to
// the index first. Every update of an index item drops the entries whose
// deadline has passed, and the item expires with its last entry. Entries
// of records deleted or moved to another user go that way too, or when a
// listing finds them stale: but only entries written long enough ago that
// no save which wrote them can still be about to write its record (see
// settled).
const indexVersion = 1

// entrySlackMin is the least time by which an index entry outlives the
// expiry it was written for; the slack is otherwise the record's lifetime
// at the time, so that keep-alives move the entry about once per lifetime.
const entrySlackMin = 5 * time.Second

// indexRetries bounds the attempts of one update of an index item that
// concurrent logins of the same user keep changing: each attempt but one
// of concurrent ones lands, so it is larger than cas_retries.
const indexRetries = 64

var _ sessionplus.UserIndex = (*Store)(nil)

type entry struct {
	token    string
	deadline int64 // Unix seconds
	written  int64 // Unix seconds
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

// entryDeadline returns the deadline of the index entry of a record that
// expires at expiry, saved at now.
func entryDeadline(expiry, now time.Time) time.Time {
	slack := max(expiry.Sub(now), entrySlackMin)
	return time.Unix(expiry.Add(slack).Unix()+1, 0)
}

// indexExpiration returns the expiration of an index item whose last entry
// holds until last: the item must outlive it, so it is rounded up (and a
// minute later as an absolute time, for a server clock ahead of the
// application's); 0, never, past what memcached takes.
func indexExpiration(last, now time.Time) int32 {
	secs := int64(last.Sub(now)/time.Second) + 2
	switch {
	case secs <= 0:
		return 1
	case secs <= maxRelative:
		return int32(secs)
	case last.Unix()+absoluteMargin < math.MaxInt32:
		return int32(last.Unix() + absoluteMargin)
	}
	return 0
}

func encodeIndex(entries []entry) []byte {
	n := 1
	for _, e := range entries {
		n += binary.MaxVarintLen16 + len(e.token) + 16
	}
	b := make([]byte, 1, n)
	b[0] = indexVersion
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(e.token)))
		b = append(b, e.token...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.deadline))
		b = binary.BigEndian.AppendUint64(b, uint64(e.written))
	}
	return b
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
		e.deadline = int64(binary.BigEndian.Uint64(rest))
		e.written = int64(binary.BigEndian.Uint64(rest[8:]))
		rest = rest[16:]
		entries = append(entries, e)
	}
	return entries, nil
}

// lastDeadline returns the latest deadline of entries.
func lastDeadline(entries []entry) time.Time {
	var last int64
	for _, e := range entries {
		last = max(last, e.deadline)
	}
	return time.Unix(last, 0)
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

// indexUnder lists token in user's index item of token's key prefix until
// deadline, before the record under token is written with that owner. It
// reads the item with gets and writes it back with cas (add where there is
// none), dropping the entries whose deadline has passed, and retries when a
// concurrent login of the user changed the item in between.
func (s *Store) indexUnder(ctx context.Context, user, token string, deadline time.Time) error {
	prefix := prefixOf(token)
	key := indexKey(prefix, user)
	if !validKey(key) {
		return fmt.Errorf("memcache: the key prefix of the storage key (%d bytes) leaves no room for the key of the user index (%d bytes, over memcached's limit of %d): use a shorter key_prefix",
			len(prefix), len(key), MaxKeyLen)
	}
	s.remember(prefix)
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
		now := time.Now()
		entries = slices.DeleteFunc(entries, func(e entry) bool { return e.deadline <= now.Unix() || e.token == token })
		entries = append(entries, entry{token: token, deadline: deadline.Unix(), written: now.Unix()})
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
		next := &gomemcache.Item{Key: key, Value: value, Expiration: indexExpiration(lastDeadline(entries), now)}
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
		// Another login of the user wrote (or added, or dropped) the item
		// between our gets and our write: wait a little, at random, and
		// merge again.
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
// any more (it is the record under e's token, it if any).
func (s *Store) stale(e entry, it *gomemcache.Item, user string, now time.Time) bool {
	return e.deadline <= now.Unix() || (s.settled(e, now) && !owns(it, user, now))
}

// owns reports whether it holds a live record of user.
func owns(it *gomemcache.Item, user string, now time.Time) bool {
	if it == nil {
		return false
	}
	rec, o, err := decodeItem(it.Value)
	return err == nil && o.user == user && now.Before(rec.Expiry)
}

// UserRecords returns the live records indexed under user; see
// [sessionplus.UserIndex]. It reads the user's index item of every key
// prefix the store knows (those given to [Store.CheckKeyPrefix], which the
// root package calls at startup, and those of the records it indexed), then
// the records it lists, with one get of all of them, and returns those
// that are live and still the user's. Two round trips; when it found
// entries of records that are gone or no longer the user's, a third drops
// them from the index item with cas (skipped if a login changed the item
// meanwhile). A store that knows no key prefix returns an error.
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
			stale := 0
			for _, e := range entries {
				it := items[e.token]
				if s.stale(e, it, user, now) {
					stale++
				}
				if e.deadline <= now.Unix() || !owns(it, user, now) {
					continue
				}
				rec, _, _ := decodeItem(it.Value)
				out = append(out, sessionplus.UserRecord{Token: e.token, Record: rec})
			}
			if stale > 0 && ctx.Err() == nil {
				s.prune(indexes[key], entries, items, user, now)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// prune drops the stale entries from the index item it, read with entries,
// with cas: best effort, as a listing's side job. A login that changed the
// item since it was read makes the cas fail, and the entries stay for the
// next update or listing.
func (s *Store) prune(it *gomemcache.Item, entries []entry, items map[string]*gomemcache.Item, user string, now time.Time) {
	keep := slices.DeleteFunc(slices.Clone(entries), func(e entry) bool {
		return s.stale(e, items[e.token], user, now)
	})
	next := &gomemcache.Item{Key: it.Key, Value: encodeIndex(keep), CasID: it.CasID, Expiration: 1}
	if len(keep) > 0 {
		next.Expiration = indexExpiration(lastDeadline(keep), now)
	}
	_ = s.client.CompareAndSwap(next) // best effort: see above
}
