package memcache

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
)

// The tests of this file look inside the index items, so they are in the
// package; they run against the real servers as the others do.

func testClient(t *testing.T, sel gomemcache.ServerSelector) *gomemcache.Client {
	t.Helper()
	c := gomemcache.NewFromSelector(sel)
	c.MaxIdleConns = 16
	t.Cleanup(func() { c.Close() })
	return c
}

func plainClient(t *testing.T) *gomemcache.Client {
	t.Helper()
	ss := new(gomemcache.ServerList)
	if err := ss.SetServers(strings.Split(drivertest.ServerFromEnv(t, "SESSIONPLUS_MEMCACHE_ADDRS"), ",")...); err != nil {
		t.Fatal(err)
	}
	return testClient(t, ss)
}

// keys returns a random key prefix and a function making storage keys in
// the root package's shape under it, whose items go when the test ends.
func keys(t *testing.T, c *gomemcache.Client) (prefix string, token func() string) {
	b := make([]byte, 6)
	rand.Read(b)
	prefix = "mcusers-" + hex.EncodeToString(b)
	return prefix, func() string {
		b := make([]byte, 32)
		rand.Read(b)
		tok := prefix + ":" + base64.RawURLEncoding.EncodeToString(b)
		t.Cleanup(func() { c.Delete(tok) })
		return tok
	}
}

func newUser(t *testing.T, c *gomemcache.Client, prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	user := "user-" + hex.EncodeToString(b)
	t.Cleanup(func() { c.Delete(indexKey(prefix, user)) })
	return user
}

func in(d time.Duration) time.Time { return time.Now().Add(d) }

func login(user string, expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Create, User: user, Expiry: expiry,
		Set: map[string][]byte{"user_id": []byte(`"` + user + `"`), "\x00meta": []byte("s1")}}
}

func mustSave(t *testing.T, st *Store, tok string, u sessionplus.Update) {
	t.Helper()
	if _, err := st.Save(t.Context(), tok, u); err != nil {
		t.Fatalf("Save (%v): %v", u.Kind, err)
	}
}

// entries returns what user's index item holds.
func entries(t *testing.T, c *gomemcache.Client, prefix, user string) []entry {
	t.Helper()
	it, err := c.Get(indexKey(prefix, user))
	if errors.Is(err, gomemcache.ErrCacheMiss) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	es, err := decodeIndex(it.Value)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// age rewrites user's index item as if its entries had been written d ago.
func age(t *testing.T, c *gomemcache.Client, prefix, user string, d time.Duration) {
	t.Helper()
	es := entries(t, c, prefix, user)
	for i := range es {
		es[i].written -= int64(d / time.Second)
	}
	if err := c.Set(&gomemcache.Item{Key: indexKey(prefix, user), Value: encodeIndex(es)}); err != nil {
		t.Fatal(err)
	}
}

func listed(t *testing.T, st *Store, user string) map[string]sessionplus.Record {
	t.Helper()
	recs, err := st.UserRecords(t.Context(), user)
	if err != nil {
		t.Fatalf("UserRecords: %v", err)
	}
	out := make(map[string]sessionplus.Record)
	for _, r := range recs {
		out[r.Token] = r.Record
	}
	return out
}

func newCountingSelector(t *testing.T) *Selector {
	return NewSelector(t, strings.Split(drivertest.ServerFromEnv(t, "SESSIONPLUS_MEMCACHE_ADDRS"), ",")...)
}

// TestUserRoundTrips shows what the index costs, in round trips to
// memcached: nothing for a save that keeps the user and the entry's
// deadline; one append to the index item for a login, and for a
// keep-alive that moves the record past its entry's deadline (about once
// per session lifetime); and an add too for the first login of a user.
func TestUserRoundTrips(t *testing.T) {
	plain := plainClient(t)
	sel := newCountingSelector(t)
	st := New(testClient(t, sel), nil)
	prefix, token := keys(t, plain)
	alice, bob := newUser(t, plain, prefix), newUser(t, plain, prefix)
	tok, other, third := token(), token(), token()
	for _, step := range []struct {
		what  string
		tok   string
		u     sessionplus.Update
		trips int
	}{
		{"the user's first login, a Create (append refused: no index item; add of the index, set)", tok, login(alice, in(time.Hour)), 3},
		{"a Write that keeps the user (gets, cas)", tok, sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"a": []byte("1")}, Expiry: in(90 * time.Minute)}, 2},
		{"a Touch within the entry's deadline (gat, append)", tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: in(2 * time.Hour)}, 2},
		{"a Touch past the entry's deadline (gat, gets, append to the index, cas)", tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: in(3 * time.Hour)}, 4},
		{"a Touch within the moved deadline (gat, append)", tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: in(4 * time.Hour)}, 2},
		{"a second login of the user, a Create (append to the index, set): one more than without", other, login(alice, in(time.Hour)), 2},
		{"bob's first login, a Create (append refused, add, set)", third, login(bob, in(time.Hour)), 3},
		{"a Write with SetUser, a login as another user (gets, append to the index, cas): one more than without", tok, sessionplus.Update{Kind: sessionplus.Write, User: bob, SetUser: true, Expiry: in(time.Hour)}, 3},
		{"a Write with SetUser \"\", a log-out (gets, cas)", tok, sessionplus.Update{Kind: sessionplus.Write, SetUser: true, Expiry: in(time.Hour)}, 2},
		{"a Create of no user (set)", tok, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: in(time.Hour)}, 1},
	} {
		before := sel.Count()
		mustSave(t, st, step.tok, step.u)
		if n := sel.Count() - before; n != step.trips {
			t.Errorf("%s took %d round trips, want %d", step.what, n, step.trips)
		}
	}
	if got := listed(t, st, alice); len(got) != 1 || got[other].Expiry.IsZero() {
		t.Errorf("UserRecords of alice after the saves = %v, want the second login's record alone", got)
	}
	if got := listed(t, st, bob); len(got) != 1 || got[third].Expiry.IsZero() {
		t.Errorf("UserRecords of bob after the log-out = %v, want his first login's record alone", got)
	}
}

