package drivertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
)

// Harness makes stores of the driver under test. The suite makes a new
// harness for every case and closes it when the case ends.
type Harness interface {
	// MakeStore returns a store of the driver under test.
	MakeStore(ctx context.Context) (sessionplus.Store, error)

	// Stateless reports whether the store is client-side, keeping the record
	// in the value Save returns (as the secure_cookie store does): Delete
	// cannot revoke such a record, and it is only ever saved whole, with
	// [sessionplus.Create].
	Stateless() bool

	// Close releases what the harness holds. It is called after the case's
	// records have been deleted.
	Close()
}

// HarnessMaker makes a [Harness] for one case. ctx ends with the case.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// kind says which stores a case applies to.
type kind int

const (
	allStores   kind = iota
	serverSide       // needs a server-side store: field-level writes, keep-alives, revocable deletes
	userIndexed      // needs a store that implements sessionplus.UserIndex
)

type testCase struct {
	name string
	kind kind
	slow bool // skipped under -short
	run  func(t *testing.T, f *fixture)
}

var cases = []testCase{
	{name: "RoundTrip", run: testRoundTrip},
	{name: "LongExpiry", run: testLongExpiry},
	{name: "ReplaceOverwrites", run: testReplace},
	{name: "FieldWrite", kind: serverSide, run: testFieldWrite},
	{name: "WriteCreatesNothing", kind: serverSide, run: testWriteMissing},
	{name: "KeepAlive", kind: serverSide, run: testKeepAlive},
	{name: "KeepAliveCreatesNothing", kind: serverSide, run: testKeepAliveMissing},
	{name: "LogoutDuringRequest", kind: serverSide, run: testLogoutDuringRequest},
	{name: "LargeValues", run: testLargeValues},
	{name: "ManyFields", run: testManyFields},
	{name: "OddFieldNames", run: testOddFieldNames},
	{name: "OddTokens", kind: serverSide, run: testOddTokens},
	{name: "UnknownToken", run: testUnknownToken},
	{name: "Expires", slow: true, run: testExpires},
	{name: "DeleteUnknown", kind: serverSide, run: testDeleteUnknown},
	{name: "Delete", run: testDelete},
	{name: "ConcurrentSaveLoad", run: testConcurrentSaveLoad},
	{name: "ConcurrentFieldWrites", kind: serverSide, run: testConcurrentFieldWrites},
}

// RunConformanceTests runs the conformance suite against the stores that
// newHarness's harnesses make, each case as a subtest of t.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	for _, c := range slices.Concat(cases, sessionCases, userCases) {
		t.Run(c.name, func(t *testing.T) {
			if c.slow && testing.Short() {
				t.Skip("waits for a record to expire; skipped under -short")
			}
			f := newFixture(t, newHarness)
			if c.kind == serverSide && f.stateless {
				t.Skip("needs a server-side store; this one is stateless")
			}
			if c.kind == userIndexed && f.index == nil {
				t.Skip("needs a store that implements sessionplus.UserIndex; this one does not")
			}
			c.run(t, f)
		})
	}
}

// fixture is one case's store and the tokens it used.
type fixture struct {
	t         *testing.T
	ctx       context.Context
	store     sessionplus.Store
	stateless bool
	index     sessionplus.UserIndex // nil if the store keeps no index of users

	mu     sync.Mutex
	tokens []string // server-side tokens to delete when the case ends
}

func newFixture(t *testing.T, newHarness HarnessMaker) *fixture {
	t.Helper()
	ctx := t.Context()
	h, err := newHarness(ctx, t)
	if err != nil {
		t.Fatalf("making the harness: %v", err)
	}
	if h == nil {
		t.Fatal("the HarnessMaker returned a nil Harness and no error")
	}
	t.Cleanup(h.Close)
	st, err := h.MakeStore(ctx)
	if err != nil {
		t.Fatalf("MakeStore: %v", err)
	}
	if st == nil {
		t.Fatal("MakeStore returned a nil Store and no error")
	}
	f := &fixture{t: t, ctx: ctx, store: st, stateless: h.Stateless()}
	if cs, ok := st.(sessionplus.ClientSide); ok && cs.ClientSide() != f.stateless {
		t.Fatalf("the harness's Stateless() is %v but the store's ClientSide() is %v: "+
			"the root package trusts ClientSide, so the harness must agree with it", f.stateless, cs.ClientSide())
	}
	f.index, _ = st.(sessionplus.UserIndex)
	t.Cleanup(f.cleanup) // runs before h.Close
	return f
}

