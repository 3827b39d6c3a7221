package redis_test

import (
	"context"
	"log"
	"net/http"
	"os"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/redis"
)

// The examples need a Redis server, so they are compiled but not run.

func ExampleNew() {
	rdb := goredis.NewClient(&goredis.Options{
		Addr:                  "localhost:6379",
		ContextTimeoutEnabled: true, // request deadlines bound every Redis call
	})
	defer rdb.Close()

	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{
			{"cookie_name": "session", "session_type": "redis", "store": redis.New(rdb, nil), "key_prefix": "myapp"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	http.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := m.Begin(w, r)
		if err := s.Set("user_id", 42); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := s.Commit(); err != nil { // before the body, so the cookie goes out
			http.Error(w, "could not save the session", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("welcome"))
	})
}

// Sessions configured as from a file: the driver builds the client from
// url, and closes it with the manager.
func Example_mapConfig() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		SecretKeys: [][]byte{[]byte(os.Getenv("SESSION_SECRET"))}, // at least 32 random bytes
		Sessions: []sessionplus.Options{
			{
				"cookie_name":    "session",
				"session_type":   "redis",
				"url":            "redis://localhost:6379/0",
				"key_prefix":     "myapp",
				"timeout":        "2s", // each Redis operation, even of a request with no deadline
				"session_fields": []string{"user_id", "roles"},
			},
			{"cookie_name": "prefs", "session_type": "secure_cookie", "session_fields": "auto"},
		},
	})
	if err != nil {
		log.Fatal(err) // a bad option, or no server at the url
	}
	defer m.Close()
}

// A Redis Cluster: several addrs make a cluster client. With master_name,
// the addrs are those of Sentinels instead.
func Example_cluster() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{
			"cookie_name":  "session",
			"session_type": "redis",
			"addrs":        []string{"redis-1:6379", "redis-2:6379", "redis-3:6379"},
			"password":     os.Getenv("REDIS_PASSWORD"),
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}
