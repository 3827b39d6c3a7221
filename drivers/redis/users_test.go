package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/redis"
)

// login returns a Create of set for user.
func login(user string, set map[string][]byte, expiry time.Time) sessionplus.Update {
	u := create(set, expiry)
	u.User = user
	return u
}

// moveTo returns a Write with SetUser that moves a record to user.
func moveTo(user string, expiry time.Time) sessionplus.Update {
	u := write(nil, nil, expiry)
	u.User, u.SetUser = user, true
	return u
}

// listed returns the tokens UserRecords lists for user.
func listed(t *testing.T, st *redis.Store, user string) map[string]sessionplus.Record {
	t.Helper()
	recs, err := st.UserRecords(t.Context(), user)
	if err != nil {
		t.Fatalf("UserRecords(%q): %v", user, err)
	}
	out := make(map[string]sessionplus.Record, len(recs))
	for _, r := range recs {
		out[r.Token] = r.Record
	}
	return out
}

// score returns the deadline, in Unix milliseconds, of tok in the index
// key idx, and 0 if it has none.
func score(t *testing.T, rdb goredis.UniversalClient, idx, tok string) int64 {
	t.Helper()
	f, err := rdb.ZScore(t.Context(), idx, tok).Result()
	if errors.Is(err, goredis.Nil) {
		return 0
	}
	must(t, err)
	return int64(f)
}

// TestUserRoundTrips shows the cost of the index of users: a save that
// keeps the record's user is one round trip, as without the index; a login
// is two; and a keep-alive whose new expiry passes the record's index
// deadline (about once per lifetime) is two.
func TestUserRoundTrips(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			cnt := &counter{}
			rdb := srv.client(t, cnt)
			ctx := t.Context()
			store, err := redis.Driver{}.Open(ctx, sessionplus.DriverConfig{Options: sessionplus.Options{"client": rdb}})
			must(t, err)
			st := store.(*redis.Store)
			p := prefix(t, rdb)
			tok := p + ":" + randomHex(16)
			alice, bob := "alice-"+randomHex(4), "bob-"+randomHex(4)
			idxAlice := p + ":user=" + alice
			cnt.take() // PING and the script loads of Open

			hour := time.Now().Add(time.Hour)
			_, err = st.Save(ctx, tok, login(alice, vals("user_id", alice), hour))
			must(t, err)
			cnt.want(t, 2, "a login (Create with a user: the index, then the record)")
			first := score(t, rdb, idxAlice, tok)
			if first < hour.Add(time.Hour-time.Second).UnixMilli() {
				t.Errorf("the login's index deadline is %v, want about twice the remaining lifetime (%v)",
					time.UnixMilli(first), hour.Add(time.Hour))
			}
			cnt.take()

			_, err = st.Save(ctx, tok, write(vals("theme", "dark"), nil, hour.Add(time.Minute)))
			must(t, err)
			cnt.want(t, 1, "a Write that keeps the user")
			_, err = st.Save(ctx, tok, touch(hour.Add(30*time.Minute)))
			must(t, err)
			cnt.want(t, 1, "a Touch within the index deadline")
			if got := score(t, rdb, idxAlice, tok); got != first {
				t.Errorf("a Touch within the deadline moved the index entry from %d to %d", first, got)
			}
			cnt.take()

			// A keep-alive past the deadline: the script returns the user,
			// and one ZADD moves the entry.
			later := hour.Add(90 * time.Minute)
			_, err = st.Save(ctx, tok, touch(later))
			must(t, err)
			cnt.want(t, 2, "a Touch past the index deadline (the script, then the index)")
			if got := score(t, rdb, idxAlice, tok); got < later.Add(time.Hour).UnixMilli() {
				t.Errorf("after a Touch past the deadline the index holds the record until %v, want past %v",
					time.UnixMilli(got), later.Add(time.Hour))
			}
			cnt.take() // ZSCORE
			if r := listed(t, st, alice)[tok]; !r.Expiry.Equal(time.UnixMilli(later.UnixMilli())) {
				t.Errorf("UserRecords after the Touch gives expiry %v, want %v", r.Expiry, later)
			}
			calls := cnt.take()
			t.Logf("UserRecords of one record: %d round trip(s) %v", len(calls), calls)
			if srv.name != "cluster" && len(calls) != 2 {
				t.Errorf("UserRecords: %d round trips %v, want 2 (the index, then the records)", len(calls), calls)
			}

			_, err = st.Save(ctx, tok, moveTo(bob, later))
			must(t, err)
			cnt.want(t, 2, "a Write with SetUser to another user")
			_, err = st.Save(ctx, tok, moveTo("", later))
			must(t, err)
			cnt.want(t, 1, "a Write with SetUser \"\" (a log-out that keeps the session)")
			_, err = st.Save(ctx, tok, touch(later.Add(3*time.Hour)))
			must(t, err)
			cnt.want(t, 1, "a Touch of a record of no user")
			_, err = st.Save(ctx, tok, create(vals("cart", "1"), hour))
			must(t, err)
			cnt.want(t, 1, "a Create without a user")

			must(t, st.Delete(ctx, tok))
			cnt.take()
			_, err = st.Save(ctx, tok, moveTo(alice, hour))
			if !errors.Is(err, sessionplus.ErrNotFound) {
				t.Fatalf("a Write with SetUser of a deleted record = %v, want ErrNotFound", err)
			}
			cnt.want(t, 2, "a Write with SetUser of a deleted record")
			if n, err := rdb.Exists(ctx, tok).Result(); err != nil || n != 0 {
				t.Errorf("EXISTS after a Write with SetUser of a deleted record = %d, %v; want 0: it came back", n, err)
			}
			if got := listed(t, st, alice); len(got) != 0 || len(listed(t, st, bob)) != 0 {
				t.Errorf("UserRecords lists %d records after every record of the user is gone", len(got))
			}
		})
	}
}

