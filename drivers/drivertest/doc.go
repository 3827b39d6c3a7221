// Package drivertest is the conformance suite of [sessionplus.Store]: every
// driver, built-in or custom, runs it to show that it keeps the contract the
// root package relies on.
//
// A driver's test supplies a [Harness], which makes stores of the driver
// under test, and calls [RunConformanceTests] from one test function. The
// suite runs each case as a subtest with a fresh harness:
//
//	type harness struct{ client *myclient.Client }
//
//	func (h *harness) MakeStore(ctx context.Context) (sessionplus.Store, error) {
//		return mystore.New(h.client, nil), nil
//	}
//	func (h *harness) Stateless() bool { return false }
//	func (h *harness) Close()          { h.client.Close() }
//
//	func TestConformance(t *testing.T) {
//		addr := os.Getenv("MYSTORE_ADDR")
//		if addr == "" {
//			t.Skip("MYSTORE_ADDR not set: no server to test against")
//		}
//		drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
//			client, err := myclient.Dial(ctx, addr)
//			if err != nil {
//				return nil, err
//			}
//			return &harness{client: client}, nil
//		})
//	}
//
// The cases cover what the root package depends on, and send the store
// exactly what the root package sends (see [sessionplus.Update]): a round
// trip of binary values and of the expiry (to the second), the three kinds
// [sessionplus.Create], [sessionplus.Write] and [sessionplus.Touch], large
// values, many fields, odd field names and odd tokens,
// [sessionplus.ErrNotFound] for unknown, expired and deleted records, for a
// Write or Touch of a record that is gone and for a Delete of one, a
// deterministic interleaving of a log-out with a request in flight (A
// reads, B deletes, A writes: the record must stay gone), and concurrent
// use. A store that passes needs no other tests of these semantics; its own
// tests cover only its options and what is specific to its backend.
//
// A store that implements [sessionplus.UserIndex] also runs the UserIndex
// cases: a record is listed under the user of its Create, kept there by a
// Write without SetUser and by a Touch, moved or un-indexed by a Write with
// SetUser, and gone from the index after a Delete, a replacing Create or its
// expiry; a Write with SetUser of a record that is gone indexes nothing;
// user keys that are prefixes of each other or hold odd characters stay
// apart; 16 concurrent logins of one user are all listed. Through a Manager
// with a UserField, three browsers of one user are revoked by RevokeUser,
// also a request of theirs in flight, while another user's stays; and
// RevokeSession and RevokeOthers end exactly the sessions they name. For a
// store without the interface these cases are skipped.
//
// Tokens are random ("drivertest:" and random hex, among other shapes), so
// runs against a shared server never collide, and every record a case
// writes to a server-side store is deleted when the case ends. The case of
// a record expiring on its own polls for up to two seconds; it is skipped
// under go test -short.
//
// A stateless (client-side) store, such as the secure_cookie one, keeps the
// record in the value Save returns. For it the suite loads that value rather
// than the token it saved under, saves only with [sessionplus.Create], keeps the
// records within a cookie's size, and does not expect Delete to revoke a
// record. A harness whose store implements [sessionplus.ClientSide] must
// report the same answer from Stateless.
package drivertest