// cleanup deletes every record a case may have left on a server-side store.
func (f *fixture) cleanup() {
	if f.stateless {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tok := range f.tokens {
		if err := f.store.Delete(ctx, tok); err != nil && !errors.Is(err, sessionplus.ErrNotFound) {
			f.t.Errorf("cleanup: Delete(%s) failed, leaving the record in the backend: %v", short(tok), err)
		}
	}
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// token returns a new random token, "drivertest:" followed by hex, and
// marks it for deletion when the case ends.
func (f *fixture) token() string { return f.use("drivertest:" + randomHex(12)) }

// use marks tok for deletion when the case ends and returns it.
func (f *fixture) use(tok string) string {
	f.mu.Lock()
	f.tokens = append(f.tokens, tok)
	f.mu.Unlock()
	return tok
}

// oddTokens returns new random tokens of unusual length and characters.
func (f *fixture) oddTokens() []string {
	return []string{
		// The root package passes key_prefix + ":" + 43 base64url characters;
		// key_prefix may hold any printable character but whitespace.
		f.use("drivertest:" + randomHex(60)), // about 130 characters
		f.use("drivertest:" + randomHex(8) + ":sess:" + randomHex(4)),
		f.use("drivertest." + randomHex(8) + ".a-b_c"),
		f.use("drivertest:" + randomHex(8) + "+=="),
		f.use("drivertest:" + randomHex(8) + "-_="),
	}
}

// create returns a Create update.
func create(values map[string][]byte, expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Create, Set: values, Expiry: expiry}
}

// write returns a field-level Write update; del must be sorted.
func write(set map[string][]byte, del []string, expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Write, Set: set, Del: del, Expiry: expiry}
}

// touch returns a keep-alive.
func touch(expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry}
}

// in returns the time d from now.
func in(d time.Duration) time.Time { return time.Now().Add(d) }

func describe(u sessionplus.Update) string {
	switch u.Kind {
	case sessionplus.Touch:
		return "Save (touch: a keep-alive)"
	case sessionplus.Write:
		return "Save (write: a field-level write)"
	}
	return "Save (create)"
}

// save applies u to token and returns the value to load the record with:
// token for a server-side store, what Save returned for a stateless one.
func (f *fixture) save(token string, u sessionplus.Update) string {
	f.t.Helper()
	if f.stateless && u.Kind != sessionplus.Create {
		panic("drivertest: internal error: a stateless store is only saved with Create")
	}
	got, err := f.store.Save(f.ctx, token, u)
	if err != nil {
		f.t.Fatalf("%s of %s failed: %v", describe(u), short(token), err)
	}
	if f.stateless {
		if got == "" {
			f.t.Fatalf("%s returned an empty value: a stateless store must return the encoded record for the cookie", describe(u))
		}
		return got
	}
	if got != token {
		f.t.Errorf("%s returned %s, not the token it was given (%s): "+
			"a server-side store must return its token unchanged", describe(u), short(got), short(token))
	}
	return token
}

// load loads key as the root package does: a record whose expiry has
// passed is not found, whatever the store returned.
func (f *fixture) load(key string) (sessionplus.Record, error) {
	rec, err := f.store.Load(f.ctx, key)
	if err == nil && !rec.Expiry.After(time.Now()) {
		return sessionplus.Record{}, fmt.Errorf("%w (expired at %v)", sessionplus.ErrNotFound, rec.Expiry)
	}
	return rec, err
}

// mustLoad loads key and fails the case if there is no record.
func (f *fixture) mustLoad(key, when string) sessionplus.Record {
	f.t.Helper()
	rec, err := f.load(key)
	if err != nil {
		if errors.Is(err, sessionplus.ErrNotFound) {
			f.t.Fatalf("Load %s returned not found (%v): the session would be lost", when, err)
		}
		f.t.Fatalf("Load %s failed: %v", when, err)
	}
	return rec
}

// wantNotFound checks that loading key gives an error wrapping ErrNotFound.
func (f *fixture) wantNotFound(key, when, why string) {
	f.t.Helper()
	rec, err := f.load(key)
	switch {
	case err == nil:
		f.t.Errorf("Load %s returned a record (%d fields) instead of not found: %s", when, len(rec.Values), why)
	case !errors.Is(err, sessionplus.ErrNotFound):
		f.t.Errorf("Load %s returned %q, not an error wrapping sessionplus.ErrNotFound: "+
			"the root package would answer 500 instead of starting a new session", when, err)
	}
}

