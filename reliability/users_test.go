package reliability

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// userApp is an app whose server-side session is on kind, indexed by
// user_id (Config.UserField).
func userApp(t *testing.T, kind string) (*app, *backend, *inspector) {
	b := newBackend(t, kind, false)
	a := newApp(t, appConfig{server: b.driverOptions(t, tuning{}), userField: "user_id"})
	return a, b, b.inspect(t)
}

// hold returns the gate of a request in flight, and a release that the
// test calls to let it go on; the release also runs when the test ends
// early, so that a failed test does not leave the request hanging.
func hold(t *testing.T, a *app, name string) (*gate, func()) {
	g := a.gate(name)
	release := sync.OnceFunc(func() { close(g.release) })
	t.Cleanup(release)
	return g, release
}

// whoIs returns the user a browser's next request sees, "" for none.
func whoIs(t *testing.T, br *browser) string {
	t.Helper()
	r := br.do("GET", "/me", nil)
	if r.status != http.StatusOK {
		t.Fatalf("/me: %s", r)
	}
	u, _ := r.str("user")
	return u
}

// sessionsOf returns how many sessions UserSessions lists for user.
func sessionsOf(t *testing.T, a *app, user string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := a.m.UserSessions(ctx, user)
	if err != nil {
		t.Fatalf("UserSessions(%q): %v", user, err)
	}
	return len(list)
}

// TestRevokeUser: three browsers of user 42 and one of user 7; a request
// of 42's first browser is in flight (it read the session) while 42 is
// revoked, and writes after. UserSessions lists 3, RevokeUser returns 3,
// the three are logged out on their next request and their records are
// gone from the backend, the in-flight write brings nothing back, 7 stays
// logged in, and 42's index is empty.
func TestRevokeUser(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) {
			a, b, ins := userApp(t, kind)
			var b42 []*browser
			for range 3 {
				br := a.browser()
				br.login(t, "42")
				b42 = append(b42, br)
			}
			b7 := a.browser()
			b7.login(t, "7")
			if n := sessionsOf(t, a, "42"); n != 3 {
				t.Fatalf("UserSessions(42) lists %d sessions, want 3", n)
			}

			gate := "revoke-" + randomHex(6)
			done := make(chan reply, 1)
			go func() {
				done <- b42[0].doHeader("POST", "/naive", url.Values{"mode": {"set"}}, http.Header{"X-Gate": {gate}})
			}()
			g, release := hold(t, a, gate)
			if err := <-g.loaded; err != nil {
				t.Fatalf("the in-flight request's read: %v", err)
			}
			cookies := []string{b42[0].cookie(sessionCookie), b42[1].cookie(sessionCookie), b42[2].cookie(sessionCookie)}
			start := time.Now()
			n, err := a.m.RevokeUser(t.Context(), "42")
			took := time.Since(start)
			if n != 3 || err != nil {
				t.Errorf("RevokeUser(42) = %d, %v; want 3", n, err)
			}
			release()
			if r := <-done; r.status >= 500 {
				t.Errorf("the in-flight request answered %s", r)
			}

			loggedIn := 0
			for i, br := range b42 {
				if u := whoIs(t, br); u != "" {
					t.Errorf("browser %d of 42 is still logged in as %q after RevokeUser", i+1, u)
					loggedIn++
				}
			}
			left := 0
			for _, ck := range cookies {
				if ins != nil && stored(b, ins, ck) {
					left++
				}
			}
			if left != 0 {
				t.Errorf("%d records of the revoked sessions are still in the backend", left)
			}
			if u := whoIs(t, b7); u != "7" {
				t.Errorf("user 7's browser sees %q after RevokeUser(42), want 7", u)
			}
			listed42, listed7 := sessionsOf(t, a, "42"), sessionsOf(t, a, "7")
			if listed42 != 0 || listed7 != 1 {
				t.Errorf("after RevokeUser(42), UserSessions lists %d of 42 (want 0) and %d of 7 (want 1)", listed42, listed7)
			}
			report(t, "backend", kind, "listed", 3, "revoked", n, "still logged in", loggedIn, "records left", left,
				"listed after", listed42, "RevokeUser took", took.Round(10*time.Microsecond))
		})
	}
}

