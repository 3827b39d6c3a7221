package main

// The baseline: the memory store as it was before issue 15, copied from
// drivers/memory/memory.go at commit 3b24909 (unchanged up to 92aead1)
// so that both stores are measured in the same run. Only the names
// changed (Store → baselineStore, New → newBaseline, entry →
// baselineEntry, and the two helpers), and the driver and its
// registration were left out; the code is otherwise as it was.

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/sessionplus/sessionplus"
)

// baselineMinSweepWrites is the fewest writes between two sweeps of a small store.
const baselineMinSweepWrites = 64

// baselineEntry is one stored record. Its values map and byte slices are never
// modified once stored: a write stores a new map, so Load can copy a
// baselineEntry's values outside the lock.
type baselineEntry struct {
	values map[string][]byte
	expiry time.Time
}

// baselineStore is an in-process [sessionplus.Store]. It is safe for concurrent use.
// The zero value is an empty store ready to use; a baselineStore must not be copied
// after first use.
type baselineStore struct {
	mu      sync.Mutex
	records map[string]baselineEntry
	writes  int // writes since the last sweep
	sweepAt int // writes between two sweeps: the size after the last one, at least baselineMinSweepWrites
}

// New returns an empty store.
func newBaseline() *baselineStore { return &baselineStore{records: make(map[string]baselineEntry)} }

// Len returns the number of records the store holds, including expired ones
// that have not been reclaimed yet.
func (s *baselineStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// Load returns a copy of the record stored under token. It returns an error
// wrapping [sessionplus.ErrNotFound] if there is none or if its expiry has
// passed.
func (s *baselineStore) Load(_ context.Context, token string) (sessionplus.Record, error) {
	now := time.Now()
	s.mu.Lock()
	e, ok := s.records[token]
	if ok && !now.Before(e.expiry) {
		delete(s.records, token)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	return sessionplus.Record{Values: baselineCloneValues(e.values), Expiry: e.expiry}, nil
}

// Save applies u to the record under token as [sessionplus.Kind] describes,
// and returns token. A Write or Touch of a record that is missing or
// expired changes nothing and returns [sessionplus.ErrNotFound].
func (s *baselineStore) Save(_ context.Context, token string, u sessionplus.Update) (string, error) {
	set := baselineCloneValues(u.Set) // copied before taking the lock
	now := time.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.records[token]
	var values map[string][]byte
	switch {
	case u.Kind == sessionplus.Create:
		values = set
	case !ok || !now.Before(old.expiry):
		delete(s.records, token)
		return "", sessionplus.ErrNotFound
	case u.Kind == sessionplus.Touch:
		values = old.values
	case u.Kind == sessionplus.Write:
		// Stored values are never modified in place (Load copies outside
		// the lock): a write stores a new map.
		values = maps.Clone(old.values)
		for _, name := range u.Del {
			delete(values, name)
		}
		maps.Copy(values, set)
	default:
		return "", fmt.Errorf("memory: unknown kind of save %v", u.Kind)
	}
	if s.records == nil {
		s.records = make(map[string]baselineEntry)
	}
	s.records[token] = baselineEntry{values: values, expiry: u.Expiry}
	s.wrote(now)
	return token, nil
}

// Delete removes the record under token. It returns
// [sessionplus.ErrNotFound] if there was none.
func (s *baselineStore) Delete(_ context.Context, token string) error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[token]; !ok {
		return sessionplus.ErrNotFound
	}
	delete(s.records, token)
	s.wrote(now)
	return nil
}

// wrote counts a write and sweeps expired records once the writes since the
// last sweep reach the size the store had after it (at least
// baselineMinSweepWrites). A sweep of n records is thus paid for by at least n
// writes, so writes cost O(1) amortised, and the store never holds more than
// the records live at the last sweep plus the writes since, that is
// n + max(n, baselineMinSweepWrites). s.mu must be held.
func (s *baselineStore) wrote(now time.Time) {
	s.writes++
	if s.writes < max(baselineMinSweepWrites, s.sweepAt) {
		return
	}
	before := len(s.records)
	maps.DeleteFunc(s.records, func(_ string, e baselineEntry) bool { return !now.Before(e.expiry) })
	s.writes, s.sweepAt = 0, len(s.records)
	// Go maps never give back their buckets; once most records have gone,
	// move the rest to a new map so that the memory follows the live set.
	if len(s.records) < before/2 {
		records := make(map[string]baselineEntry, len(s.records))
		maps.Copy(records, s.records)
		s.records = records
	}
}

// baselineCloneValues deep-copies a record's values. The copy of an empty value is
// an empty, non-nil slice.
func baselineCloneValues(in map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(in))
	for name, v := range in {
		out[name] = append(make([]byte, 0, len(v)), v...)
	}
	return out
}
