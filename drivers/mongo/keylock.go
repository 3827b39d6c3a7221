package mongo

import (
	"context"
	"sync"
)

// keyLocks serializes the writes of one token within a Store. MongoDB
// applies each update to a document atomically and needs none of it, but
// some servers of its wire protocol do not: FerretDB v1 reads the document,
// applies $set and $unset, and writes the whole document back, so two
// updates of one document at the same time can lose a field. Serializing
// the writes of a token makes the field-level writes of one app instance
// land on such servers too, at no cost to writes of different sessions.
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