// TestRevokeRacingLogin: what RevokeUser guarantees about a login of the
// same user at the same time. A login saved before RevokeUser lists the
// user's sessions is ended; a login saved after it survives (a login after
// a password change is a new session). Either way the index and the
// records agree: UserSessions lists exactly the browsers that are logged
// in as the user. Shown by a deterministic interleaving (a login reads,
// RevokeUser runs, the login saves) and by 8 browsers logging in while
// RevokeUser runs in a loop.
func TestRevokeRacingLogin(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) {
			a, _, _ := userApp(t, kind)
			user := "race-" + randomHex(4)

			// A login in flight: it read the (empty) session, RevokeUser
			// runs, then the login saves. It survives and is listed.
			late := a.browser()
			gate := "login-" + randomHex(6)
			done := make(chan reply, 1)
			go func() {
				done <- late.doHeader("POST", "/naive", url.Values{"mode": {"login"}, "user": {user}}, http.Header{"X-Gate": {gate}})
			}()
			g, release := hold(t, a, gate)
			if err := <-g.loaded; err != nil {
				t.Fatalf("the login's read: %v", err)
			}
			if _, err := a.m.RevokeUser(t.Context(), user); err != nil {
				t.Fatalf("RevokeUser: %v", err)
			}
			release()
			if r := <-done; r.status != http.StatusOK {
				t.Fatalf("the login answered %s", r)
			}
			if who, n := whoIs(t, late), sessionsOf(t, a, user); who != user || n != 1 {
				t.Errorf("a login saved after RevokeUser: the browser sees %q and UserSessions lists %d; want %q and 1", who, n, user)
			}

			// Logins and revocations at once.
			const browsers, rounds = 8, 4
			all := []*browser{late}
			var mu sync.Mutex
			var wg sync.WaitGroup
			revoked, calls := 0, 0
			loginsDone := make(chan struct{})
			var revokeWG sync.WaitGroup
			revokeWG.Go(func() {
				// RevokeUser again and again for as long as logins run, so
				// that revocations overlap logins for the whole race.
				for {
					select {
					case <-loginsDone:
						return
					default:
					}
					calls++
					n, err := a.m.RevokeUser(context.Background(), user)
					if err != nil {
						t.Errorf("RevokeUser during logins: %v", err)
						return
					}
					mu.Lock()
					revoked += n
					mu.Unlock()
				}
			})
			for range browsers {
				wg.Go(func() {
					for range rounds {
						br := a.browser()
						if r := br.do("POST", "/login", url.Values{"user": {user}}); r.status != http.StatusOK {
							t.Errorf("login during RevokeUser: %s", r)
							return
						}
						mu.Lock()
						all = append(all, br)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			close(loginsDone)
			revokeWG.Wait()

			in := 0
			for _, br := range all {
				if whoIs(t, br) == user {
					in++
				}
			}
			listed := sessionsOf(t, a, user)
			if listed != in {
				t.Errorf("after logins raced RevokeUser: %d browsers are logged in but UserSessions lists %d: the index and the records disagree", in, listed)
			}
			n, err := a.m.RevokeUser(t.Context(), user)
			if err != nil || n != in {
				t.Errorf("the final RevokeUser = %d, %v; want %d", n, err, in)
			}
			still := 0
			for _, br := range all {
				if whoIs(t, br) != "" {
					still++
				}
			}
			if still != 0 || sessionsOf(t, a, user) != 0 {
				t.Errorf("after the final RevokeUser, %d browsers are logged in and %d sessions listed; want none", still, sessionsOf(t, a, user))
			}
			report(t, "backend", kind, "logins", 1+browsers*rounds, "RevokeUser calls while they ran", calls, "revoked while racing", revoked,
				"logged in after the race", in, "listed", listed, "logged in after the final RevokeUser", still)
		})
	}
}
