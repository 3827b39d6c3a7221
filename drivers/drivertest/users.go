package drivertest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
)

// userCases check [sessionplus.UserIndex] for a store that implements it
// (every built-in server-side driver does); for any other store they are
// skipped.
var userCases = []testCase{
	{name: "UserIndex/Create", kind: userIndexed, run: testUserCreate},
	{name: "UserIndex/WriteTouchAndMove", kind: userIndexed, run: testUserMoves},
	{name: "UserIndex/CreateReplaces", kind: userIndexed, run: testUserCreateReplaces},
	{name: "UserIndex/Delete", kind: userIndexed, run: testUserDelete},
	{name: "UserIndex/WriteCreatesNothing", kind: userIndexed, run: testUserWriteMissing},
	{name: "UserIndex/OddUsers", kind: userIndexed, run: testUserOdd},
	{name: "UserIndex/Concurrent", kind: userIndexed, run: testUserConcurrent},
	{name: "UserIndex/Expires", kind: userIndexed, slow: true, run: testUserExpires},
	{name: "UserIndex/TouchOutlivesExpiry", kind: userIndexed, slow: true, run: testUserTouchOutlives},
}

// user returns a new random user key, so that runs against a shared server
// never see each other's records.
func (f *fixture) user() string { return "drivertest-user-" + randomHex(8) }

// meta is a value of the root package's "\x00meta" field, which every
// record of a user carries.
var meta = []byte("s" + "t0ab12")

// userValues returns kv with the "\x00meta" field the root package adds to
// every record it indexes under a user.
func userValues(kv ...string) map[string][]byte {
	v := vals(kv...)
	v["\x00meta"] = meta
	return v
}

func createFor(user string, values map[string][]byte, expiry time.Time) sessionplus.Update {
	u := create(values, expiry)
	u.User = user
	return u
}

func moveTo(user string, set map[string][]byte, expiry time.Time) sessionplus.Update {
	u := write(set, nil, expiry)
	u.User, u.SetUser = user, true
	return u
}

// records lists user's records as a map from token to record, failing the
// case on an error or on a token listed twice.
func (f *fixture) records(user, when string) map[string]sessionplus.Record {
	f.t.Helper()
	recs, err := f.index.UserRecords(f.ctx, user)
	if err != nil {
		f.t.Fatalf("UserRecords(%q) %s failed: %v", user, when, err)
	}
	out := make(map[string]sessionplus.Record, len(recs))
	for _, r := range recs {
		if _, dup := out[r.Token]; dup {
			f.t.Errorf("UserRecords(%q) %s lists %s twice", user, when, short(r.Token))
		}
		out[r.Token] = r.Record
	}
	return out
}

// wantUser checks that user's records are exactly tokens.
func (f *fixture) wantUser(user, when string, tokens ...string) map[string]sessionplus.Record {
	f.t.Helper()
	got := f.records(user, when)
	want := make(map[string]bool, len(tokens))
	for _, tok := range tokens {
		want[tok] = true
		if _, ok := got[tok]; !ok {
			f.t.Errorf("UserRecords(%q) %s does not list %s: RevokeUser would leave that session logged in", user, when, short(tok))
		}
	}
	for _, tok := range slices.Sorted(maps.Keys(got)) {
		if !want[tok] {
			f.t.Errorf("UserRecords(%q) %s lists %s, which is not theirs (any more)", user, when, short(tok))
		}
	}
	return got
}

func testUserCreate(t *testing.T, f *fixture) {
	alice, bob := f.user(), f.user()
	a1, a2, b1, none := f.token(), f.token(), f.token(), f.token()
	expiry := in(time.Hour)
	f.save(a1, createFor(alice, userValues("user_id", "alice", "bin", "\x00\xff"), expiry))
	f.save(a2, createFor(alice, userValues("user_id", "alice"), in(2*time.Hour)))
	f.save(b1, createFor(bob, userValues("user_id", "bob"), expiry))
	f.save(none, create(vals("cart", "1"), expiry))

	got := f.wantUser(alice, "after two Creates for them", a1, a2)
	if r, ok := got[a1]; ok {
		f.check(r, userValues("user_id", "alice", "bin", "\x00\xff"), expiry, "the record UserRecords returns")
	}
	if r, ok := got[a2]; ok {
		f.check(r, userValues("user_id", "alice"), in(2*time.Hour), "the second record UserRecords returns")
	}
	f.wantUser(bob, "after one Create for them", b1)
	recs, err := f.index.UserRecords(f.ctx, f.user())
	if err != nil || len(recs) != 0 {
		t.Errorf("UserRecords of a user without records = %d records, %v; want none and no error", len(recs), err)
	}
}

