package memory

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/sessionplus/sessionplus"
)

// Name is the session_type under which the driver registers.
const Name = "memory"

func init() { sessionplus.Register(Name, Driver{}) }

// Driver opens memory stores. It is registered under [Name].
type Driver struct{}

// options are the driver-specific keys of a memory session: none today, so
// that every key is reported as unknown.
type options struct{}

// Open returns a new, empty [Store]. opts must hold no driver-specific keys.
func (Driver) Open(_ context.Context, opts sessionplus.Options) (sessionplus.Store, error) {
	var o options
	if err := sessionplus.DecodeOptions(opts, &o); err != nil {
		return nil, err
	}
	return New(), nil
}

var _ sessionplus.Store = (*Store)(nil)

// minSweepWrites is the fewest writes between two sweeps of a small store.
const minSweepWrites = 64

// errExpired is returned for a record found past its expiry.
var errExpired = fmt.Errorf("%w (expired)", sessionplus.ErrNotFound)

// entry is one stored record. Its values map and byte slices are never
// modified once stored: a write stores a new map, so Load can copy an
// entry's values outside the lock.
type entry struct {
	values map[string][]byte
	expiry time.Time
}

// Store is an in-process [sessionplus.Store]. It is safe for concurrent use.
// The zero value is an empty store ready to use; a Store must not be copied
// after first use.
type Store struct {
	mu      sync.Mutex
	records map[string]entry
	writes  int // writes since the last sweep
	sweepAt int // writes between two sweeps: the size after the last one, at least minSweepWrites
}

// New returns an empty store.
func New() *Store { return &Store{records: make(map[string]entry)} }

// Len returns the number of records the store holds, including expired ones
// that have not been reclaimed yet.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// Load returns a copy of the record stored under token. It returns an error
// wrapping [sessionplus.ErrNotFound] if there is none or if its expiry has
// passed, and ctx.Err() if ctx is done.
func (s *Store) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	if err := ctx.Err(); err != nil {
		return sessionplus.Record{}, err
	}
	now := time.Now()
	s.mu.Lock()
	e, ok := s.records[token]
	if ok && !now.Before(e.expiry) {
		delete(s.records, token)
		s.mu.Unlock()
		return sessionplus.Record{}, errExpired
	}
	s.mu.Unlock()
	if !ok {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	return sessionplus.Record{Values: cloneValues(e.values), Expiry: e.expiry}, nil
}

// Save applies u to the record under token as [sessionplus.Update]
// describes, and returns token. A record whose new expiry has already passed
// is removed rather than stored. A keep-alive of a record that is missing or
// expired returns an error wrapping [sessionplus.ErrNotFound]. If ctx is
// done, Save changes nothing and returns ctx.Err().
func (s *Store) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	set := cloneValues(u.Set) // copied before taking the lock
	now := time.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.records[token]
	live := ok && now.Before(old.expiry)

	var values map[string][]byte
	switch {
	case u.Replace:
		values = set
	case u.IsKeepAlive():
		if !live {
			if ok {
				delete(s.records, token)
				return "", errExpired
			}
			return "", sessionplus.ErrNotFound
		}
		values = old.values
	case live:
		// A field-level write: fields in Del go, then fields in Set are
		// written, so a field named in both ends up set.
		values = maps.Clone(old.values)
		for _, name := range u.Del {
			delete(values, name)
		}
		maps.Copy(values, set)
	default:
		// A field-level write to a missing or expired record creates it
		// from Set alone: fields of an expired record never come back.
		values = set
	}

	if now.Before(u.Expiry) {
		if s.records == nil {
			s.records = make(map[string]entry)
		}
		s.records[token] = entry{values: values, expiry: u.Expiry}
	} else {
		delete(s.records, token)
	}
	s.wrote(now)
	return token, nil
}

// Delete removes the record under token. Deleting an unknown token returns
// nil. If ctx is done, Delete changes nothing and returns ctx.Err().
func (s *Store) Delete(ctx context.Context, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, token)
	s.wrote(now)
	return nil
}

// wrote counts a write and sweeps expired records once the writes since the
// last sweep reach the size the store had after it (at least
// minSweepWrites). A sweep of n records is thus paid for by at least n
// writes, so writes cost O(1) amortised, and the store never holds more than
// the records live at the last sweep plus the writes since, that is
// n + max(n, minSweepWrites). s.mu must be held.
func (s *Store) wrote(now time.Time) {
	s.writes++
	if s.writes < max(minSweepWrites, s.sweepAt) {
		return
	}
	before := len(s.records)
	maps.DeleteFunc(s.records, func(_ string, e entry) bool { return !now.Before(e.expiry) })
	s.writes, s.sweepAt = 0, len(s.records)
	// Go maps never give back their buckets; once most records have gone,
	// move the rest to a new map so that the memory follows the live set.
	if len(s.records) < before/2 {
		records := make(map[string]entry, len(s.records))
		maps.Copy(records, s.records)
		s.records = records
	}
}

// cloneValues deep-copies a record's values. The copy of an empty value is
// an empty, non-nil slice.
func cloneValues(in map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(in))
	for name, v := range in {
		out[name] = append(make([]byte, 0, len(v)), v...)
	}
	return out
}
