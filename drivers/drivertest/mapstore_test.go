package drivertest_test

// mapstore is the custom driver of the README's "Writing a driver", whole:
// a store over a map under a mutex. Its test below runs the conformance
// suite on it, so the README's driver is known to keep the contract.

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
)

// Name is the session_type of the driver.
const Name = "mapstore"

// Driver opens mapstores; it would register from init:
//
//	func init() { sessionplus.Register(Name, Driver{}) }
type Driver struct{}

type options struct {
	Label string `mapstructure:"label"` // an option of its own, for the example
}

// Open decodes the driver's keys (unknown keys and wrong types are errors
// that name them) and returns a new store.
func (Driver) Open(_ context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var o options
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	return &Store{records: map[string]sessionplus.Record{}}, nil
}

// Store keeps records in a map.
type Store struct {
	mu      sync.Mutex
	records map[string]sessionplus.Record
}

var _ sessionplus.Store = (*Store)(nil)

// Load returns the record under token, or ErrNotFound. The root package
// checks its expiry.
func (s *Store) Load(_ context.Context, token string) (sessionplus.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.records[token]
	if !ok {
		return sessionplus.Record{}, sessionplus.ErrNotFound
	}
	return sessionplus.Record{Values: clone(rec.Values), Expiry: rec.Expiry}, nil
}

// Save applies one kind of update. Write and Touch need a live record, and
// check it in the same step as they change it (here: under the mutex).
func (s *Store) Save(_ context.Context, token string, u sessionplus.Update) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Kind == sessionplus.Create {
		s.records[token] = sessionplus.Record{Values: clone(u.Set), Expiry: u.Expiry}
		return token, nil
	}
	rec, ok := s.records[token]
	if !ok || !rec.Expiry.After(time.Now()) {
		return "", sessionplus.ErrNotFound // never create: the session was ended
	}
	switch u.Kind {
	case sessionplus.Write:
		for _, f := range u.Del {
			delete(rec.Values, f)
		}
		maps.Copy(rec.Values, clone(u.Set))
	case sessionplus.Touch:
	default:
		return "", fmt.Errorf("mapstore: unknown kind %v", u.Kind)
	}
	rec.Expiry = u.Expiry
	s.records[token] = rec
	return token, nil
}

// Delete removes the record, or reports ErrNotFound if there was none.
func (s *Store) Delete(_ context.Context, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[token]; !ok {
		return sessionplus.ErrNotFound
	}
	delete(s.records, token)
	return nil
}

func clone(in map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(in))
	for k, v := range in {
		out[k] = append([]byte(nil), v...)
	}
	return out
}

type mapHarness struct{}

func (mapHarness) MakeStore(ctx context.Context) (sessionplus.Store, error) {
	return Driver{}.Open(ctx, sessionplus.DriverConfig{Options: sessionplus.Options{"label": "test"}, Name: "s"})
}
func (mapHarness) Stateless() bool { return false }
func (mapHarness) Close()          {}

func TestConformanceMapStore(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return mapHarness{}, nil
	})
}
