package sessionplus

import (
	"context"
	"sync"
	"testing"
	"time"
)

// mapStore is the smallest server-side store, for tests inside the package
// (which cannot import a driver).
type mapStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

func (s *mapStore) Load(_ context.Context, token string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[token]
	if !ok {
		return Record{}, ErrNotFound
	}
	return rec, nil
}

func (s *mapStore) Save(_ context.Context, token string, u Update) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[token]
	if u.Kind != Create && !ok {
		return "", ErrNotFound
	}
	if u.Kind == Create {
		rec.Values = u.Set
	}
	rec.Expiry = u.Expiry
	s.recs[token] = rec
	return token, nil
}

func (s *mapStore) Delete(_ context.Context, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.recs[token]; !ok {
		return ErrNotFound
	}
	delete(s.recs, token)
	return nil
}

// TestTelemetryOffCostsNothing: without a TracerProvider or MeterProvider,
// a guard allocates exactly what the store's own call does, found or not,
// so that requests cost what they did before telemetry existed.
func TestTelemetryOffCostsNothing(t *testing.T) {
	ctx := context.Background()
	st := &mapStore{recs: map[string]Record{}}
	m, err := New(ctx, Config{Sessions: []Options{{"cookie_name": "session", "session_type": "map", "store": st}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.confs[0]
	if c.tel != nil {
		t.Fatal("a manager without providers has telemetry")
	}
	const token = "session:0123456789abcdef0123456789abcdef0123456"
	now := time.Now()
	live := Update{Kind: Create, Set: map[string][]byte{"user_id": []byte("1")}, Expiry: now.Add(time.Hour)}
	for _, tc := range []struct {
		name          string
		guard, direct func()
	}{
		{"load", func() { c.load(ctx, token, now) }, func() { st.Load(ctx, token) }},
		{"load not found", func() { c.load(ctx, "session:none-of-these-are-stored", now) }, func() { st.Load(ctx, "session:none-of-these-are-stored") }},
		{"create", func() { c.save(ctx, token, live) }, func() { st.Save(ctx, token, live) }},
		{"touch", func() { c.save(ctx, token, Update{Kind: Touch, Expiry: live.Expiry}) }, func() { st.Save(ctx, token, Update{Kind: Touch, Expiry: live.Expiry}) }},
		{"delete", func() { c.del(ctx, token); st.Save(ctx, token, live) }, func() { st.Delete(ctx, token); st.Save(ctx, token, live) }},
	} {
		st.Save(ctx, token, live)
		direct := testing.AllocsPerRun(100, tc.direct)
		guard := testing.AllocsPerRun(100, tc.guard)
		if guard != direct {
			t.Errorf("%s: the guard allocates %v times, the store's own call %v", tc.name, guard, direct)
		}
	}
}