// TestUserLayout shows where the index lives: a sorted set per user under
// the record's key prefix, token → index deadline, with a TTL at its latest
// deadline; and the record's own bookkeeping fields, which Load does not
// return.
func TestUserLayout(t *testing.T) {
	rdb := standaloneClient(t)
	ctx := t.Context()
	st := redis.New(rdb, nil)
	p := prefix(t, rdb)
	tok := p + ":" + randomHex(16)
	user := "a:b{c}%" + randomHex(4)
	expiry := time.Now().Add(time.Hour)
	before := time.Now()
	_, err := st.Save(ctx, tok, login(user, vals("user_id", user, "\x00meta", "s0"), expiry))
	must(t, err)

	idx := p + ":user=a%3Ab%7Bc%7D%25" + user[len(user)-8:]
	d := score(t, rdb, idx, tok)
	lo, hi := 2*expiry.UnixMilli()-time.Now().UnixMilli(), 2*expiry.UnixMilli()-before.UnixMilli()
	if d < lo || d > hi {
		t.Fatalf("ZSCORE %s = %d, want between %d and %d (the expiry plus the remaining lifetime)", idx, d, lo, hi)
	}
	if exp, err := rdb.PExpireTime(ctx, idx).Result(); err != nil || exp.Milliseconds() != d {
		t.Errorf("PEXPIRETIME of the index = %v, %v; want its latest deadline %d", exp, err, d)
	}
	h, err := rdb.HGetAll(ctx, tok).Result()
	must(t, err)
	if h["\x00user"] != user || h["\x00ixd"] != strconv.FormatInt(d, 10) {
		t.Errorf("the record's bookkeeping: \\x00user = %q, \\x00ixd = %q; want %q, %d", h["\x00user"], h["\x00ixd"], user, d)
	}
	r, err := st.Load(ctx, tok)
	must(t, err)
	if fmt.Sprint(r.Values) != fmt.Sprint(vals("user_id", user, "\x00meta", "s0")) {
		t.Errorf("Load = %q, want the session's fields and \\x00meta only", r.Values)
	}
	// A save that gives the record an earlier deadline (one that lands
	// after a later one, say) leaves the index's later one.
	u := moveTo(user, time.Now().Add(time.Minute))
	_, err = st.Save(ctx, tok, u)
	must(t, err)
	if got := score(t, rdb, idx, tok); got != d {
		t.Errorf("after a save with an earlier deadline the index holds the record until %d, want the later %d", got, d)
	}
	if exp, err := rdb.PExpireTime(ctx, idx).Result(); err != nil || exp.Milliseconds() != d {
		t.Errorf("PEXPIRETIME of the index after an earlier deadline = %v, %v; want %d", exp, err, d)
	}
}

