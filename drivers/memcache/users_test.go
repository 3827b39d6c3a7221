package memcache

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
// memcached: nothing for a save that keeps the user, a keep-alive
// included, however far it moves the expiry; one append to the index item
// for a login; and an add too for the first login of a user.
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
		{"a Touch (append, touch)", tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: in(2 * time.Hour)}, 2},
		{"a Touch past twice the record's first lifetime (append, touch)", tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: in(3 * time.Hour)}, 2},
		{"a Touch a month ahead (append, touch)", tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: in(31 * 24 * time.Hour)}, 2},
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

// TestIndexDropsExpiredEntries shows that an index item does not keep the
// entries of records that expired: a listing drops them once settled, and
// the login after it finds the item with its own entry alone.
func TestIndexDropsExpiredEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("waits about 2 seconds for records to expire; skipped under -short")
	}
	c := plainClient(t)
	st := New(c, nil)
	prefix, token := keys(t, c)
	user := newUser(t, c, prefix)
	var toks []string
	for range 5 {
		toks = append(toks, token())
		mustSave(t, st, toks[len(toks)-1], login(user, in(5*time.Second)))
	}
	if es := entries(t, c, prefix, user); len(es) != 5 {
		t.Fatalf("index after 5 logins holds %d entries, want 5", len(es))
	}
	for _, tok := range toks {
		for {
			_, err := c.Get(tok)
			if errors.Is(err, gomemcache.ErrCacheMiss) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
	}
	age(t, c, prefix, user, st.timeout+2*time.Minute)
	if got := listed(t, st, user); len(got) != 0 {
		t.Errorf("UserRecords after the records expired = %d records, want none", len(got))
	}
	if es := entries(t, c, prefix, user); len(es) != 0 {
		t.Errorf("index after a listing of settled entries of expired records holds %d entries, want none", len(es))
	}
	tok := token()
	mustSave(t, st, tok, login(user, in(time.Hour)))
	if es := entries(t, c, prefix, user); len(es) != 1 || es[0].token != tok {
		t.Errorf("index after the next login holds %d entries, want the new login's alone", len(es))
	}
}