// check compares a loaded record with the values and expiry saved.
func (f *fixture) check(got sessionplus.Record, want map[string][]byte, expiry time.Time, when string) {
	f.t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		v, ok := got.Values[name]
		switch {
		case !ok:
			f.t.Errorf("%s: field %q is missing (want %s)", when, name, show(want[name]))
		case !bytes.Equal(v, want[name]):
			f.t.Errorf("%s: field %q is %s, want %s", when, name, show(v), show(want[name]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got.Values)) {
		if _, ok := want[name]; !ok {
			f.t.Errorf("%s: unexpected field %q = %s", when, name, show(got.Values[name]))
		}
	}
	if d := got.Expiry.Sub(expiry).Abs(); d > time.Second {
		f.t.Errorf("%s: expiry is %v, want %v (off by %v, more than the second allowed)",
			when, got.Expiry.Round(0), expiry.Round(0), d)
	}
}

// show formats a value for a failure message.
func show(v []byte) string {
	if len(v) > 24 {
		return fmt.Sprintf("%d bytes %x...", len(v), v[:12])
	}
	return fmt.Sprintf("%q", v)
}

// short formats a token for a failure message.
func short(tok string) string {
	if len(tok) > 40 {
		return fmt.Sprintf("%q... (%d chars)", tok[:32], len(tok))
	}
	return fmt.Sprintf("%q", tok)
}

func vals(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func clone(in map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(in))
	for k, v := range in {
		out[k] = bytes.Clone(v)
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func testRoundTrip(t *testing.T, f *fixture) {
	want := map[string][]byte{
		"user":  []byte("alice"),
		"bin":   {0x00, 0xff, 0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x00},
		"empty": {},
		"text":  []byte("héllo, wörld ✓\n\"quoted\"\t"),
		"zero":  {0x00},
	}
	expiry := in(time.Hour)
	saved := clone(want)
	key := f.save(f.token(), create(saved, expiry))
	for _, v := range saved { // the caller may reuse its buffers after Save
		for i := range v {
			v[i] = 'X'
		}
	}
	got := f.mustLoad(key, "of a record just saved")
	f.check(got, want, expiry, "after Save and Load")
	for _, v := range got.Values { // ...and may modify what Load returned
		for i := range v {
			v[i] = 'Y'
		}
	}
	got = f.mustLoad(key, "a second time")
	f.check(got, want, expiry, "after changing the bytes a caller passed to Save or got from Load "+
		"(the store must keep its own copy)")
}

func testLongExpiry(t *testing.T, f *fixture) {
	// session_permanent_lifetime defaults to 31 days, beyond the 30 days
	// after which memcache reads a relative expiry as a Unix time.
	want := vals("user", "alice")
	expiry := in(31*24*time.Hour + time.Hour)
	key := f.save(f.token(), create(want, expiry))
	got := f.mustLoad(key, "of a record that expires in 31 days")
	f.check(got, want, expiry, "a record that expires in 31 days")
}

func testReplace(t *testing.T, f *fixture) {
	key := f.save(f.token(), create(vals("a", "1", "b", "2"), in(time.Hour)))
	want := vals("b", "new", "c", "3")
	expiry := in(2 * time.Hour)
	key = f.save(key, create(want, expiry))
	got := f.mustLoad(key, "after a replace")
	f.check(got, want, expiry, "after a replace (fields not in the new record must be gone)")
}

func testFieldWrite(t *testing.T, f *fixture) {
	tok := f.token()
	f.save(tok, create(vals("a", "1", "b", "2", "c", "3"), in(time.Hour)))

	expiry := in(2 * time.Hour)
	f.save(tok, write(vals("b", "22", "d", "4"), []string{"c", "never-set"}, expiry))
	got := f.mustLoad(tok, "after a field-level write")
	f.check(got, vals("a", "1", "b", "22", "d", "4"), expiry,
		"after a field-level write setting b and d and deleting c (other fields must be kept, the expiry moved)")

	expiry = in(3 * time.Hour)
	f.save(tok, write(nil, []string{"a"}, expiry))
	got = f.mustLoad(tok, "after a field-level write that only deletes")
	f.check(got, vals("b", "22", "d", "4"), expiry, "after a field-level write deleting a")
}

func testWriteMissing(t *testing.T, f *fixture) {
	tok := f.token()
	_, err := f.store.Save(f.ctx, tok, write(vals("a", "1", "b", "2"), nil, in(time.Hour)))
	wantErrNotFound(t, err, "a field-level write to a token with no record")
	f.wantNotFound(tok, "after a field-level write to a token with no record",
		"only Create creates: a Write to a record that a log-out deleted would bring the session back")
}

// wantErrNotFound checks that err wraps sessionplus.ErrNotFound.
func wantErrNotFound(t *testing.T, err error, what string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s returned no error: it must return one wrapping sessionplus.ErrNotFound", what)
	case !errors.Is(err, sessionplus.ErrNotFound):
		t.Errorf("%s returned %q, not an error wrapping sessionplus.ErrNotFound", what, err)
	}
}

func testKeepAlive(t *testing.T, f *fixture) {
	tok := f.token()
	want := vals("a", "1", "b", "2")
	f.save(tok, create(want, in(time.Hour)))
	expiry := in(2 * time.Hour)
	f.save(tok, touch(expiry))
	got := f.mustLoad(tok, "after a keep-alive")
	f.check(got, want, expiry, "after a keep-alive (only the expiry may change)")
}

func testKeepAliveMissing(t *testing.T, f *fixture) {
	tok := f.token()
	_, err := f.store.Save(f.ctx, tok, touch(in(time.Hour)))
	wantErrNotFound(t, err, "a keep-alive of an unknown token")
	f.wantNotFound(tok, "after a keep-alive of an unknown token", "a keep-alive must not create a record")
}

// testLogoutDuringRequest interleaves two requests of one browser
// deterministically: A reads the session, B logs out (deletes the record),
// then A writes a field and keeps the session alive. Neither of A's saves
// may bring the record back.
func testLogoutDuringRequest(t *testing.T, f *fixture) {
	tok := f.token()
	expiry := in(time.Hour)
	f.save(tok, create(vals("user_id", "alice", "role", "admin"), expiry))
	f.mustLoad(tok, "by request A")                    // A reads
	if err := f.store.Delete(f.ctx, tok); err != nil { // B logs out
		t.Fatalf("Delete by request B failed: %v", err)
	}
	_, err := f.store.Save(f.ctx, tok, write(vals("cart", "1"), nil, in(2*time.Hour))) // A writes
	wantErrNotFound(t, err, "request A's field-level write after B deleted the record")
	f.wantNotFound(tok, "after request A's field-level write", "the logged-out session came back with A's write")
	_, err = f.store.Save(f.ctx, tok, write(nil, []string{"role"}, in(2*time.Hour)))
	wantErrNotFound(t, err, "request A's field-level delete after B deleted the record")
	_, err = f.store.Save(f.ctx, tok, touch(in(2*time.Hour)))
	wantErrNotFound(t, err, "request A's keep-alive after B deleted the record")
	f.wantNotFound(tok, "after request A's saves", "the logged-out session came back")
	wantErrNotFound(t, f.store.Delete(f.ctx, tok),
		"request A's Delete of the record B deleted (a login moving the session to a new id must learn that it was ended)")
}

func testLargeValues(t *testing.T, f *fixture) {
	want := map[string][]byte{
		"4k":  randomBytes(4 << 10),
		"64k": randomBytes(64 << 10),
		"txt": []byte(strings.Repeat("0123456789abcdef", 256)),
	}
	if f.stateless { // about 2 KiB in all, to fit in a cookie
		want = map[string][]byte{
			"blob": randomBytes(1500),
			"txt":  []byte(strings.Repeat("0123456789", 50)),
		}
	}
	expiry := in(time.Hour)
	key := f.save(f.token(), create(want, expiry))
	got := f.mustLoad(key, "of a record with large values")
	f.check(got, want, expiry, "a record with large values")
}

func testManyFields(t *testing.T, f *fixture) {
	want := make(map[string][]byte, 100)
	for i := range 100 {
		want[fmt.Sprintf("f%03d", i)] = fmt.Appendf(nil, "v%03d", i)
	}
	expiry := in(time.Hour)
	key := f.save(f.token(), create(want, expiry))
	got := f.mustLoad(key, "of a record with 100 fields")
	f.check(got, want, expiry, "a record with 100 fields")
}

func testOddFieldNames(t *testing.T, f *fixture) {
	names := []string{
		".", "$x", "$", "a.b", "a.b.c", "a/b", "with space", "ünïcødé ✓", "__name__",
		"_id", "expiry", "expires_at", "__expiry", "a:b", "`", "a[0]", "a\\b",
	}
	want := make(map[string][]byte, len(names))
	for i, name := range names {
		want[name] = fmt.Appendf(nil, "value %d", i)
	}
	expiry := in(time.Hour)
	tok := f.token()
	key := f.save(tok, create(want, expiry))
	got := f.mustLoad(key, "of a record with odd field names")
	f.check(got, want, expiry, "a record with odd field names (names must come back unchanged)")
	if f.stateless {
		return
	}
	set := vals("a.b", "changed", "$new", "n", "new.field", "n2", "_id", "id changed")
	del := []string{"$x", "a/b", "with space"}
	expiry = in(2 * time.Hour)
	f.save(tok, write(set, del, expiry))
	for _, name := range del {
		delete(want, name)
	}
	maps.Copy(want, set)
	got = f.mustLoad(tok, "after a field-level write of odd field names")
	f.check(got, want, expiry, "after a field-level write of odd field names "+
		"(each name is one field: no nesting on '.', no operators on '$')")
}

func testOddTokens(t *testing.T, f *fixture) {
	toks := f.oddTokens()
	expiry := in(time.Hour)
	for _, tok := range toks {
		f.save(tok, create(vals("token", tok), expiry))
	}
	for _, tok := range toks { // after all saves, so that tokens that collide show up
		got := f.mustLoad(tok, "of the token "+short(tok))
		f.check(got, vals("token", tok), expiry, "the record of the token "+short(tok))
	}
	for _, tok := range toks {
		if err := f.store.Delete(f.ctx, tok); err != nil {
			t.Errorf("Delete(%s) failed: %v", short(tok), err)
		}
		f.wantNotFound(tok, "of the deleted token "+short(tok), "Delete must remove the record")
		wantErrNotFound(t, f.store.Delete(f.ctx, tok), "a second Delete of "+short(tok))
	}
}

func testUnknownToken(t *testing.T, f *fixture) {
	toks := append(f.oddTokens(), f.token())
	if f.stateless { // the token is the cookie as the client sent it
		toks = append(toks, "not a token !@#$%^&*() \x00\xff", "x~p1", "=")
	}
	for _, tok := range toks {
		f.wantNotFound(tok, "of the unknown token "+short(tok), "nothing was saved under it")
	}
	if !f.stateless {
		return
	}
	// A stateless store reads the record from the value itself: a changed
	// or cut value must be rejected, never decoded.
	key := f.save(f.token(), create(vals("user", "alice"), in(time.Hour)))
	flipped := []byte(key)
	if i := len(flipped) / 2; flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	f.wantNotFound(string(flipped), "of a saved value with one character changed", "a tampered cookie must be rejected")
	f.wantNotFound(key[:len(key)/2], "of the first half of a saved value", "a truncated cookie must be rejected")
}

func testExpires(t *testing.T, f *fixture) {
	// Poll until the record is gone. The expiry is honoured to the second,
	// so a record served more than a second after its expiry fails the
	// case, which bounds the wait to about two seconds.
	expiry := in(time.Second)
	key := f.save(f.token(), create(vals("a", "1"), expiry))
	var keepAlive, fieldWrite string // expire unread alongside key
	if !f.stateless {
		keepAlive, fieldWrite = f.token(), f.token()
		f.save(keepAlive, create(vals("a", "1"), expiry))
		f.save(fieldWrite, create(vals("user", "old-user", "role", "admin"), expiry))
	}
	for {
		now := time.Now()
		_, err := f.load(key)
		if errors.Is(err, sessionplus.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("Load of a record about to expire failed: %v", err)
		}
		if late := now.Sub(expiry); late > time.Second {
			t.Fatalf("Load returned a record %v after its expiry: an expired session is still served",
				late.Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if f.stateless {
		return
	}

	// Records that expired on their own, without being read since, must
	// not be revived by a keep-alive or a field-level write.
	_, err := f.store.Save(f.ctx, keepAlive, touch(in(time.Hour)))
	wantErrNotFound(t, err, "a keep-alive of a record that expired")
	f.wantNotFound(keepAlive, "after a keep-alive of a record that expired", "a keep-alive must not revive a record")
	_, err = f.store.Save(f.ctx, fieldWrite, write(vals("theme", "dark"), nil, in(time.Hour)))
	wantErrNotFound(t, err, "a field-level write to a record that expired")
	f.wantNotFound(fieldWrite, "after a field-level write to a record that expired",
		"a timed-out session must not be revived with its old data")
}

func testDeleteUnknown(t *testing.T, f *fixture) {
	for _, tok := range append(f.oddTokens(), f.token()) {
		wantErrNotFound(t, f.store.Delete(f.ctx, tok), "Delete of the unknown token "+short(tok))
	}
}

func testDelete(t *testing.T, f *fixture) {
	key := f.save(f.token(), create(vals("a", "1"), in(time.Hour)))
	if err := f.store.Delete(f.ctx, key); err != nil {
		t.Fatalf("Delete of a saved record failed: %v", err)
	}
	if !f.stateless {
		f.wantNotFound(key, "after Delete", "a deleted session (such as one logged out) is still served")
		wantErrNotFound(t, f.store.Delete(f.ctx, key), "Delete of a record deleted already")
	}
}

func testConcurrentSaveLoad(t *testing.T, f *fixture) {
	const goroutines, rounds = 8, 20
	expiry := in(time.Hour)
	var wg sync.WaitGroup
	for g := range goroutines {
		tok := f.token()
		wg.Go(func() {
			key := tok
			for i := range rounds {
				want := fmt.Appendf(nil, "%d-%d", g, i)
				k, err := f.store.Save(f.ctx, key, create(map[string][]byte{"v": want}, expiry))
				if err != nil {
					t.Errorf("concurrent Save failed: %v", err)
					return
				}
				if f.stateless {
					key = k
				}
				rec, err := f.store.Load(f.ctx, key)
				if err != nil {
					t.Errorf("concurrent Load of a record just saved failed: %v", err)
					return
				}
				if got := rec.Values["v"]; !bytes.Equal(got, want) {
					t.Errorf("concurrent Load returned %s, want %s: sessions saved at the same time got mixed up",
						show(got), show(want))
					return
				}
			}
		})
	}
	wg.Wait()
}

func testConcurrentFieldWrites(t *testing.T, f *fixture) {
	const goroutines, rounds = 8, 20
	tok := f.token()
	expiry := in(time.Hour)
	f.save(tok, create(vals("base", "b"), expiry))
	start := make(chan struct{}) // released at once, for the most overlap
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			name := fmt.Sprintf("g%d", g)
			<-start
			for i := range rounds {
				u := write(vals(name, fmt.Sprintf("%s-%02d", name, i)), nil, expiry)
				if _, err := f.store.Save(f.ctx, tok, u); err != nil {
					t.Errorf("concurrent field-level write of %q failed: %v", name, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	want := vals("base", "b")
	for g := range goroutines {
		name := fmt.Sprintf("g%d", g)
		want[name] = fmt.Appendf(nil, "%s-%02d", name, rounds-1)
	}
	got := f.mustLoad(tok, "after concurrent field-level writes")
	f.check(got, want, expiry, "after 8 requests wrote different fields of one session at the same time "+
		"(each must land: write only the changed fields, or make the read-modify-write atomic)")
}

// HungServer returns the address of a server that accepts connections and
// never answers (it reads nothing and writes nothing), for a driver's test
// that every operation is bounded by its timeout. It stops when the test
// ends.
func HungServer(t testing.TB) string {
	t.Helper()
	return listen(t, true).Addr
}

// CountingServer starts a server that accepts connections and closes each
// at once, and counts them: for a driver's test that a configuration
// mistake is reported without contacting the backend (0 connections), and
// for the control that the same options without the mistake do contact it.
// It stops when the test ends.
func CountingServer(t testing.TB) *Listener {
	t.Helper()
	return listen(t, false)
}

// A Listener is a local TCP server of a test, made by [CountingServer].
type Listener struct {
	Addr     string // its "127.0.0.1:port"
	accepted atomic.Int64
}

// Accepted returns how many connections l has accepted so far.
func (l *Listener) Accepted() int { return int(l.accepted.Load()) }

// listen serves HungServer (hold: keep every connection open, unanswered)
// and CountingServer (close each at once).
func listen(t testing.TB, hold bool) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{Addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			if hold {
				conns = append(conns, c) // read nothing, answer nothing
			} else {
				c.Close()
			}
		}
	})
	return l
}

// ServerFromEnv returns the value of the environment variable that locates
// a driver's test server, such as SESSIONPLUS_REDIS_URL. When it is unset the
// test is skipped with a message, except under CI=true, where a missing
// server fails the test: the project's test script starts every server.
func ServerFromEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: under CI=true every backend must be running (./scripts/test starts them)", name)
	}
	t.Skipf("%s is not set: no server to test against (./scripts/test starts one)", name)
	return ""
}