// TestUserIndexShrinks shows that the index does not grow with the records
// that are gone: an entry goes once its deadline passes (at the next login
// of the user), and an index whose records all expired expires itself.
func TestUserIndexShrinks(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for index entries to expire; skipped under -short")
	}
	for _, srv := range servers[:2] {
		t.Run(srv.name, func(t *testing.T) {
			rdb := srv.client(t)
			ctx := t.Context()
			st := redis.New(rdb, nil)
			p := prefix(t, rdb)
			alice, bob := "alice-"+randomHex(4), "bob-"+randomHex(4)
			idxAlice, idxBob := p+":user="+alice, p+":user="+bob
			short, long, again := p+":"+randomHex(16), p+":"+randomHex(16), p+":"+randomHex(16)
			soon := time.Now().Add(time.Second)
			_, err := st.Save(ctx, short, login(alice, vals("user_id", alice), soon))
			must(t, err)
			_, err = st.Save(ctx, long, login(alice, vals("user_id", alice), time.Now().Add(time.Hour)))
			must(t, err)
			_, err = st.Save(ctx, p+":"+randomHex(16), login(bob, vals("user_id", bob), soon))
			must(t, err)

			// Poll until the short record's deadline (about 2s) has passed.
			deadline := time.UnixMilli(score(t, rdb, idxAlice, short))
			for time.Now().Before(deadline.Add(10 * time.Millisecond)) {
				if late := time.Since(soon); late > 5*time.Second {
					t.Fatalf("the deadline %v is more than 5s after the record's expiry", deadline)
				}
				time.Sleep(20 * time.Millisecond) // poll interval
			}
			_, err = st.Save(ctx, again, login(alice, vals("user_id", alice), time.Now().Add(time.Hour)))
			must(t, err)
			members, err := rdb.ZRange(ctx, idxAlice, 0, -1).Result()
			must(t, err)
			if len(members) != 2 || score(t, rdb, idxAlice, short) != 0 {
				t.Errorf("alice's index after a login past an expired record's deadline holds %d entries, want 2 (the expired one pruned)", len(members))
			}

			// Bob's only record expired and he never logged in again: his
			// index key expires at its deadline.
			for {
				n, err := rdb.Exists(ctx, idxBob).Result()
				must(t, err)
				if n == 0 {
					break
				}
				if late := time.Since(soon); late > 5*time.Second {
					t.Fatalf("the index of a user whose only record expired is still there %v after its expiry", late.Round(time.Millisecond))
				}
				time.Sleep(20 * time.Millisecond) // poll interval
			}
			if got := listed(t, st, alice); len(got) != 2 {
				t.Errorf("UserRecords of alice lists %d records, want 2", len(got))
			}
		})
	}
}

