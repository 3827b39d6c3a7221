package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	gfirestore "cloud.google.com/go/firestore"
	"github.com/alicebob/miniredis/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sessionplus/sessionplus"

	// Drivers register themselves by session_type when imported, the way
	// database/sql drivers do. A backend added to backends below needs its
	// driver imported here.
	_ "github.com/sessionplus/sessionplus/drivers/cookie"    // "secure_cookie": the csrf and data sessions
	_ "github.com/sessionplus/sessionplus/drivers/firestore" // "firestore"
	_ "github.com/sessionplus/sessionplus/drivers/memcache"  // "memcache"
	_ "github.com/sessionplus/sessionplus/drivers/memory"    // "memory"
	_ "github.com/sessionplus/sessionplus/drivers/mongo"     // "mongodb"
	_ "github.com/sessionplus/sessionplus/drivers/postgres"  // "postgres"
	_ "github.com/sessionplus/sessionplus/drivers/redis"     // "redis": the server-side session, by default
)

// This file is the one place where the backend of the server-side session
// ("session", owning user_id and user_data) is chosen, by the -backend and
// -backend-url flags. The other two sessions are secure cookies whatever the
// flags say. To add a backend, import its driver above and add an entry to
// backends; nothing else in the app changes, because the choice ends as a
// plain sessionplus.Options map, the same form a configuration file would
// have.

// defaultBackend is the -backend value when the flag is not given: Redis,
// on an embedded miniredis unless an address is given, so that the real
// redis driver runs with no server installed.
const defaultBackend = "redis"

// Environment variables that locate a backend's server when -backend-url
// is not given: the ones the drivers' tests and ./scripts/test use.
const (
	redisURLEnv         = "SESSIONPLUS_REDIS_URL"
	mongoURLEnv         = "SESSIONPLUS_MONGODB_URL"
	postgresURLEnv      = "SESSIONPLUS_POSTGRES_URL"
	memcacheAddrsEnv    = "SESSIONPLUS_MEMCACHE_ADDRS"
	firestoreProjectEnv = "SESSIONPLUS_FIRESTORE_PROJECT"
	firestoreEmuEnv     = "FIRESTORE_EMULATOR_HOST" // read by the Firestore client itself
	googleProjectEnv    = "GOOGLE_CLOUD_PROJECT"
)

// Names that the example's server-side session uses in the backends that
// have them.
const (
	mongoDB            = "sessionplus_example"
	sessionsCollection = "sessions"
	emulatorProjectID  = "demo-sessionplus-example" // any id works on the emulator
)

// firestoreProbeLimit bounds the startup check of Firestore: its client
// retries an unreachable server until the deadline.
var firestoreProbeLimit = 10 * time.Second

// backend is one value of the -backend flag.
type backend struct {
	// about says what the backend is and where -backend-url points, for
	// -help.
	about string

	// open returns the server-side session's backend. addr is the
	// -backend-url value ("" when not given); getenv reads the environment
	// variables that stand in for it (it returns "" for every name when
	// the app was given no environment). ctx bounds open itself.
	open func(ctx context.Context, addr string, getenv func(string) string) (*serverBackend, error)
}

// serverBackend is the opened backend of the server-side session.
type serverBackend struct {
	// options holds the driver's part of the session's options: its
	// session_type and the driver's own keys ("url", "servers", ...). The
	// app adds cookie_name and session_fields.
	options sessionplus.Options

	// where says where the sessions are kept, for the startup log and the
	// "where is my data" page. It holds no password.
	where string

	// close, when not nil, releases what open started (the embedded
	// miniredis). It is called after the sessions' Manager has closed the
	// stores the drivers opened.
	close func() error
}

// release calls b.close, if any.
func (b *serverBackend) release() error {
	if b == nil || b.close == nil {
		return nil
	}
	return b.close()
}

