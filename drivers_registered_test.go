package sessionplus_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/firestore"
	"github.com/sessionplus/sessionplus/drivers/memcache"
	"github.com/sessionplus/sessionplus/drivers/memory"
	"github.com/sessionplus/sessionplus/drivers/mongo"
	"github.com/sessionplus/sessionplus/drivers/postgres"
	"github.com/sessionplus/sessionplus/drivers/redis"
)

// TestBuiltinDriversRegistered: importing a built-in driver registers it
// under its documented session_type, as its own Driver. One test for all
// of them (each driver's package had a copy before).
func TestBuiltinDriversRegistered(t *testing.T) {
	for name, want := range map[string]sessionplus.Driver{
		"secure_cookie": cookie.Driver{},
		"firestore":     firestore.Driver{},
		"memcache":      memcache.Driver{},
		"memory":        memory.Driver{},
		"mongodb":       mongo.Driver{},
		"postgres":      postgres.Driver{},
		"redis":         redis.Driver{},
	} {
		if !slices.Contains(sessionplus.Drivers(), name) {
			t.Errorf("Drivers() = %v: %q is missing", sessionplus.Drivers(), name)
		}
		d, err := sessionplus.DefaultRegistry.Lookup(name)
		if err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
			continue
		}
		if reflect.TypeOf(d) != reflect.TypeOf(want) {
			t.Errorf("Lookup(%q) = %T, want %T", name, d, want)
		}
	}
	for _, n := range []string{cookie.Name, firestore.Name, memcache.Name, memory.Name, mongo.Name, postgres.Name, redis.Name} {
		if _, err := sessionplus.DefaultRegistry.Lookup(n); err != nil {
			t.Errorf("the package constant Name %q is not registered: %v", n, err)
		}
	}
}
