package memcache

import (
	"net"
	"sync"
	"testing"

	gomemcache "github.com/bradfitz/gomemcache/memcache"
)

// Selector picks the servers as gomemcache's ServerList does, and counts
// the commands of single keys, each one round trip: the tests of both
// packages (this one and memcache_test) count round trips and step into
// them with it.
type Selector struct {
	gomemcache.ServerList
	// Key, if set, limits the counting and Hook to the commands of Key.
	Key string
	// Hook, if set, runs before each counted command, with its number
	// from 1, and fails it with its error.
	Hook func(key string, n int) error

	mu    sync.Mutex
	picks int
}

// NewSelector returns a Selector of addrs.
func NewSelector(t testing.TB, addrs ...string) *Selector {
	t.Helper()
	s := new(Selector)
	if err := s.SetServers(addrs...); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Selector) PickServer(key string) (net.Addr, error) {
	if s.Key == "" || key == s.Key {
		s.mu.Lock()
		s.picks++
		n := s.picks
		s.mu.Unlock()
		if s.Hook != nil {
			if err := s.Hook(key, n); err != nil {
				return nil, err
			}
		}
	}
	return s.ServerList.PickServer(key)
}

// Count returns the commands counted so far.
func (s *Selector) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.picks
}