// backends holds every value that -backend accepts.
var backends = map[string]backend{
	"redis": {
		about: "Redis (drivers/redis). -backend-url: redis://[user:password@]host:port[/db], or " + redisURLEnv +
			"; with neither, an embedded miniredis in this process (sessions end when the app stops)",
		open: openRedis,
	},
	"memcache": {
		about: "memcached (drivers/memcache). -backend-url: host:port[,host:port...], or " + memcacheAddrsEnv,
		open: func(_ context.Context, addr string, getenv func(string) string) (*serverBackend, error) {
			addr = cmp.Or(addr, getenv(memcacheAddrsEnv))
			if addr == "" {
				return nil, needAddress("the memcached servers", "host:port[,host:port...]", memcacheAddrsEnv)
			}
			servers := strings.Split(addr, ",")
			for i := range servers {
				servers[i] = strings.TrimSpace(servers[i])
			}
			return &serverBackend{
				options: sessionplus.Options{"session_type": "memcache", "servers": servers},
				where:   "memcached at " + strings.Join(servers, ", "),
			}, nil
		},
	},
	"mongodb": {
		about: "MongoDB (drivers/mongo), database " + mongoDB + ", collection " + sessionsCollection +
			". -backend-url: mongodb://host:port/..., or " + mongoURLEnv,
		open: func(_ context.Context, addr string, getenv func(string) string) (*serverBackend, error) {
			addr = cmp.Or(addr, getenv(mongoURLEnv))
			if addr == "" {
				return nil, needAddress("a server", "mongodb://host:port/...", mongoURLEnv)
			}
			return &serverBackend{
				options: sessionplus.Options{"session_type": "mongodb", "url": addr, "db": mongoDB, "collection": sessionsCollection},
				where:   fmt.Sprintf("MongoDB at %s, collection %s.%s", redactURL(addr), mongoDB, sessionsCollection),
			}, nil
		},
	},
	"postgres": {
		about: "PostgreSQL (drivers/postgres), table " + sessionsCollection + " (created if missing)" +
			". -backend-url: postgres://user[:password]@host:port/db, or " + postgresURLEnv,
		open: func(_ context.Context, addr string, getenv func(string) string) (*serverBackend, error) {
			addr = cmp.Or(addr, getenv(postgresURLEnv))
			if addr == "" {
				return nil, needAddress("a server", "postgres://user@host:port/db", postgresURLEnv)
			}
			return &serverBackend{
				options: sessionplus.Options{"session_type": "postgres", "url": addr, "table": sessionsCollection},
				where:   fmt.Sprintf("PostgreSQL at %s, table %s", redactURL(addr), sessionsCollection),
			}, nil
		},
	},
	"firestore": {
		about: "Google Cloud Firestore (drivers/firestore), collection " + sessionsCollection +
			". -backend-url: the project id, or " + firestoreProjectEnv + " or " + googleProjectEnv +
			"; " + firestoreEmuEnv + " selects the emulator",
		open: openFirestore,
	},
	"memory": {
		about: "in-process store (drivers/memory): needs no server; sessions end when the app stops",
		open: func(_ context.Context, addr string, _ func(string) string) (*serverBackend, error) {
			if addr != "" {
				return nil, errors.New("takes no -backend-url: it keeps the sessions in this process")
			}
			return &serverBackend{options: sessionplus.Options{"session_type": "memory"}, where: "this process's memory"}, nil
		},
	},
}