func testUserMoves(t *testing.T, f *fixture) {
	alice, bob := f.user(), f.user()
	tok := f.token()
	f.save(tok, createFor(alice, userValues("user_id", "alice"), in(time.Hour)))

	f.save(tok, write(vals("theme", "dark"), nil, in(2*time.Hour)))
	got := f.wantUser(alice, "after a Write without SetUser (it keeps the record's user)", tok)
	if r, ok := got[tok]; ok {
		f.check(r, userValues("user_id", "alice", "theme", "dark"), in(2*time.Hour), "the listed record after a Write")
	}
	f.save(tok, touch(in(3*time.Hour)))
	got = f.wantUser(alice, "after a Touch (it keeps the record's user)", tok)
	if r, ok := got[tok]; ok && r.Expiry.Sub(in(3*time.Hour)).Abs() > time.Second {
		t.Errorf("the listed record's expiry after a Touch is %v, want %v: UserSessions would show a stale expiry", r.Expiry, in(3*time.Hour))
	}

	f.save(tok, moveTo(bob, nil, in(3*time.Hour)))
	f.wantUser(alice, "after a Write moved the record to another user")
	f.wantUser(bob, "after a Write with SetUser moved the record to them", tok)

	f.save(tok, moveTo("", nil, in(3*time.Hour)))
	f.wantUser(alice, "after a Write with SetUser and User \"\" (a log-out)")
	f.wantUser(bob, "after a Write with SetUser and User \"\" (a log-out)")
	f.check(f.mustLoad(tok, "after a log-out un-indexed it"), userValues("user_id", "alice", "theme", "dark"),
		in(3*time.Hour), "a record un-indexed by a field-less Write (only the index changes)")

	f.save(tok, moveTo(alice, vals("user_id", "alice2"), in(3*time.Hour)))
	f.wantUser(alice, "after a Write with SetUser and a field indexed it again", tok)
}

func testUserCreateReplaces(t *testing.T, f *fixture) {
	alice, bob := f.user(), f.user()
	tok := f.token()
	f.save(tok, createFor(alice, userValues("user_id", "alice"), in(time.Hour)))
	f.save(tok, createFor(bob, userValues("user_id", "bob"), in(time.Hour)))
	f.wantUser(alice, "after a Create replaced their record with bob's")
	f.wantUser(bob, "after a Create under the token of alice's record", tok)
	f.save(tok, create(vals("cart", "1"), in(time.Hour)))
	f.wantUser(bob, "after a Create without a user replaced the record")
}

func testUserDelete(t *testing.T, f *fixture) {
	alice := f.user()
	a1, a2 := f.token(), f.token()
	f.save(a1, createFor(alice, userValues("user_id", "alice"), in(time.Hour)))
	f.save(a2, createFor(alice, userValues("user_id", "alice"), in(time.Hour)))
	if err := f.store.Delete(f.ctx, a1); err != nil {
		t.Fatalf("Delete failed: %v", err)
	}
	f.wantUser(alice, "after one of their records was deleted", a2)
	if err := f.store.Delete(f.ctx, a2); err != nil {
		t.Fatalf("Delete failed: %v", err)
	}
	f.wantUser(alice, "after both of their records were deleted")
}

// testUserWriteMissing: a request in flight during RevokeUser (it read the
// record, RevokeUser deleted it, it logs in or re-indexes) must neither
// bring the record back nor leave it in the index.
func testUserWriteMissing(t *testing.T, f *fixture) {
	alice := f.user()
	tok := f.token()
	f.save(tok, createFor(alice, userValues("user_id", "alice"), in(time.Hour)))
	f.mustLoad(tok, "by request A")
	if err := f.store.Delete(f.ctx, tok); err != nil { // RevokeUser
		t.Fatalf("Delete failed: %v", err)
	}
	_, err := f.store.Save(f.ctx, tok, moveTo(alice, nil, in(time.Hour)))
	wantErrNotFound(t, err, "a Write with SetUser of a record that was deleted")
	_, err = f.store.Save(f.ctx, f.token(), moveTo(alice, userValues("user_id", "alice"), in(time.Hour)))
	wantErrNotFound(t, err, "a Write with SetUser of an unknown token")
	f.wantNotFound(tok, "after request A's Write with SetUser", "the revoked session came back")
	f.wantUser(alice, "after Writes with SetUser of records that are gone")
}

func testUserOdd(t *testing.T, f *fixture) {
	base := f.user()
	users := []string{
		base + "42", base + "4", base + "421", // no prefix matching
		base + ":x", base + "{x}", base + "a b", base + "*", base + "%2A", base + "\\", base + "'\"",
		base + "ü✓", base + "." + strings.Repeat("u", 300),
		base + "\xff\xfe", base + "\x00nul", base + "\x01", base + "." + strings.Repeat("long", 800), // not UTF-8, NUL, 3 KiB
	}
	tokens := make([]string, len(users))
	for i, u := range users {
		tokens[i] = f.token()
		f.save(tokens[i], createFor(u, userValues("user_id", u), in(time.Hour)))
	}
	for i, u := range users {
		f.wantUser(u, fmt.Sprintf("of the odd user key #%d", i), tokens[i])
	}
	f.wantUser(base, "of a user whose key is a prefix of the others'")
}

