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
// driver-specific keys, plus the keys of [Options.CookieName],
// [Options.SecretKeys] and [Options.Logger] that it sets for every driver.
// The caller's map is never modified.
type Options map[string]any

// Keys the root package sets in the Options it passes to Driver.Open.
// [DecodeOptions] does not report them as unknown.
const (
	optCookieName = "cookie_name"
	optSecretKeys = "secret_keys"
	optLogger     = "logger"
)

// CookieName returns the name of the session's cookie, which the root
// package sets for every driver (a client-side store binds it into its MAC).
func (o Options) CookieName() string {
	s, _ := o[optCookieName].(string)
	return s
}

// SecretKeys returns the session's secret keys, newest first, which the root
// package sets for every driver. Each is at least [MinSecretKeyLen] bytes.
func (o Options) SecretKeys() [][]byte {
	k, _ := o[optSecretKeys].([][]byte)
	return k
}

// Logger returns the logger configured for the sessions, never nil.
func (o Options) Logger() *slog.Logger {
	if l, ok := o[optLogger].(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// Driver opens stores of one session_type. A driver registers itself from
// its package's init:
//
//	func init() { sessionplus.Register(Name, Driver{}) }
type Driver interface {
	// Open returns a Store for one configured session. opts holds the
	// session's driver-specific keys; Open must reject unknown keys, wrong
	// types and missing required keys with an error that names the key
	// (DecodeOptions does all three). The root package adds the session's
	// name and type to the error.
	//
	// Open must call DecodeOptions before it contacts anything and return
	// its error: [New] first opens every driver "dry", with a context that
	// is already done, to learn its keys and check the options of every
	// session before it contacts any backend, and DecodeOptions ends that
	// call. A driver that decodes its options otherwise should return at
	// once when ctx is done; a store it returns from a dry call is closed.
	Open(ctx context.Context, opts Options) (Store, error)
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