// openRedis is the redis backend: the server at addr (or the environment),
// or else an embedded miniredis. Either way the session is configured by
// "url", so the driver builds, pings and later closes its own client.
func openRedis(_ context.Context, addr string, getenv func(string) string) (*serverBackend, error) {
	if addr = cmp.Or(addr, getenv(redisURLEnv)); addr != "" {
		return &serverBackend{
			options: sessionplus.Options{"session_type": "redis", "url": addr},
			where:   "Redis at " + redactURL(addr),
		}, nil
	}
	mr := miniredis.NewMiniRedis()
	// Expire keys by the wall clock, as Redis does; by default miniredis,
	// made for unit tests, only expires them when told to.
	mr.ClockTTL(true)
	if err := mr.Start(); err != nil { // 127.0.0.1, a free port
		return nil, fmt.Errorf("starting the embedded miniredis: %w", err)
	}
	return &serverBackend{
		options: sessionplus.Options{"session_type": "redis", "url": "redis://" + mr.Addr() + "/0"},
		where:   "embedded miniredis at " + mr.Addr() + ", in this process (no Redis server needed; sessions end when the app stops)",
		close:   func() error { mr.Close(); return nil },
	}, nil
}

// openFirestore is the firestore backend. Its driver connects lazily, so
// the project is probed here once: an unreachable Firestore (or emulator)
// fails at startup instead of at the first request.
func openFirestore(ctx context.Context, addr string, getenv func(string) string) (*serverBackend, error) {
	emulator := getenv(firestoreEmuEnv)
	project := cmp.Or(addr, getenv(firestoreProjectEnv), getenv(googleProjectEnv))
	if project == "" && emulator != "" {
		project = emulatorProjectID
	}
	if project == "" {
		return nil, fmt.Errorf("%s (or set %s to use the emulator)",
			needAddress("a Google Cloud project", "PROJECT_ID", firestoreProjectEnv+" or "+googleProjectEnv), firestoreEmuEnv)
	}
	where := fmt.Sprintf("Firestore project %s, collection %s", project, sessionsCollection)
	if emulator != "" {
		where += ", on the emulator at " + emulator
	}
	if err := probeFirestore(ctx, project); err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", where, err)
	}
	return &serverBackend{
		options: sessionplus.Options{"session_type": "firestore", "project_id": project, "collection": sessionsCollection},
		where:   where,
	}, nil
}

// probeFirestore reads one document that does not exist, with a client of
// its own that it closes: "not found" means Firestore answers.
func probeFirestore(ctx context.Context, project string) error {
	client, err := gfirestore.NewClient(ctx, project)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, firestoreProbeLimit)
	defer cancel()
	_, err = client.Collection(sessionsCollection).Doc("sessionplus-example-probe").Get(ctx)
	switch {
	case err == nil || status.Code(err) == codes.NotFound:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("no answer within %s: %w", firestoreProbeLimit, err)
	}
	return err
}

// needAddress is the error of a backend given no address: it needs what,
// given as -backend-url form or by the environment variable env.
func needAddress(what, form, env string) error {
	return fmt.Errorf("needs %s: -backend-url %s, or %s", what, form, env)
}

// redisLogger sends what go-redis logs, such as failed dials of its
// connection pool, to the app's logger at debug level: the request or the
// startup that failed reports the same error in its own words.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// redactURL returns rawURL with its password, if any, replaced by "xxxxx".
func redactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	// Not a URL that net/url parses (a mongodb:// URL with several hosts
	// may not be): leave out the user info, whatever it holds.
	if scheme, rest, ok := strings.Cut(rawURL, "://"); ok {
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			return scheme + "://xxxxx@" + rest[i+1:]
		}
	}
	return rawURL
}

// backendNames returns the values -backend accepts, sorted.
func backendNames() []string {
	return slices.Sorted(maps.Keys(backends))
}

// openServerBackend opens the backend of the server-side session that cfg
// names.
func openServerBackend(ctx context.Context, cfg appConfig) (*serverBackend, error) {
	b, ok := backends[cfg.Backend]
	if !ok {
		return nil, fmt.Errorf("unknown -backend %q; available: %s", cfg.Backend, strings.Join(backendNames(), ", "))
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	sb, err := b.open(ctx, cfg.BackendURL, getenv)
	if err != nil {
		return nil, fmt.Errorf("-backend %s: %w", cfg.Backend, err)
	}
	return sb, nil
}
