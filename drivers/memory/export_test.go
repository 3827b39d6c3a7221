package memory

import (
	"fmt"
	"time"
)

// SweepBatch and LogInterval are the constants the tests check against.
const (
	SweepBatch  = sweepBatch
	LogInterval = logInterval
)

// SetClock makes s read the time from now instead of time.Now. Call it
// before the store is first used.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Check verifies the invariants of s's indexes: the map and the heap of
// every shard hold the same entries, each knows its place in the heap, the
// heap is ordered, soonest is its head, and held counts them all.
func (s *Store) Check() error {
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		err := sh.check(i)
		total += len(sh.records)
		sh.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if held := s.Len(); held != total {
		return fmt.Errorf("Len() = %d, the shards hold %d", held, total)
	}
	return nil
}

func (sh *shard) check(i int) error {
	if len(sh.records) != len(sh.queue) {
		return fmt.Errorf("shard %d: %d records, %d in the queue", i, len(sh.records), len(sh.queue))
	}
	for j, it := range sh.queue {
		if it.entry.index != j {
			return fmt.Errorf("shard %d: entry at %d says %d", i, j, it.entry.index)
		}
		if sh.records[it.entry.token] != it.entry {
			return fmt.Errorf("shard %d: queued entry %d is not the record of its token", i, j)
		}
		if parent := (j - 1) / 2; j > 0 && it.expiry < sh.queue[parent].expiry {
			return fmt.Errorf("shard %d: entry %d expires before its parent", i, j)
		}
	}
	var want int64
	if len(sh.queue) > 0 {
		want = sh.queue[0].expiry
	}
	if got := sh.soonest.Load(); got != want {
		return fmt.Errorf("shard %d: soonest = %d, want %d", i, got, want)
	}
	return nil
}