// TestIndexDropsExpiredEntries shows that an index item does not grow with
// the logins of a user: an update drops the entries whose deadline has
// passed, which is soon after their records expire.
func TestIndexDropsExpiredEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("waits about 13 seconds for index entries to expire; skipped under -short")
	}
	c := plainClient(t)
	st := New(c, nil)
	prefix, token := keys(t, c)
	user := newUser(t, c, prefix)
	var last int64
	for range 5 {
		mustSave(t, st, token(), login(user, in(6*time.Second)))
	}
	es := entries(t, c, prefix, user)
	if len(es) != 5 {
		t.Fatalf("index after 5 logins holds %d entries, want 5", len(es))
	}
	for _, e := range es {
		last = max(last, e.deadline)
	}
	if d := time.Until(time.Unix(last, 0)); d > 6*time.Second+2*entrySlackMin {
		t.Fatalf("the entries of records that expire in 6s hold for %v", d)
	}
	for time.Now().Unix() <= last {
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if got := listed(t, st, user); len(got) != 0 {
		t.Errorf("UserRecords after the records expired = %d records, want none", len(got))
	}
	tok := token()
	mustSave(t, st, tok, login(user, in(time.Hour)))
	if es := entries(t, c, prefix, user); len(es) != 1 || es[0].token != tok {
		t.Errorf("index after a login once the other entries' deadline passed holds %d entries, want the new login's alone", len(es))
	}
}

