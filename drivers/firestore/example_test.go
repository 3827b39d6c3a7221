package firestore_test

import (
	"context"
	"log"
	"net/http"

	gfirestore "cloud.google.com/go/firestore"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/firestore"
)

// The example needs a Firestore project, or the emulator named by
// FIRESTORE_EMULATOR_HOST, so it is only compiled.
func ExampleNew() {
	ctx := context.Background()
	client, err := gfirestore.NewClient(ctx, "my-project")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close() // the store never closes a client it was given

	st, err := firestore.New(client, &firestore.Options{Collection: "sessions"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := sessionplus.New(ctx, sessionplus.Config{Sessions: []sessionplus.Options{
		{"cookie_name": "session", "store": st},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// A configuration that could come from a JSON or YAML file: the store
// builds its client from project_id, and Manager.Close closes it.
func Example_mapConfig() {
	ctx := context.Background()
	m, err := sessionplus.New(ctx, sessionplus.Config{
		SecretKeys: [][]byte{[]byte("a secret of at least 32 bytes, from your config")},
		Sessions: []sessionplus.Options{
			{
				"cookie_name":    "csrf",
				"session_type":   "secure_cookie",
				"session_fields": []string{"csrf_token"},
			},
			{
				"cookie_name":      "session",
				"session_type":     "firestore",
				"session_fields":   []string{"user_id", "user_data"},
				"project_id":       "my-project",
				"collection":       "sessions",
				"session_lifetime": "12h",
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := m.Begin(w, r)
		if err := s.Set("user_id", 42); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := s.Commit(); err != nil {
			http.Error(w, "session not saved", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("hello"))
	})
}
