package mongo

import (
	"context"
	"sync"
)

// keyLocks serializes the saves and deletes of one token within a Store.
// MongoDB needs none of it: each Write and Touch is one conditional update
// that the server applies to the document atomically. Some servers of its
// wire protocol do not: FerretDB v1 runs an update as a read of the
// matching document, $set and $unset applied in memory, and a write of the
// whole document back, with no lock in between. Two field-level writes of
// one session at the same time then lose fields (drivertest's
// ConcurrentFieldWrites fails without this lock), and a write that read
// the document before a concurrent Delete reports success though it
// changed nothing. Serializing the saves and deletes of a token makes the
// requests of one app instance safe on such servers too, at no cost to
// those of different sessions.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds one token while the lock is held
	refs int           // holders and waiters
}

// lock waits until the lock of key is free or ctx is done, and returns the
// function that releases it.
func (k *keyLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		if k.locks == nil {
			k.locks = make(map[string]*keyLock)
		}
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// len returns the number of keys with a lock; for tests.
func (k *keyLocks) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}