// userManager returns a manager whose one session is kept in st under key
// prefix p, with user field userField ("" for none).
func userManager(t *testing.T, st sessionplus.Store, p, userField string) *sessionplus.Manager {
	t.Helper()
	m, err := sessionplus.New(t.Context(), sessionplus.Config{
		SecretKeys: [][]byte{secret},
		UserField:  userField,
		Sessions:   []sessionplus.Options{{"cookie_name": "session", "store": st, "key_prefix": p}},
	})
	must(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// TestUserSessionsAfterRestart: an application that starts again (a new
// store that has saved nothing yet) lists and revokes the sessions that its
// previous run logged in; the manager tells the store its key prefix.
func TestUserSessionsAfterRestart(t *testing.T) {
	for _, srv := range servers[:2] {
		t.Run(srv.name, func(t *testing.T) {
			rdb := srv.client(t)
			p := prefix(t, rdb)
			user := "u-" + randomHex(4)
			b := newBrowser(t, userManager(t, redis.New(rdb, nil), p, "user_id"))
			b.do(func(s *sessionplus.Session) { must(t, s.Set("user_id", user)) })

			m := userManager(t, redis.New(rdb, nil), p, "user_id")
			list, err := m.UserSessions(t.Context(), user)
			if err != nil || len(list) != 1 {
				t.Fatalf("UserSessions after a restart = %d sessions, %v; want the one logged in before", len(list), err)
			}
			if n, err := m.RevokeUser(t.Context(), user); n != 1 || err != nil {
				t.Errorf("RevokeUser after a restart = %d, %v; want 1", n, err)
			}
			b.m = m
			b.do(func(s *sessionplus.Session) {
				if v := get(t, s, "user_id"); v != nil {
					t.Errorf("the browser is still logged in as %v after RevokeUser", v)
				}
			})
		})
	}
}

// TestUserSessionRoundTrips counts the round trips of the requests of a
// browser through a manager with a user field and through one without: a
// request that does not change the user costs the same, a login at most
// one more.
func TestUserSessionRoundTrips(t *testing.T) {
	steps := []struct {
		name  string
		extra int // round trips the index may add
		h     func(t *testing.T, s *sessionplus.Session)
	}{
		{"a login on a new session", 1, func(t *testing.T, s *sessionplus.Session) { must(t, s.Set("user_id", 42)) }},
		{"a write of another field", 0, func(t *testing.T, s *sessionplus.Session) { must(t, s.Set("theme", "dark")) }},
		{"a read", 0, func(t *testing.T, s *sessionplus.Session) {
			if v, _, _ := sessionplus.GetAs[int](s, "user_id"); v != 42 {
				t.Errorf("user_id = %v, want 42", v)
			}
		}},
		{"a request that does not use the session", 0, func(*testing.T, *sessionplus.Session) {}},
		{"a change of user", 1, func(t *testing.T, s *sessionplus.Session) { must(t, s.Set("user_id", 43)) }},
		{"a log-out that keeps the session", 0, func(t *testing.T, s *sessionplus.Session) { must(t, s.Delete("user_id")) }},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			counts := map[string][]int{}
			for _, userField := range []string{"", "user_id"} {
				cnt := &counter{}
				rdb := srv.client(t, cnt)
				store, err := redis.Driver{}.Open(t.Context(), sessionplus.DriverConfig{Options: sessionplus.Options{"client": rdb}})
				must(t, err)
				b := newBrowser(t, userManager(t, store, prefix(t, rdb), userField))
				cnt.take()
				for _, st := range steps {
					b.do(func(s *sessionplus.Session) { st.h(t, s) })
					calls := cnt.take()
					counts[st.name] = append(counts[st.name], len(calls))
					t.Logf("user field %q: %s: %d round trip(s) %v", userField, st.name, len(calls), calls)
				}
			}
			for _, st := range steps {
				without, with := counts[st.name][0], counts[st.name][1]
				if with > without+st.extra {
					t.Errorf("%s: %d round trips with the index of users, %d without; want at most %d more", st.name, with, without, st.extra)
				}
			}
		})
	}
}

// indexDown is a hook that fails, with err, every script run (EVALSHA or
// EVAL) whose keys include a user's index (a key holding ":user=", which
// no record's key holds), alone or in a pipeline, without sending it.
type indexDown struct{ err error }

func (h indexDown) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h indexDown) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if writesIndex(cmd) {
			cmd.SetErr(h.err)
			return h.err
		}
		return next(ctx, cmd)
	}
}