// TestKeptAliveStaysListed shows that a record kept alive past the expiry
// it was created with stays listed, by the index it was listed in at its
// login, once that expiry has passed; and that a listing that compacts the
// index, its entries settled, keeps its entry.
func TestKeptAliveStaysListed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits about 5 seconds for the record's first expiry; skipped under -short")
	}
	c := plainClient(t)
	st := New(c, nil)
	prefix, token := keys(t, c)
	user := newUser(t, c, prefix)
	tok, gone := token(), token()
	first := in(5 * time.Second) // the shortest lifetime memcached stores (see expiration)
	mustSave(t, st, tok, login(user, first))
	mustSave(t, st, gone, login(user, in(time.Hour)))
	mustSave(t, st, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: in(time.Hour)})
	if err := st.Delete(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	for {
		got := listed(t, st, user)
		if _, ok := got[tok]; !ok {
			t.Fatalf("UserRecords %v after the record's first expiry does not list the record kept alive: RevokeUser would leave it logged in",
				time.Since(first).Round(time.Millisecond))
		}
		if time.Now().After(first.Add(time.Second)) {
			break
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	age(t, c, prefix, user, st.timeout+2*time.Minute)
	if got := listed(t, st, user); len(got) != 1 || got[tok].Expiry.Before(in(50*time.Minute)) {
		t.Errorf("UserRecords of settled entries = %v, want the record kept alive, with its later expiry", got)
	}
	if es := entries(t, c, prefix, user); len(es) != 1 || es[0].token != tok {
		t.Errorf("index after a listing compacted it holds %v, want the entry of the record kept alive alone", es)
	}
}

// TestLoginDuringCompaction shows that a login that appends its entry
// between a listing's read of the index item and its compaction of it is
// not lost: the compaction's cas fails, and the entry stays.
func TestLoginDuringCompaction(t *testing.T) {
	c := plainClient(t)
	plain := New(c, nil)
	prefix, token := keys(t, c)
	user := newUser(t, c, prefix)
	old, fresh := token(), token()
	mustSave(t, plain, old, login(user, in(time.Hour)))
	if err := plain.Delete(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	age(t, c, prefix, user, plain.timeout+2*time.Minute) // old's entry is stale: the listing compacts
	sel := newCountingSelector(t)
	sel.Key = indexKey(prefix, user)
	var loginErr error
	sel.Hook = func(_ string, n int) error {
		if n == 2 { // the listing's cas of the index item, after its get
			_, loginErr = plain.Save(t.Context(), fresh, login(user, in(time.Hour)))
		}
		return nil
	}
	st := New(testClient(t, sel), nil)
	if err := st.CheckKeyPrefix(prefix); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, st, user); len(got) != 0 {
		t.Errorf("UserRecords before the login = %v, want none", got)
	}
	if loginErr != nil {
		t.Fatalf("the login during the listing: %v", loginErr)
	}
	if sel.Count() != 2 {
		t.Fatalf("the listing sent %d commands for the index item, want 2 (get, cas)", sel.Count())
	}
	if got := listed(t, plain, user); len(got) != 1 || got[fresh].Expiry.IsZero() {
		t.Errorf("UserRecords after a login during a compaction = %v, want the login's record", got)
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
	e := entry{token: prefix + ":" + strings.Repeat("x", 43), written: time.Now().Unix()}
	size := len(appendEntry(nil, e))
	var es []entry
	for n := (1 << 20) / size; ; n-- {
		for len(es) < n {
			es = append(es, entry{token: token(), written: e.written})
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
// record as it was: never stored under a user whose index does not list
// it; and that a keep-alive, which needs no index, does not fail with it.
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
		rec, user, err := decodeItem(it.Value)
		if err != nil || user != alice || rec.Expiry.Unix() != expiry.Unix() {
			t.Errorf("record after a Save (%v) whose index update failed: user %q, expiry %v, %v; want alice's, unchanged", u.Kind, user, rec.Expiry, err)
		}
	}
	touched := in(3 * time.Hour)
	mustSave(t, st, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: touched})
	if rec, err := plain.Load(t.Context(), tok); err != nil || rec.Expiry.Unix() != touched.Unix() {
		t.Errorf("record after a keep-alive with the index's server down: expiry %v, %v; want %v", rec.Expiry, err, touched)
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

// countingConn counts the bytes read from the server.
type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// TestKeepAliveReadsNoValue shows that a keep-alive reads nothing of the
// record, as DESIGN.md asks ("the keep-alive needs no read"), with a user
// index as without: of a record of 500 KiB, a Touch reads memcached's
// short answers alone, under 1 KiB, and a Load (the control) the whole
// record.
func TestKeepAliveReadsNoValue(t *testing.T) {
	var read atomic.Int64
	c := plainClient(t)
	var d net.Dialer
	c.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return countingConn{conn, &read}, nil
	}
	st := New(c, nil)
	ctx := t.Context()
	prefix, token := keys(t, c)
	const size = 500 << 10
	for _, user := range []string{"", newUser(t, c, prefix)} {
		tok := token()
		u := login(user, in(time.Hour))
		u.Set = map[string][]byte{"blob": make([]byte, size)}
		mustSave(t, st, tok, u)
		for i := range 3 {
			before := read.Load()
			mustSave(t, st, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: in(time.Duration(2+i) * time.Hour)})
			n := read.Load() - before
			if n >= 1<<10 {
				t.Errorf("keep-alive %d of a record of %d bytes (user %q) read %d bytes from memcached, want under 1 KiB: it must not read the record", i+1, size, user, n)
			}
			t.Logf("keep-alive %d (user %q): %d bytes read", i+1, user, n)
		}
		before := read.Load()
		rec, err := st.Load(ctx, tok)
		if err != nil || len(rec.Values["blob"]) != size {
			t.Fatalf("Load: %d bytes, %v", len(rec.Values["blob"]), err)
		}
		if n := read.Load() - before; n < size {
			t.Errorf("Load of a record of %d bytes read %d bytes: the count misses reads", size, n)
		}
	}
}
