package reliability

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gfirestore "cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/firestore"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// The tests of this file each pin one defect the suite found, in the
// smallest setting that shows it every time; the fault tests show the same
// defects on the real servers, where they depend on timing.

// stallStore is a server-side store whose calls, once stalled, wait until
// their context ends: a backend that is down behind a client that retries
// until the deadline (go-redis dialing, mongo-driver selecting a server), or
// one that hangs.
type stallStore struct {
	*memory.Store
	stalled atomic.Bool
}

func (s *stallStore) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	if s.stalled.Load() {
		<-ctx.Done()
		return sessionplus.Record{}, ctx.Err()
	}
	return s.Store.Load(ctx, token)
}

func (s *stallStore) Save(ctx context.Context, token string, u sessionplus.Update) (string, error) {
	if s.stalled.Load() {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return s.Store.Save(ctx, token, u)
}

// TestKeepAliveOutageKeepsCookieOnlyRequests (a defect this suite found,
// fixed since): a request that touches only
// cookie-owned fields must keep working while the backend of the
// server-side session is down: the session is untouched, and a failed
// keep-alive is meant to be only logged (commit.go, Part.commitServer).
// But the keep-alive, due once a tenth of the lifetime has passed, runs
// with the request's context and waits for the backend until the request's
// deadline; the secure_cookie session saved after it (commit.go,
// Session.saveLocked commits the parts in config order) then fails on the
// expired context (drivers/cookie Store.Save returns ctx.Err()), and the
// request gets a 503 instead of a 200.
func TestKeepAliveOutageKeepsCookieOnlyRequests(t *testing.T) {
	st := &stallStore{Store: memory.New()}
	a := newApp(t, appConfig{
		server:   sessionplus.Options{"session_type": "memory", "store": st, "session_lifetime": "2s"}, // keep-alive every 200ms
		deadline: 300 * time.Millisecond,
	})
	br := a.browser()
	br.login(t, "kept-"+randomHex(4))
	time.Sleep(250 * time.Millisecond) // the keep-alive is due
	st.stalled.Store(true)
	defer st.stalled.Store(false)

	r := br.do("POST", "/prefs", url.Values{"theme": {"dark"}})
	if r.status != http.StatusOK {
		t.Errorf("POST /prefs (the data cookie only) while the server-side backend is down and its keep-alive is due: %s after %v; want 200: "+
			"the keep-alive used up the request's deadline and the secure_cookie save then failed on the expired context",
			r, r.elapsed().Round(time.Millisecond))
	}
}

// TestFirestoreWriteFailureWithinDeadline: the firestore Store must return
// by its context's deadline (the Store contract; the request's deadline is
// what cuts off a backend that is gone). A field-level write of a document
// that expires within a minute used to run in RunTransaction, and when
// Firestore became unreachable after the transaction began, the Go client
// rolled it back with a detached context and a timeout of its own of 5 s:
// Save returned about 5 s after its deadline. The driver now decides from a
// read and writes with preconditions; here Firestore becomes unreachable
// right after that read.
func TestFirestoreWriteFailureWithinDeadline(t *testing.T) {
	in := need(t, "firestore")
	// Firestore "goes down" right after the store's read: every call after
	// it fails with Unavailable, as when the server is killed at that
	// moment.
	var begun, down atomic.Bool
	unavailable := status.Error(codes.Unavailable, "connection refused (injected)")
	conn, err := grpc.NewClient(in.addrs()[0],
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(emulatorCreds{}),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if down.Load() {
				return unavailable
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if down.Load() {
				return nil, unavailable
			}
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if begun.Load() && strings.HasSuffix(method, "/BatchGetDocuments") && err == nil {
				down.Store(true) // after the read: the write then fails
			}
			return cs, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client, err := gfirestore.NewClient(context.Background(), "sessionplus-reliability", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	st, err := firestore.New(client, &firestore.Options{Collection: "rel" + randomHex(5)})
	if err != nil {
		t.Fatal(err)
	}
	token := "rel:" + strings.Repeat("t", 43)
	ctx := context.Background()
	if _, err := st.Save(ctx, token, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: time.Now().Add(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}

	begun.Store(true)
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	t0 := time.Now()
	_, err = st.Save(ctx, token, sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"b": []byte("2")}, Expiry: time.Now().Add(30 * time.Second)})
	el := time.Since(t0)
	if err == nil {
		t.Fatal("the field-level Save succeeded although Firestore was unreachable")
	}
	if !down.Load() {
		t.Fatal("the store did not read the document: the fault was not injected")
	}
	if el > deadline+time.Second {
		t.Errorf("the field-level Save returned %v after it began, with a context deadline of %v: "+
			"the store outlives the caller's deadline (error: %v)", el.Round(time.Millisecond), deadline, err)
	}
}
