package sessionplus_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// userManager has a "session" (user_id) and a "cart" session, both on
// memory stores, indexed by user_id.
func userManager(t *testing.T) (*sessionplus.Manager, *memory.Store, *memory.Store) {
	t.Helper()
	sess, cart := memory.New(), memory.New()
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		UserField: "user_id",
		Sessions: []sessionplus.Options{
			{"cookie_name": "session", "store": sess, "session_type": "memory", "session_fields": []string{"user_id"}},
			{"cookie_name": "cart", "store": cart, "session_type": "memory", "session_fields": "auto"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, sess, cart
}

func loggedIn(t *testing.T, b *browser, m *sessionplus.Manager) any {
	t.Helper()
	var uid any
	if _, err := b.do(t, m, func(s *sessionplus.Session) (err error) {
		uid, _, err = s.Get("user_id")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return uid
}

func TestRevokeUser(t *testing.T) {
	m, _, _ := userManager(t)
	ctx := context.Background()
	var browsers []*browser
	for i, uid := range []any{42, 42, "42", 7} {
		b := newBrowser()
		if _, err := b.do(t, m, func(s *sessionplus.Session) error {
			if i == 1 { // a cart before the login: indexed at the login
				return s.Set("item", "book")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.do(t, m, func(s *sessionplus.Session) error {
			if err := s.Set("item", "pen"); err != nil {
				return err
			}
			return s.Set("user_id", uid)
		}); err != nil {
			t.Fatal(err)
		}
		browsers = append(browsers, b)
	}
	list, err := m.UserSessions(ctx, "42")
	if err != nil || len(list) != 6 {
		t.Fatalf("UserSessions(42) = %d sessions, %v; want 6 (3 browsers × session and cart)", len(list), err)
	}
	for _, us := range list {
		if us.Handle == "" || us.Created.IsZero() || us.LastSeen.Before(us.Created) || !us.Expiry.After(us.LastSeen) {
			t.Errorf("listed %+v: want a handle and Created ≤ LastSeen < Expiry", us)
		}
	}

	// A request of browser 0 is in flight (it read the session) while the
	// user is revoked: it must not bring the session back.
	r := browsers[0]
	inFlight, revoked := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := r.do(t, m, func(s *sessionplus.Session) error {
			if _, _, err := s.Get("user_id"); err != nil {
				return err
			}
			close(inFlight)
			<-revoked
			return s.Set("item", "late")
		})
		done <- err
	}()
	<-inFlight
	n, err := m.RevokeUser(ctx, "42")
	if err != nil || n != 6 {
		t.Fatalf("RevokeUser(42) = %d, %v; want 6", n, err)
	}
	close(revoked)
	if err := <-done; err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	for i, b := range browsers[:3] {
		if uid := loggedIn(t, b, m); uid != nil {
			t.Errorf("browser %d of user 42 after RevokeUser: user_id %v, want logged out", i, uid)
		}
	}
	if uid := loggedIn(t, browsers[3], m); uid != 7 {
		t.Errorf("the browser of user 7 after RevokeUser(42): user_id %v, want 7", uid)
	}
	if list, err := m.UserSessions(ctx, "42"); err != nil || len(list) != 0 {
		t.Errorf("UserSessions(42) after RevokeUser = %d, %v; want none", len(list), err)
	}
}

func TestRevokeSessionAndOthers(t *testing.T) {
	m, _, _ := userManager(t)
	ctx := context.Background()
	a, b, c := newBrowser(), newBrowser(), newBrowser()
	for _, br := range []*browser{a, b, c} {
		if _, err := br.do(t, m, func(s *sessionplus.Session) error {
			if err := s.Regenerate(); err != nil {
				return err
			}
			return s.Set("user_id", "ann")
		}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := m.UserSessions(ctx, "ann")
	if err != nil || len(list) != 3 {
		t.Fatalf("UserSessions = %d, %v; want 3", len(list), err)
	}
	if err := m.RevokeSession(ctx, list[0].Handle); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeSession(ctx, list[0].Handle); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("RevokeSession of a revoked handle: %v, want ErrNotFound", err)
	}
	if err := m.RevokeSession(ctx, "0.YW5u.AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("RevokeSession of a forged handle: %v, want ErrNotFound", err)
	}
	var left []*browser
	for _, br := range []*browser{a, b, c} {
		if loggedIn(t, br, m) == "ann" {
			left = append(left, br)
		}
	}
	if len(left) != 2 {
		t.Fatalf("after RevokeSession, %d browsers logged in, want 2", len(left))
	}
	c = left[0]
	var n int
	if _, err := c.do(t, m, func(s *sessionplus.Session) (err error) {
		n, err = s.RevokeOthers()
		return err
	}); err != nil || n != 1 {
		t.Fatalf("RevokeOthers = %d, %v; want 1", n, err)
	}
	if loggedIn(t, c, m) != "ann" {
		t.Error("RevokeOthers logged out its own browser")
	}
	if list, _ := m.UserSessions(ctx, "ann"); len(list) != 1 {
		t.Errorf("after RevokeOthers, %d sessions listed, want 1", len(list))
	}
	// Log-out keeps the index true.
	if _, err := c.do(t, m, func(s *sessionplus.Session) error { return s.Delete("user_id") }); err != nil {
		t.Fatal(err)
	}
	if list, _ := m.UserSessions(ctx, "ann"); len(list) != 0 {
		t.Errorf("after the user field was deleted, %d sessions listed, want 0", len(list))
	}
}

func TestUserFieldValues(t *testing.T) {
	m, _, _ := userManager(t)
	type userID int // stored as JSON: it would not read back as an integer
	for _, v := range []any{3.5, true, []string{"a"}, "", userID(4), nil} {
		if _, err := newBrowser().do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", v) }); err == nil || !contains(err.Error(), "user_id") {
			t.Errorf("Set(user_id, %#v): %v, want an error naming the field", v, err)
		}
	}
	_, err := sessionplus.New(context.Background(), sessionplus.Config{
		UserField: "user_id", SecretKeys: [][]byte{testKey},
		Sessions: []sessionplus.Options{{"cookie_name": "s", "session_type": "secure_cookie"}},
	})
	if !errors.Is(err, sessionplus.ErrConfig) || !contains(err.Error(), "server-side") {
		t.Errorf("UserField owned only by a secure cookie: %v, want a configuration error", err)
	}
}

// TestUserSessionsSharedStore: one store serving two sessions under their
// own key prefixes lists each record once, under the session that holds it.
func TestUserSessionsSharedStore(t *testing.T) {
	// "a:b" starts with "a" and its ":": the records of "cart" must not
	// pass for records of "session" as well.
	for _, prefixes := range [][2]string{{"a", "b"}, {"a", "a:b"}, {"a:b", "a"}} {
		st := memory.New()
		m, err := sessionplus.New(context.Background(), sessionplus.Config{
			UserField: "user_id",
			Sessions: []sessionplus.Options{
				{"cookie_name": "session", "store": st, "key_prefix": prefixes[0], "session_fields": []string{"user_id"}},
				{"cookie_name": "cart", "store": st, "key_prefix": prefixes[1], "session_fields": "auto"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		b := newBrowser()
		if _, err := b.do(t, m, func(s *sessionplus.Session) error {
			return errors.Join(s.Set("user_id", 42), s.Set("item", "pen"))
		}); err != nil {
			t.Fatal(err)
		}
		list, err := m.UserSessions(context.Background(), "42")
		if err != nil || len(list) != 2 || list[0].Session == list[1].Session {
			t.Fatalf("prefixes %q: UserSessions over a shared store = %+v, %v; want one record of each session", prefixes, list, err)
		}
		if n, err := m.RevokeUser(context.Background(), "42"); n != 2 || err != nil {
			t.Errorf("prefixes %q: RevokeUser over a shared store = %d, %v; want 2", prefixes, n, err)
		}
	}
}

// indexSpy is a memory store, with its index of users, that records the
// saves it is sent.
type indexSpy struct {
	*memory.Store
	mu    sync.Mutex
	saves []sessionplus.Update
}

func (s *indexSpy) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	s.mu.Lock()
	s.saves = append(s.saves, u)
	s.mu.Unlock()
	return s.Store.Save(ctx, token, u)
}

// TestTokenLoginSavesOnce: an API login (Set the user, Part.Token for the
// JSON answer, then the final save) writes its record once, indexed under
// the user; the final save does not move it to the index a second time.
func TestTokenLoginSavesOnce(t *testing.T) {
	st := &indexSpy{Store: memory.New()}
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		UserField: "user_id",
		Sessions:  []sessionplus.Options{{"cookie_name": "session", "store": st, "session_type": "memory"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := httptest.NewRecorder()
	s := m.Begin(w, httptest.NewRequest(http.MethodPost, "/api/login", nil))
	if err := s.Set("user_id", 42); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Part("session")
	if tok, err := p.Token(); err != nil || tok == "" {
		t.Fatalf("Token = %q, %v", tok, err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(st.saves) != 1 || st.saves[0].Kind != sessionplus.Create || st.saves[0].User != "42" {
		t.Errorf("an API login sent the saves %+v; want one Create indexed under 42", st.saves)
	}
	if list, err := m.UserSessions(context.Background(), "42"); err != nil || len(list) != 1 {
		t.Errorf("UserSessions after an API login = %v, %v; want one", list, err)
	}
}

// TestRevokeOthersByARevokedDevice: request A reads its user, the owner
// signs A's device out from another browser, then A asks to sign out the
// others: A gets ErrNotFound and the owner stays logged in. A request that
// regenerated its id, or logged in just now, still signs the others out.
func TestRevokeOthersByARevokedDevice(t *testing.T) {
	m, _, _ := userManager(t)
	ctx := context.Background()
	stolen, owner := newBrowser(), newBrowser()
	for _, b := range []*browser{stolen, owner} {
		if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", "ann") }); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var revokeErr error
	if _, err := stolen.do(t, m, func(s *sessionplus.Session) error {
		if _, _, err := s.Get("user_id"); err != nil { // A reads its user
			return err
		}
		list, err := m.UserSessions(ctx, "ann")
		if err != nil {
			return err
		}
		for _, us := range list {
			if s.Holds(us) { // the owner signs this device out, meanwhile
				if err := m.RevokeSession(ctx, us.Handle); err != nil {
					return err
				}
			}
		}
		n, revokeErr = s.RevokeOthers()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(revokeErr, sessionplus.ErrNotFound) || n != 0 {
		t.Errorf("RevokeOthers by a device revoked meanwhile = %d, %v; want 0 and ErrNotFound", n, revokeErr)
	}
	if loggedIn(t, owner, m) != "ann" {
		t.Fatal("a revoked device signed the owner out")
	}

	// The owner, after Regenerate in the same request, signs out the rest.
	other := newBrowser()
	if _, err := other.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", "ann") }); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.do(t, m, func(s *sessionplus.Session) (err error) {
		if err := s.Regenerate(); err != nil {
			return err
		}
		n, err = s.RevokeOthers()
		return err
	}); err != nil || n != 1 {
		t.Errorf("RevokeOthers after Regenerate = %d, %v; want 1", n, err)
	}
	// A browser that logs in and signs out the others in one request.
	if _, err := newBrowser().do(t, m, func(s *sessionplus.Session) (err error) {
		if err := s.Set("user_id", "ann"); err != nil {
			return err
		}
		n, err = s.RevokeOthers()
		return err
	}); err != nil || n != 1 {
		t.Errorf("RevokeOthers in the request that logged in = %d, %v; want 1 (the owner's)", n, err)
	}
}

// loadCounter is a memory store that counts its Loads.
type loadCounter struct {
	*memory.Store
	loads atomic.Int32
}

func (s *loadCounter) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	s.loads.Add(1)
	return s.Store.Load(ctx, token)
}

// TestUserFieldCost counts what UserField adds to requests: nothing to a
// request that changes nothing of the user and creates no record; one read
// of the user's session to the request that first writes a record of
// another session (a cart) for a logged-in browser, so that the new record
// is indexed under the user only if the user's session was not ended
// meanwhile; and a second read of it when the handler read it already.
func TestUserFieldCost(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handler   func(s *sessionplus.Session) error
		without   int32 // loads of the user's session without UserField
		withField int32
	}{
		{"a field of the cart, user not read", func(s *sessionplus.Session) error { return s.Set("item", "pen") }, 0, 1},
		{"a field of the cart, user read first", func(s *sessionplus.Session) error {
			if _, _, err := s.Get("user_id"); err != nil {
				return err
			}
			return s.Set("item", "pen")
		}, 1, 2},
		{"the user read, nothing written", func(s *sessionplus.Session) error {
			_, _, err := s.Get("user_id")
			return err
		}, 1, 1},
		{"nothing touched", func(s *sessionplus.Session) error { return nil }, 0, 0},
	} {
		loads := map[bool]int32{}
		for _, field := range []bool{false, true} {
			sess := &loadCounter{Store: memory.New()}
			cfg := sessionplus.Config{Sessions: []sessionplus.Options{
				{"cookie_name": "session", "store": sess, "session_fields": []string{"user_id"}},
				{"cookie_name": "cart", "store": memory.New(), "session_fields": "auto"},
			}}
			if field {
				cfg.UserField = "user_id"
			}
			m, err := sessionplus.New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			b := newBrowser()
			if _, err := b.do(t, m, func(s *sessionplus.Session) error { return s.Set("user_id", 42) }); err != nil {
				t.Fatal(err)
			}
			before := sess.loads.Load()
			if _, err := b.do(t, m, tc.handler); err != nil {
				t.Fatal(err)
			}
			loads[field] = sess.loads.Load() - before
			m.Close()
		}
		t.Logf("%s: %d loads of the user's session without UserField, %d with", tc.name, loads[false], loads[true])
		if loads[false] != tc.without || loads[true] != tc.withField {
			t.Errorf("%s: %d loads without UserField, %d with; want %d and %d", tc.name, loads[false], loads[true], tc.without, tc.withField)
		}
	}
}