func testUserConcurrent(t *testing.T, f *fixture) {
	const n = 16
	alice := f.user()
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = f.token()
	}
	start := make(chan struct{}) // released at once, for the most overlap
	var wg sync.WaitGroup
	run := func(op func(i int) error) {
		for i := range n {
			wg.Go(func() {
				<-start
				if err := op(i); err != nil {
					t.Errorf("concurrent save of a record of one user failed: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	run(func(i int) error {
		_, err := f.store.Save(f.ctx, tokens[i], createFor(alice, userValues("user_id", "alice"), in(time.Hour)))
		return err
	})
	f.wantUser(alice, "after 16 concurrent logins of one user (an index kept by read-modify-write must not lose any)", tokens...)

	start = make(chan struct{})
	run(func(i int) error {
		if i%2 == 0 {
			return f.store.Delete(f.ctx, tokens[i])
		}
		_, err := f.store.Save(f.ctx, tokens[i], touch(in(2*time.Hour)))
		return err
	})
	var kept []string
	for i := 1; i < n; i += 2 {
		kept = append(kept, tokens[i])
	}
	f.wantUser(alice, "after 8 concurrent Deletes and 8 concurrent Touches of their records", kept...)
}

func testUserExpires(t *testing.T, f *fixture) {
	alice := f.user()
	short, long := f.token(), f.token()
	expiry := in(time.Second)
	f.save(short, createFor(alice, userValues("user_id", "alice"), expiry))
	f.save(long, createFor(alice, userValues("user_id", "alice"), in(time.Hour)))
	for {
		now := time.Now()
		recs := f.records(alice, "while one record expires")
		if _, listed := recs[short]; !listed {
			break
		}
		if late := now.Sub(expiry); late > time.Second {
			t.Fatalf("UserRecords still lists a record %v after its expiry", late.Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	f.wantUser(alice, "after one of their records expired", long)
	_, err := f.store.Save(f.ctx, short, moveTo(alice, nil, in(time.Hour)))
	wantErrNotFound(t, err, "a Write with SetUser of a record that expired")
	f.wantUser(alice, "after a Write with SetUser of a record that expired", long)
}

// testUserTouchOutlives: a record kept alive past the expiry it was
// created with stays listed after that expiry, so that RevokeUser finds
// the sessions that are kept alive. An index whose entries carry the
// record's first deadline, and that a Touch does not move, fails it.
func testUserTouchOutlives(t *testing.T, f *fixture) {
	alice := f.user()
	tok := f.token()
	// 5 seconds: a memcache store keeps no record that ends sooner.
	first := in(5 * time.Second)
	f.save(tok, createFor(alice, userValues("user_id", "alice"), first))
	f.save(tok, touch(in(time.Hour)))
	time.Sleep(time.Until(first.Add(1500 * time.Millisecond))) // past the first expiry, on the clock
	f.wantUser(alice, "after a Touch kept the record alive past the expiry it was created with", tok)
}

func init() {
	userCases = append(userCases,
		testCase{name: "Session/RevokeUser", kind: userIndexed, run: testSessionRevokeUser},
		testCase{name: "Session/RevokeSessionAndOthers", kind: userIndexed, run: testSessionRevokeOne},
	)
}

// userApp is an app whose user field is "user_id".
func (f *fixture) userApp() *app {
	f.t.Helper()
	return f.appWith(sessionplus.Config{UserField: "user_id"})
}

func (a *app) login(user string) string {
	a.t.Helper()
	return a.do("", func(s *sessionplus.Session) error { return s.Set("user_id", user) })
}

// loggedIn returns the user the browser's next request sees ("" for none).
func (a *app) loggedIn(cookie string) string {
	a.t.Helper()
	var user string
	a.do(cookie, func(s *sessionplus.Session) error {
		v, _, err := sessionplus.GetAs[string](s, "user_id")
		user = v
		return err
	})
	return user
}

// testSessionRevokeUser: three browsers of one user and one of another;
// RevokeUser logs out the three, also a request of theirs in flight (A
// reads, RevokeUser, A writes), and leaves the other user logged in.
func testSessionRevokeUser(t *testing.T, f *fixture) {
	a := f.userApp()
	u42, u7 := "42-"+randomHex(4), "7-"+randomHex(4)
	b1, b2, b3, other := a.login(u42), a.login(u42), a.login(u42), a.login(u7)
	defer a.destroy(other)
	list, err := a.m.UserSessions(f.ctx, u42)
	if err != nil || len(list) != 3 {
		t.Fatalf("UserSessions of a user logged in on three browsers = %d sessions, %v; want 3", len(list), err)
	}
	now := time.Now()
	for i, us := range list {
		if us.Session != "s" || us.Handle == "" || us.Expiry.Before(now) || us.Created.After(now.Add(time.Second)) ||
			us.LastSeen.Before(us.Created) || us.LastSeen.After(now.Add(time.Second)) {
			t.Errorf("UserSessions entry #%d = %+v: want session \"s\", a handle, a creation and last-seen time up to now, an expiry ahead", i, us)
		}
		for _, ck := range []string{b1, b2, b3} {
			if strings.Contains(ck, us.Handle) || strings.Contains(us.Handle, ck) {
				t.Errorf("handle %q and cookie %q share their text: a handle shown in a page must be useless as a cookie", us.Handle, ck)
			}
		}
		if a.loggedIn(us.Handle) != "" {
			t.Errorf("the handle %q used as a cookie logs a browser in", us.Handle)
		}
	}

	inFlight := a.begin(b1) // request A of the first browser reads
	if v, _, err := sessionplus.GetAs[string](inFlight.s, "user_id"); v != u42 || err != nil {
		t.Fatalf("request A reads user_id = %q, %v", v, err)
	}
	n, err := a.m.RevokeUser(f.ctx, u42)
	if n != 3 || err != nil {
		t.Errorf("RevokeUser of a user with three sessions = %d, %v; want 3", n, err)
	}
	if err := inFlight.s.Set("cart", "3 items"); err != nil { // request A writes after the revocation
		t.Fatalf("request A's Set: %v", err)
	}
	a.end(inFlight, b1)
	for i, ck := range []string{b1, b2, b3} {
		if u := a.loggedIn(ck); u != "" {
			t.Errorf("browser %d is still logged in as %q after RevokeUser", i+1, u)
		}
	}
	if u := a.loggedIn(other); u != u7 {
		t.Errorf("the other user's browser sees user %q after RevokeUser of %q, want %q", u, u42, u7)
	}
	if list, err := a.m.UserSessions(f.ctx, u42); len(list) != 0 || err != nil {
		t.Errorf("UserSessions after RevokeUser = %d sessions, %v; want none: the index lists records that are gone", len(list), err)
	}
	if list, err := a.m.UserSessions(f.ctx, u7); len(list) != 1 || err != nil {
		t.Errorf("UserSessions of the other user = %d sessions, %v; want 1", len(list), err)
	}
}

// testSessionRevokeOne: RevokeSession ends the one session a handle names,
// once; RevokeOthers keeps the calling browser's own session.
func testSessionRevokeOne(t *testing.T, f *fixture) {
	a := f.userApp()
	user := "u-" + randomHex(4)
	b1, b2, b3 := a.login(user), a.login(user), a.login(user)
	defer a.destroy(b1)
	list, err := a.m.UserSessions(f.ctx, user)
	if err != nil || len(list) != 3 {
		t.Fatalf("UserSessions = %d sessions, %v; want 3", len(list), err)
	}
	if err := a.m.RevokeSession(f.ctx, list[0].Handle); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if err := a.m.RevokeSession(f.ctx, list[0].Handle); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("RevokeSession of a handle already revoked = %v, want an error wrapping ErrNotFound", err)
	}
	left := 0
	for _, ck := range []string{b1, b2, b3} {
		if a.loggedIn(ck) == user {
			left++
		}
	}
	if left != 2 {
		t.Fatalf("after RevokeSession of one of three sessions, %d browsers are logged in, want 2", left)
	}
	var keep string
	for _, ck := range []string{b1, b2, b3} {
		if a.loggedIn(ck) == user {
			keep = ck
			break
		}
	}
	var n int
	a.do(keep, func(s *sessionplus.Session) (err error) {
		n, err = s.RevokeOthers()
		return err
	})
	if n != 1 {
		t.Errorf("RevokeOthers with two sessions of the user = %d, want 1", n)
	}
	if a.loggedIn(keep) != user {
		t.Error("RevokeOthers logged out the browser that called it")
	}
	if list, err := a.m.UserSessions(f.ctx, user); len(list) != 1 || err != nil {
		t.Errorf("UserSessions after RevokeOthers = %d sessions, %v; want the caller's one", len(list), err)
	}
	a.destroy(keep)
	if list, err := a.m.UserSessions(f.ctx, user); len(list) != 0 || err != nil {
		t.Errorf("UserSessions after the last browser's Destroy = %d sessions, %v; want none", len(list), err)
	}
}