func (h indexDown) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			if writesIndex(cmd) {
				for _, c := range cmds {
					c.SetErr(h.err)
				}
				return h.err
			}
		}
		return next(ctx, cmds)
	}
}

// writesIndex reports whether cmd runs a script on a user's index: EVALSHA
// or EVAL (sha or source, number of keys, keys..., args...) with a key that
// holds ":user=".
func writesIndex(cmd goredis.Cmder) bool {
	switch strings.ToLower(cmd.Name()) {
	case "evalsha", "eval", "evalsha_ro", "eval_ro":
	default:
		return false
	}
	args := cmd.Args()
	if len(args) < 3 {
		return false
	}
	n, err := strconv.Atoi(fmt.Sprint(args[2]))
	if err != nil {
		return false
	}
	for i := 3; i < 3+n && i < len(args); i++ {
		if strings.Contains(fmt.Sprint(args[i]), ":user=") {
			return true
		}
	}
	return false
}

// TestIndexFirst: a login writes the user's index before the record, so a
// login whose index script fails returns the error and leaves the record
// as it was: a Create with a user writes no record, and a Write with
// SetUser leaves the record its old user's, still listed under that user.
// Never a record of a user that RevokeUser cannot find. The one step the
// other way round, a Touch past the record's index deadline, returns the
// error of its index script too.
func TestIndexFirst(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			ctx := t.Context()
			rdb := srv.client(t)
			plain := redis.New(rdb, nil)
			p := prefix(t, rdb)
			alice, bob := "alice-"+randomHex(4), "bob-"+randomHex(4)
			tok, fresh := p+":"+randomHex(16), p+":"+randomHex(16)
			expiry := time.Now().Add(time.Hour)
			_, err := plain.Save(ctx, tok, login(alice, vals("user_id", alice), expiry))
			must(t, err)

			down := errors.New("the index's script is refused")
			st := redis.New(srv.client(t, indexDown{down}), nil)

			_, err = st.Save(ctx, fresh, login(bob, vals("user_id", bob), time.Now().Add(time.Hour)))
			if !errors.Is(err, down) {
				t.Errorf("a Create with a user whose index script fails = %v, want its error", err)
			}
			if n, err := rdb.Exists(ctx, fresh).Result(); err != nil || n != 0 {
				t.Errorf("EXISTS after a Create with a user whose index script failed = %d, %v; want 0: a record of a user that RevokeUser cannot find", n, err)
			}

			for _, u := range []sessionplus.Update{
				moveTo(bob, time.Now().Add(2*time.Hour)),
				login(bob, vals("user_id", bob), time.Now().Add(2*time.Hour)),
			} {
				_, err = st.Save(ctx, tok, u)
				if !errors.Is(err, down) {
					t.Errorf("a %v to another user whose index script fails = %v, want its error", u.Kind, err)
				}
				if got, err := rdb.HGet(ctx, tok, "\x00user").Result(); err != nil || got != alice {
					t.Errorf("the record's user after a %v to another user whose index script failed = %q, %v; want %q, unchanged", u.Kind, got, err, alice)
				}
				if _, ok := listed(t, plain, alice)[tok]; !ok {
					t.Errorf("UserRecords of alice after a %v to another user whose index script failed does not list the record", u.Kind)
				}
			}
			if got := listed(t, plain, bob); len(got) != 0 {
				t.Errorf("UserRecords of bob = %d records, want none", len(got))
			}

			// A keep-alive past the index deadline (about twice the hour
			// from now): the save script runs, then the index script fails,
			// and Save returns its error.
			_, err = st.Save(ctx, tok, touch(time.Now().Add(3*time.Hour)))
			if !errors.Is(err, down) {
				t.Errorf("a Touch past the index deadline whose index script fails = %v, want its error", err)
			}
			if _, ok := listed(t, plain, alice)[tok]; !ok {
				t.Errorf("UserRecords of alice after the failed move of the deadline does not list the record (its old deadline is still ahead)")
			}
		})
	}
}
