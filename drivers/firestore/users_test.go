package firestore_test

import (
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
)

// TestUserField: the user is the document's own field "user", set by a
// login's write and deleted by a log-out's; a session field named "user"
// stays in data and is never taken for it; a user key that is not valid
// UTF-8 or too long for a query is stored as its digest and still found.
func TestUserField(t *testing.T) {
	c := newClient(t)
	st, coll := newStore(t, c)
	ctx := t.Context()
	tok := token()
	set := vals("user", "not-the-index", "\x00meta", "st0")
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: set, Expiry: time.Now().Add(time.Hour), User: "alice"}); err != nil {
		t.Fatal(err)
	}
	doc := rawDoc(t, c, coll, tok)
	if doc["user"] != "alice" {
		t.Errorf("the document's user field is %v, want alice", doc["user"])
	}
	if data, _ := doc["data"].(map[string]any); string(data["user"].([]byte)) != "not-the-index" {
		t.Errorf("the session field user in data is %v, want its own value", data["user"])
	}
	for user, want := range map[string]int{"alice": 1, "not-the-index": 0} {
		if recs, err := st.UserRecords(ctx, user); err != nil || len(recs) != want {
			t.Errorf("UserRecords(%q) = %d records, %v; want %d", user, len(recs), err, want)
		} else if want == 1 && recs[0].Token != tok {
			t.Errorf("UserRecords(alice) lists the token %q, want %q", recs[0].Token, tok)
		}
	}
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Expiry: time.Now().Add(time.Hour), SetUser: true}); err != nil {
		t.Fatal(err)
	}
	if v, ok := rawDoc(t, c, coll, tok)["user"]; ok {
		t.Errorf("after a log-out the document still has user = %v", v)
	}

	odd := "bad-\xff-utf8"
	tok2 := token()
	if _, err := st.Save(ctx, tok2, sessionplus.Update{Kind: sessionplus.Create, Set: set, Expiry: time.Now().Add(time.Hour), User: odd}); err != nil {
		t.Fatal(err)
	}
	if recs, err := st.UserRecords(ctx, odd); err != nil || len(recs) != 1 || recs[0].Token != tok2 {
		t.Errorf("UserRecords of a user key that is not UTF-8 = %v, %v; want the one record", recs, err)
	}
}
