package firestore_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gfirestore "cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/firestore"
)

// rpcCounter counts the RPCs of a gRPC connection by method name: one per
// unary call (Commit) and one per stream opened (BatchGetDocuments,
// RunQuery). A call the Go client retries counts once per attempt.
type rpcCounter struct {
	mu    sync.Mutex
	calls []string
}

func (c *rpcCounter) add(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, method[strings.LastIndex(method, "/")+1:])
}

// take returns the RPCs counted since the last take.
func (c *rpcCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

func (c *rpcCounter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.add(method)
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (c *rpcCounter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c.add(method)
	return streamer(ctx, desc, cc, method, opts...)
}

// countingClient returns a client of the emulator whose every RPC cnt
// counts, closed when the test ends.
func countingClient(t *testing.T, cnt *rpcCounter) *gfirestore.Client {
	t.Helper()
	addr := drivertest.ServerFromEnv(t, "FIRESTORE_EMULATOR_HOST")
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}),
		grpc.WithUnaryInterceptor(cnt.unary),
		grpc.WithStreamInterceptor(cnt.stream))
	if err != nil {
		t.Fatal(err)
	}
	c, err := gfirestore.NewClient(context.Background(), projectID(), option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUserIndexRPCs counts the Firestore RPCs of each store operation on a
// record with a user and on one without, as the package documentation
// claims: the user index costs no RPC of its own. A Create with a user, a
// Write that sets the user (a login, a move to another user, a log-out),
// a Write that keeps it, a Touch, a Load and a Delete each make the same
// RPCs as without a user (and as many as Save documents: one Commit for a
// Create, one read and one Commit for a Write or a Touch), and
// UserRecords is one query that lists what those operations indexed.
func TestUserIndexRPCs(t *testing.T) {
	cnt := &rpcCounter{}
	c := countingClient(t, cnt)
	st, err := firestore.New(c, &firestore.Options{Collection: randomCollection()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	hour := time.Now().Add(time.Hour)
	save := func(u sessionplus.Update) func(tok string) error {
		return func(tok string) error { _, err := st.Save(ctx, tok, u); return err }
	}
	create := func(user string) sessionplus.Update {
		u := sessionplus.Update{Kind: sessionplus.Create, Set: vals("a", "1", "b", "2"), Expiry: hour, User: user}
		if user != "" {
			u.Set["\x00meta"] = []byte("m0") // as the root package sends with a user
		}
		return u
	}
	write := sessionplus.Update{Kind: sessionplus.Write, Set: vals("b", "3"), Del: []string{"a"}, Expiry: hour.Add(time.Minute)}
	setUser := func(user string) sessionplus.Update {
		u := write
		u.User, u.SetUser = user, true
		return u
	}
	touch := sessionplus.Update{Kind: sessionplus.Touch, Expiry: hour.Add(2 * time.Minute)}
	load := func(tok string) error { _, err := st.Load(ctx, tok); return err }
	del := func(tok string) error { return st.Delete(ctx, tok) }

	// side is one operation: on a record that setup creates (none if its
	// Kind is 0), on a fresh token.
	type side struct {
		setup sessionplus.Update
		op    func(tok string) error
	}
	cases := []struct {
		name        string
		want        []string // the RPCs of each side
		plain, user side
		indexed     string // the user whose index holds the user side's record after op; "" for none
	}{
		{"Create", []string{"Commit"},
			side{op: save(create(""))}, side{op: save(create("42"))}, "42"},
		{"Write without SetUser", []string{"BatchGetDocuments", "Commit"},
			side{create(""), save(write)}, side{create("42"), save(write)}, "42"},
		{"Write with SetUser, a login (none to 42)", []string{"BatchGetDocuments", "Commit"},
			side{create(""), save(write)}, side{create(""), save(setUser("42"))}, "42"},
		{"Write with SetUser, a move (42 to 43)", []string{"BatchGetDocuments", "Commit"},
			side{create(""), save(write)}, side{create("42"), save(setUser("43"))}, "43"},
		{`Write with SetUser "", a log-out (42 to none)`, []string{"BatchGetDocuments", "Commit"},
			side{create(""), save(write)}, side{create("42"), save(setUser(""))}, ""},
		{"Touch", []string{"BatchGetDocuments", "Commit"},
			side{create(""), save(touch)}, side{create("42"), save(touch)}, "42"},
		{"Load", []string{"BatchGetDocuments"},
			side{create(""), load}, side{create("42"), load}, "42"},
		{"Delete", []string{"Commit"},
			side{create(""), del}, side{create("42"), del}, ""},
	}
	indexed := map[string][]string{} // user: the tokens the cases left in its index
	for _, tc := range cases {
		var counts [2][]string
		for i, sd := range []side{tc.plain, tc.user} {
			tok := token()
			t.Cleanup(func() { st.Delete(context.Background(), tok) })
			if sd.setup.Kind != 0 {
				if err := save(sd.setup)(tok); err != nil {
					t.Fatalf("%s: setup: %v", tc.name, err)
				}
			}
			cnt.take()
			if err := sd.op(tok); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			counts[i] = cnt.take()
			if i == 1 && tc.indexed != "" {
				indexed[tc.indexed] = append(indexed[tc.indexed], tok)
			}
		}
		t.Logf("%s: without a user %d RPC(s) %v, with a user %d RPC(s) %v",
			tc.name, len(counts[0]), counts[0], len(counts[1]), counts[1])
		if !slices.Equal(counts[1], counts[0]) {
			t.Errorf("%s: with a user %d RPC(s) %v, without %d %v: the user index costs RPCs",
				tc.name, len(counts[1]), counts[1], len(counts[0]), counts[0])
		}
		if !slices.Equal(counts[0], tc.want) {
			t.Errorf("%s: %d RPC(s) %v, want %d %v", tc.name, len(counts[0]), counts[0], len(tc.want), tc.want)
		}
	}

	for _, user := range []string{"42", "43", "nobody"} {
		cnt.take()
		recs, err := st.UserRecords(ctx, user)
		if err != nil {
			t.Fatalf("UserRecords(%q): %v", user, err)
		}
		calls := cnt.take()
		t.Logf("UserRecords(%q), %d record(s): %d RPC(s) %v", user, len(recs), len(calls), calls)
		if !slices.Equal(calls, []string{"RunQuery"}) {
			t.Errorf("UserRecords(%q): %d RPC(s) %v, want 1 [RunQuery]", user, len(calls), calls)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.Token)
			if r.Record.Expiry.IsZero() || len(r.Record.Values) == 0 {
				t.Errorf("UserRecords(%q) lists %q with the record %+v, want its fields and expiry", user, r.Token, r.Record)
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(indexed[user]))
		if !slices.Equal(got, want) {
			t.Errorf("UserRecords(%q) lists %q, want %q", user, got, want)
		}
	}
}
