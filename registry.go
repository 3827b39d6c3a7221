package sessionplus

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// Options is one session's entry of the configuration: the Go form of one
// entry of flask-session-plus's SESSION_CONFIG, such as
//
//	sessionplus.Options{"cookie_name": "session", "session_type": "redis", "client": rdb}
//
// The root package takes the common keys (cookie_*, session_*, key_prefix,
// use_signer, hash_ids, secret_keys) and hands a driver's Open the remaining,
// driver-specific keys in [DriverConfig.Options]. The caller's map is never
// modified.
type Options map[string]any

// DriverConfig is what the root package gives a driver's Open for one
// configured session: the session's driver-specific keys and what the
// root package settled for it.
type DriverConfig struct {
	// Options are the session's driver-specific keys: its entry of the
	// configuration without the common keys. Open must not modify the map.
	Options Options
	// Name is the name of the session's cookie. A client-side store binds
	// it into its MAC.
	Name string
	// SecretKeys are the session's secret keys, newest first, each at
	// least [MinSecretKeyLen] bytes; none when neither the middleware nor
	// the session configures any.
	SecretKeys [][]byte
	// Logger receives the driver's log records. The root package always
	// sets it; Open must take nil (a driver opened directly) as
	// [slog.Default].
	Logger *slog.Logger

	dry *dryRun // set for the dry Open that checks the options
}

// Driver opens stores of one session_type. A driver registers itself from
// its package's init:
//
//	func init() { sessionplus.Register(Name, Driver{}) }
type Driver interface {
	// Open returns a Store for one configured session. Open must decode
	// cfg.Options with [DriverConfig.Decode] before it contacts anything
	// and return its error as it is: Decode rejects unknown keys, wrong
	// types and (through the options' Validate method, see
	// [OptionsValidator]) every other mistake, with an error that names
	// the key. The root package adds the session's name and type to it.
	//
	// [New] first opens every driver "dry", to check the options of
	// every session before it contacts any backend; Decode ends that call
	// with an error. The dry call's context is already done, so that a
	// driver that decodes its options otherwise gives up before it dials;
	// a store Open returns from a dry call is closed.
	Open(ctx context.Context, cfg DriverConfig) (Store, error)
}

// Registry maps session_type names to drivers. The zero value is an empty
// registry ready to use; the package-level functions use [DefaultRegistry].
type Registry struct {
	mu      sync.RWMutex
	drivers map[string]Driver
}

// DefaultRegistry holds the drivers registered with [Register].
var DefaultRegistry = new(Registry)

// Register makes a driver available under the given session_type. It panics
// if driver is nil, sessionType is empty, or a driver was already registered
// under that name: these are programming errors.
func (r *Registry) Register(sessionType string, driver Driver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if driver == nil {
		panic("sessionplus: Register driver is nil")
	}
	if sessionType == "" {
		panic("sessionplus: Register called with an empty session_type")
	}
	if _, dup := r.drivers[sessionType]; dup {
		panic("sessionplus: Register called twice for driver " + quote(sessionType))
	}
	if r.drivers == nil {
		r.drivers = make(map[string]Driver)
	}
	r.drivers[sessionType] = driver
}

// Drivers returns the registered session_type names, sorted.
func (r *Registry) Drivers() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.drivers))
	for name := range r.drivers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the driver registered under sessionType. The error for an
// unknown name wraps [ErrUnknownDriver], lists the registered names, names
// the closest known one ("did you mean"), and, for a driver of this module
// that is not registered, the import that registers it.
func (r *Registry) Lookup(sessionType string) (Driver, error) {
	r.mu.RLock()
	d, ok := r.drivers[sessionType]
	r.mu.RUnlock()
	if ok {
		return d, nil
	}
	names := r.Drivers()
	registered := strings.Join(names, ", ")
	if registered == "" {
		registered = "none"
	}
	hint := ""
	if _, builtin := builtinDrivers[sessionType]; builtin {
		hint = " (forgotten " + driverImport(sessionType) + "?)"
	} else {
		candidates := slices.Clone(names)
		for name := range builtinDrivers {
			if !slices.Contains(candidates, name) {
				candidates = append(candidates, name)
			}
		}
		slices.Sort(candidates)
		if best := closest(sessionType, candidates); best != "" {
			hint = fmt.Sprintf(" (did you mean %q?", best)
			if !slices.Contains(names, best) {
				hint += " it needs " + driverImport(best)
			}
			hint += ")"
		}
	}
	return nil, fmt.Errorf("%w %q%s; registered: %s", ErrUnknownDriver, sessionType, hint, registered)
}

// Register makes a driver available in [DefaultRegistry]. See [Registry.Register].
func Register(sessionType string, driver Driver) { DefaultRegistry.Register(sessionType, driver) }

// Drivers returns the session_type names in [DefaultRegistry], sorted.
func Drivers() []string { return DefaultRegistry.Drivers() }

// builtinDrivers maps the session_type of each driver of this module to
// its folder under drivers/.
var builtinDrivers = map[string]string{
	"secure_cookie": "cookie",
	"redis":         "redis",
	"mongodb":       "mongo",
	"firestore":     "firestore",
	"memcache":      "memcache",
	"memory":        "memory",
	"postgres":      "postgres",
}

// driverImport returns the import that registers the built-in driver of
// sessionType.
func driverImport(sessionType string) string {
	return `import _ "github.com/sessionplus/sessionplus/drivers/` + builtinDrivers[sessionType] + `"`
}

// closest returns the candidate nearest to s, for a "did you mean" hint:
// the one at the smallest edit distance (a swap of two neighbours counts
// as one edit), if that distance is small for the length of s; "" if none
// is close.
func closest(s string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := editDistance(s, c)
		if d == 0 {
			continue
		}
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(1, min(len(s), len(best))/3) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of two neighbours.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