// TestListingDropsStaleEntries shows that a listing drops the entries of
// records that were deleted, once no save that wrote them can still be
// about to write its record, and keeps those that are recent.
func TestListingDropsStaleEntries(t *testing.T) {
	c := plainClient(t)
	st := New(c, nil)
	prefix, token := keys(t, c)
	user := newUser(t, c, prefix)
	toks := []string{token(), token(), token()}
	for _, tok := range toks {
		mustSave(t, st, tok, login(user, in(time.Hour)))
	}
	for _, tok := range toks[1:] {
		if err := st.Delete(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := listed(t, st, user); len(got) != 1 {
		t.Errorf("UserRecords after two of three records were deleted = %d records, want 1", len(got))
	}
	if es := entries(t, c, prefix, user); len(es) != 3 {
		t.Errorf("index right after the deletes holds %d entries, want all 3 (a login may be about to write its record)", len(es))
	}
	age(t, c, prefix, user, st.timeout+2*time.Minute)
	if got := listed(t, st, user); len(got) != 1 {
		t.Errorf("UserRecords of settled entries = %d records, want 1", len(got))
	}
	if es := entries(t, c, prefix, user); len(es) != 1 || es[0].token != toks[0] {
		t.Errorf("index after a listing of settled entries holds %d entries, want the live record's alone", len(es))
	}
}

// TestIndexFull shows that a login the server refuses to append to, as
// the index item is at the server's size limit, compacts the item: it
// fails with an error naming the cause and stores nothing while the
// entries may still be of saves under way, and makes room once the
// entries of records that are gone have settled.
func TestIndexFull(t *testing.T) {
	c := plainClient(t)
	st := New(c, nil)
	prefix, token := keys(t, c)
	user := newUser(t, c, prefix)
	// Fill the index item, with entries of no record written now, to
	// within one entry of the server's limit (1 MiB).
	e := entry{token: prefix + ":" + strings.Repeat("x", 43), deadline: in(time.Hour).Unix(), written: time.Now().Unix()}
	size := len(appendEntry(nil, e))
	var es []entry
	for n := (1 << 20) / size; ; n-- {
		for len(es) < n {
			es = append(es, entry{token: token(), deadline: e.deadline, written: e.written})
		}
		es = es[:n]
		err := c.Set(&gomemcache.Item{Key: indexKey(prefix, user), Value: encodeIndex(es)})
		if err == nil {
			break
		}
		if n < (1<<20)/size-16 {
			t.Fatalf("no index item of about 1 MiB stored: %v", err)
		}
	}
	tok := token()
	_, err := st.Save(t.Context(), tok, login(user, in(time.Hour)))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "live sessions") {
		t.Fatalf("login with a full index item of %d recent entries: %v; want an error wrapping ErrTooLarge naming the live sessions", len(es), err)
	}
	if _, lerr := st.Load(t.Context(), tok); !errors.Is(lerr, sessionplus.ErrNotFound) {
		t.Errorf("Load of the login that failed: %v, want not found: a record stored without its index entry", lerr)
	}
	age(t, c, prefix, user, st.timeout+2*time.Minute)
	mustSave(t, st, tok, login(user, in(time.Hour)))
	if es := entries(t, c, prefix, user); len(es) != 1 || es[0].token != tok {
		t.Errorf("index of a full item whose records are gone, after a login, holds %d entries, want the login's alone", len(es))
	}
}

// TestIndexFirst shows that a save whose index update fails leaves the
// record as it was: never stored past its entry's deadline, nor under a
// user whose index does not list it.
func TestIndexFirst(t *testing.T) {
	c := plainClient(t)
	plain := New(c, nil)
	prefix, token := keys(t, c)
	alice, bob := newUser(t, c, prefix), newUser(t, c, prefix)
	tok := token()
	expiry := in(time.Hour)
	mustSave(t, plain, tok, login(alice, expiry))

	down := errors.New("the server of the index is down")
	sel := newCountingSelector(t)
	sel.Hook = func(key string, _ int) error {
		if strings.Contains(key, ":u:") {
			return down
		}
		return nil
	}
	st := New(testClient(t, sel), nil)
	for _, u := range []sessionplus.Update{
		{Kind: sessionplus.Touch, Expiry: in(3 * time.Hour)},
		{Kind: sessionplus.Write, User: bob, SetUser: true, Expiry: in(time.Hour)},
		{Kind: sessionplus.Create, User: bob, Expiry: in(time.Hour), Set: map[string][]byte{"a": []byte("1")}},
	} {
		if _, err := st.Save(t.Context(), tok, u); !errors.Is(err, down) {
			t.Errorf("Save (%v) with the index's server down: %v, want its error", u.Kind, err)
		}
		it, err := c.Get(tok)
		if err != nil {
			t.Fatal(err)
		}
		rec, o, err := decodeItem(it.Value)
		if err != nil || o.user != alice || rec.Expiry.Unix() != expiry.Unix() {
			t.Errorf("record after a Save (%v) whose index update failed: user %q, expiry %v, %v; want alice's, unchanged", u.Kind, o.user, rec.Expiry, err)
		}
	}
	if got := listed(t, plain, alice); len(got) != 1 {
		t.Errorf("UserRecords of alice = %d records, want 1", len(got))
	}
	if got := listed(t, plain, bob); len(got) != 0 {
		t.Errorf("UserRecords of bob = %d records, want none", len(got))
	}
}

// TestUserRecordsNeedsPrefix shows the error of a listing by a store that
// does not know where the indexes are.
func TestUserRecordsNeedsPrefix(t *testing.T) {
	st := New(gomemcache.New("127.0.0.1:1"), nil)
	if _, err := st.UserRecords(t.Context(), "alice"); err == nil || !strings.Contains(err.Error(), "CheckKeyPrefix") {
		t.Errorf("UserRecords of a store that knows no key prefix: %v, want an error naming CheckKeyPrefix", err)
	}
}

// TestConcurrentLogins shows that logins of one user at the same time,
// which all append to the user's index item (and race to add it), all
// land in it.
func TestConcurrentLogins(t *testing.T) {
	c := plainClient(t)
	sel := newCountingSelector(t)
	st := New(testClient(t, sel), nil)
	prefix, token := keys(t, c)
	user := newUser(t, c, prefix)
	const n = 32
	toks := make([]string, n)
	for i := range toks {
		toks[i] = token()
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, tok := range toks {
		wg.Go(func() {
			<-start
			if _, err := st.Save(t.Context(), tok, login(user, in(time.Hour))); err != nil {
				t.Errorf("concurrent login: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	trips := sel.Count() - n // but the n sets
	got := listed(t, st, user)
	for _, tok := range toks {
		if _, ok := got[tok]; !ok {
			t.Errorf("UserRecords after %d concurrent logins does not list one of them: RevokeUser would leave it logged in", n)
		}
	}
	if trips > 3*n {
		t.Errorf("%d concurrent logins took %d round trips to the index item, want at most 3 each (append, add, append)", n, trips)
	}
}
