package mongo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sessionplus/sessionplus"
)

// TestUserIndexCommands: the user is the document's field "user", written
// by the save's one command (a login is one command, as a save without a
// user is), and removed by a log-out's; UserRecords is one find on it;
// CreateIndexes made the index on user.
func TestUserIndexCommands(t *testing.T) {
	rec := &recorder{}
	c := connect(t, options.Client().SetMonitor(rec.monitor()))
	coll := newCollection(t, c)
	st := newStore(t, coll)
	ctx := t.Context()
	tok := randomName("users:")
	user := randomName("user-")
	set := map[string][]byte{"user_id": []byte(`"42"`), "\x00meta": []byte("st0")}

	var err error
	save := func(what string, u sessionplus.Update) {
		t.Helper()
		cmds := rec.during(func() { _, err = st.Save(ctx, tok, u) })
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		oneStatement(t, what, cmds, "update", "updates")
	}
	save("a login (Create with a user)", sessionplus.Update{Kind: sessionplus.Create, Set: set, Expiry: time.Now().Add(time.Hour), User: user})
	if got, _ := rawDoc(t, coll, tok).Lookup("user").StringValueOK(); got != user {
		t.Errorf("the document's user field is %q, want %q", got, user)
	}
	save("a Touch", sessionplus.Update{Kind: sessionplus.Touch, Expiry: time.Now().Add(2 * time.Hour)})
	var recs []sessionplus.UserRecord
	cmds := rec.during(func() { recs, err = st.UserRecords(ctx, user) })
	if err != nil || len(recs) != 1 || recs[0].Token != tok {
		t.Fatalf("UserRecords = %v, %v; want the one record", recs, err)
	}
	if len(cmds) != 1 || keysOf(t, cmds[0])[0] != "find" {
		t.Errorf("UserRecords sent %d commands (%v), want one find", len(cmds), cmds)
	}
	save("a log-out (Write with SetUser and no user)", sessionplus.Update{Kind: sessionplus.Write, Expiry: time.Now().Add(time.Hour), SetUser: true})
	if v := rawDoc(t, coll, tok).Lookup("user"); v.Type != 0 {
		t.Errorf("after a log-out the document still has user = %v", v)
	}

	if err := st.CreateIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Indexes().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var specs []bson.M
	if err := cur.All(context.Background(), &specs); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s["name"].(string))
	}
	if !slices.Contains(names, "user_1") {
		t.Errorf("the collection's indexes are %v, want user_1 (made by CreateIndexes)", names)
	}
}
