package memcache_test

import (
	"context"
	"log"

	gomemcache "github.com/bradfitz/gomemcache/memcache"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memcache"
)

// A store over two memcached servers, built in code and passed to the
// configuration as a live store. It needs the servers, so it only compiles
// here.
func ExampleNew() {
	mc := gomemcache.New("10.0.0.1:11211", "10.0.0.2:11211")
	st := memcache.New(mc, &memcache.Options{MaxItemSize: 2 << 20}) // servers started with memcached -I 2m

	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{"cookie_name": "session", "store": st}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// The driver selected by session_type, with the servers in the session's
// options, as a configuration file would give them. It needs the servers, so
// it only compiles here.
func Example_mapConfig() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions: []sessionplus.Options{{
			"cookie_name":  "session",
			"session_type": memcache.Name,
			"servers":      []any{"10.0.0.1:11211", "10.0.0.2:11211"},
			"timeout":      "250ms",
			"key_prefix":   "myapp",
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // closes the client the driver built
}
