// Package app is the application every contender of the benchmark suite
// runs: one Echo v4 app with the same routes and the same handlers, in which
// only the session middleware differs. The in-process benchmarks serve it
// through httptest; cmd/benchapp serves it on a loopback port.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/sessions"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	echosession "github.com/labstack/echo-contrib/session"
	"github.com/labstack/echo/v4"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"   // session_type "secure_cookie"
	_ "github.com/sessionplus/sessionplus/drivers/postgres" // session_type "postgres"
	_ "github.com/sessionplus/sessionplus/drivers/redis"    // session_type "redis"
	"github.com/sessionplus/sessionplus/multisession"
)

// Contenders are the session middlewares compared, in report order. bare
// has no session at all: it is the floor every figure is divided by.
// The order puts each pair a target compares next to each other, so that
// they run one right after the other.
var Contenders = []string{
	"bare",
	"gorilla-cookie",
	"sessionplus-cookie",
	"scs-mem",
	"scs-redis",
	"sessionplus-redis",
	"sessionplus-seed",
	"scs-postgres",
	"sessionplus-postgres",
}

// NeedsRedis reports whether contender needs a Redis server.
func NeedsRedis(contender string) bool {
	return strings.HasSuffix(contender, "-redis") || contender == "sessionplus-seed"
}

// NeedsPostgres reports whether contender needs a PostgreSQL server.
func NeedsPostgres(contender string) bool {
	return strings.HasSuffix(contender, "-postgres")
}

// Scenarios are the requests measured. ScenarioNew runs without a cookie; the
// others carry the cookies that one ScenarioNew request returned.
const (
	ScenarioRead           = "read"             // read one string field (user_data)
	ScenarioWrite          = "write"            // increment an int counter
	ScenarioNew            = "new"              // set csrf_token, user_id and user_data
	ScenarioReadCookieOnly = "read-cookie-only" // read only csrf_token
)

// Scenarios lists the scenarios in the order they run: read-cookie-only
// right after read, which its target compares it with.
var Scenarios = []string{ScenarioRead, ScenarioReadCookieOnly, ScenarioWrite, ScenarioNew}

// HasScenario reports whether contender is measured in scenario:
// read-cookie-only is the seed's (and bare, its floor).
func HasScenario(contender, scenario string) bool {
	if scenario == ScenarioReadCookieOnly {
		return contender == "bare" || contender == "sessionplus-seed"
	}
	return true
}

// Route returns the method and path of a scenario.
func Route(scenario string) (method, path string) {
	switch scenario {
	case ScenarioWrite, ScenarioNew:
		return http.MethodPost, "/" + scenario
	}
	return http.MethodGet, "/" + scenario
}

// The values the new scenario stores.
var (
	CSRFToken = "0123456789abcdef0123456789abcdef"         // 32 characters
	UserData  = strings.Repeat("user data of twenty ", 10) // 200 bytes
	UserID    = 4242
)

// errNoData is the answer to a read that found nothing: the benchmarks
// check for 200, so a contender that lost its session cannot look fast.
var errNoData = echo.NewHTTPError(http.StatusNotFound, "the session holds no such field")

// Options configures New.
type Options struct {
	// RedisURL is the redis:// URL of the server of the Redis contenders.
	RedisURL string
	// PostgresURL is the postgres:// URL of the PostgreSQL contenders'
	// server.
	PostgresURL string
	// RoundTrips, when set, counts the Redis round trips of the Redis
	// contenders (go-redis for sessionplus, redigo for scs).
	RoundTrips *RoundTrips
}

// App is one contender's Echo application.
type App struct {
	Echo    *echo.Echo
	closers []func() error
}

// Close releases what New opened (Redis clients, session managers).
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

// Secret keys of the cookie contenders: 32 bytes each, as the issue asks.
var (
	hashKey   = []byte("bench hash key, thirty-two bytes")
	blockKey  = []byte("bench block key, 32 bytes long!!")
	secretKey = []byte("bench secret key of 32 bytes....")
)

// lifetime is every contender's session lifetime.
const lifetime = 24 * time.Hour

// New builds the app of contender.
func New(ctx context.Context, contender string, o Options) (*App, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	a := &App{Echo: e}

	if NeedsRedis(contender) && o.RedisURL == "" {
		return nil, fmt.Errorf("contender %s needs a Redis URL (SESSIONPLUS_REDIS_URL)", contender)
	}
	if NeedsPostgres(contender) && o.PostgresURL == "" {
		return nil, fmt.Errorf("contender %s needs a PostgreSQL URL (SESSIONPLUS_POSTGRES_URL)", contender)
	}
	var s sessionAPI
	switch contender {
	case "bare":
		s = bare{}

	case "gorilla-cookie":
		store := sessions.NewCookieStore(hashKey, blockKey) // HMAC-SHA256 and AES-256
		store.Options = &sessions.Options{Path: "/", MaxAge: int(lifetime / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode}
		store.MaxAge(store.Options.MaxAge)
		e.Use(echosession.Middleware(store))
		s = gorilla{}

	case "scs-mem", "scs-redis":
		sm := scs.New()
		sm.Lifetime = lifetime
		sm.ErrorFunc = func(w http.ResponseWriter, _ *http.Request, _ error) {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}
		if contender == "scs-mem" {
			ms := memstore.New()
			sm.Store = ms
			a.closers = append(a.closers, func() error { ms.StopCleanup(); return nil })
		} else {
			pool := &redis.Pool{
				MaxIdle:     16,
				IdleTimeout: 4 * time.Minute,
				Dial: func() (redis.Conn, error) {
					c, err := redis.DialURL(o.RedisURL, redis.DialConnectTimeout(5*time.Second),
						redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
					if err != nil || o.RoundTrips == nil {
						return c, err
					}
					return &countingConn{Conn: c, rt: o.RoundTrips}, nil
				},
			}
			conn := pool.Get()
			_, err := conn.Do("PING")
			conn.Close()
			if err != nil {
				pool.Close()
				return nil, fmt.Errorf("scs-redis: %w", err)
			}
			sm.Store = redisstore.NewWithPrefix(pool, "bench-scs:")
			a.closers = append(a.closers, pool.Close)
		}
		e.Use(echo.WrapMiddleware(sm.LoadAndSave))
		s = scsAPI{sm}

	case "scs-postgres":
		pool, err := postgresPool(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", contender, err)
		}
		a.closers = append(a.closers, func() error { pool.Close(); return nil })
		// scs's schema, from its postgresstore README.
		if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_scs_sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL);
			CREATE INDEX IF NOT EXISTS bench_scs_sessions_expiry_idx ON bench_scs_sessions (expiry)`); err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: %w", contender, err)
		}
		db := stdlib.OpenDBFromPool(pool)
		a.closers = append(a.closers, db.Close)
		sm := scs.New()
		sm.Lifetime = lifetime
		sm.ErrorFunc = func(w http.ResponseWriter, _ *http.Request, _ error) {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}
		sm.Store = postgresstore.NewWithConfig(db, postgresstore.Config{TableName: "bench_scs_sessions"})
		e.Use(echo.WrapMiddleware(sm.LoadAndSave))
		s = scsAPI{sm}

	case "sessionplus-postgres":
		pool, err := postgresPool(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", contender, err)
		}
		a.closers = append(a.closers, func() error { pool.Close(); return nil })
		m, err := sessionplus.New(ctx, sessionplus.Config{SecretKeys: [][]byte{secretKey}, Sessions: []sessionplus.Options{
			{"cookie_name": "session", "session_type": "postgres", "client": pool, "table": "bench_sp_sessions", "key_prefix": "bench-sp"},
		}})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: %w", contender, err)
		}
		a.closers = append(a.closers, m.Close)
		e.Use(multisession.MiddlewareWithConfig(multisession.Config{Manager: m}))
		s = sessionplusAPI{}

	case "sessionplus-cookie", "sessionplus-redis", "sessionplus-seed":
		var sessionsConf []sessionplus.Options
		switch contender {
		case "sessionplus-cookie":
			sessionsConf = []sessionplus.Options{{"cookie_name": "session", "session_type": "secure_cookie"}}
		default:
			client, err := redisClient(ctx, o)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", contender, err)
			}
			a.closers = append(a.closers, client.Close)
			server := sessionplus.Options{"cookie_name": "session", "session_type": "redis", "client": client, "key_prefix": "bench-sp"}
			if contender == "sessionplus-redis" {
				sessionsConf = []sessionplus.Options{server}
			} else {
				// The seed's three sessions (flask-session-plus's README).
				server["session_fields"] = []string{"user_id", "user_data"}
				sessionsConf = []sessionplus.Options{
					{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
					server,
					{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
				}
			}
		}
		m, err := sessionplus.New(ctx, sessionplus.Config{Sessions: sessionsConf, SecretKeys: [][]byte{secretKey}})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: %w", contender, err)
		}
		a.closers = append(a.closers, m.Close)
		e.Use(multisession.MiddlewareWithConfig(multisession.Config{Manager: m}))
		s = sessionplusAPI{}

	default:
		return nil, fmt.Errorf("unknown contender %q; known: %s", contender, strings.Join(Contenders, ", "))
	}
	routes(e, s)
	return a, nil
}

// postgresPool returns the pool of the PostgreSQL contenders, with the
// round-trip counter as its tracer: both contenders share it, scs through
// database/sql over the same pool.
func postgresPool(ctx context.Context, o Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(o.PostgresURL)
	if err != nil {
		return nil, err
	}
	if o.RoundTrips != nil {
		cfg.ConnConfig.Tracer = o.RoundTrips
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// redisClient returns the go-redis client of the sessionplus Redis
// contenders, with the round-trip counter as a hook.
func redisClient(ctx context.Context, o Options) (*goredis.Client, error) {
	ro, err := goredis.ParseURL(o.RedisURL)
	if err != nil {
		return nil, err
	}
	ro.ContextTimeoutEnabled = true
	client := goredis.NewClient(ro)
	if o.RoundTrips != nil {
		client.AddHook(o.RoundTrips)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, err
	}
	return client, nil
}

// sessionAPI is what the handlers need from a session library. Each
// contender implements it with its library's ordinary calls.
type sessionAPI interface {
	getString(c echo.Context, field string) (string, bool, error)
	getInt(c echo.Context, field string) (int, bool, error)
	set(c echo.Context, field string, value any) error
	// save is called once by a handler that changed the session, before it
	// writes the response.
	save(c echo.Context) error
}

// routes installs the handlers, the same for every contender.
func routes(e *echo.Echo, s sessionAPI) {
	read := func(field string) echo.HandlerFunc {
		return func(c echo.Context) error {
			v, ok, err := s.getString(c, field)
			if err != nil {
				return err
			}
			if !ok {
				return errNoData
			}
			return c.String(http.StatusOK, v)
		}
	}
	e.GET("/"+ScenarioRead, read("user_data"))
	e.GET("/"+ScenarioReadCookieOnly, read("csrf_token"))
	e.POST("/"+ScenarioWrite, func(c echo.Context) error {
		n, _, err := s.getInt(c, "counter")
		if err != nil {
			return err
		}
		n++
		if err := s.set(c, "counter", n); err != nil {
			return err
		}
		if err := s.save(c); err != nil {
			return err
		}
		return c.String(http.StatusOK, strconv.Itoa(n))
	})
	e.POST("/"+ScenarioNew, func(c echo.Context) error {
		for _, f := range []struct {
			name  string
			value any
		}{{"csrf_token", CSRFToken}, {"user_id", UserID}, {"user_data", UserData}} {
			if err := s.set(c, f.name, f.value); err != nil {
				return err
			}
		}
		if err := s.save(c); err != nil {
			return err
		}
		return c.String(http.StatusOK, "ok")
	})
}

// bare holds no session: reads return fixed values, writes go nowhere.
type bare struct{}

func (bare) getString(_ echo.Context, field string) (string, bool, error) {
	switch field {
	case "csrf_token":
		return CSRFToken, true, nil
	case "user_data":
		return UserData, true, nil
	}
	return "", false, nil
}
func (bare) getInt(echo.Context, string) (int, bool, error) { return 0, false, nil }
func (bare) set(echo.Context, string, any) error            { return nil }
func (bare) save(echo.Context) error                        { return nil }

// gorilla is echo-contrib/session over a gorilla/sessions store.
type gorilla struct{}

const gorillaName = "session"

func (gorilla) getString(c echo.Context, field string) (string, bool, error) {
	sess, err := echosession.Get(gorillaName, c)
	if err != nil {
		return "", false, err
	}
	v, ok := sess.Values[field].(string)
	return v, ok, nil
}

func (gorilla) getInt(c echo.Context, field string) (int, bool, error) {
	sess, err := echosession.Get(gorillaName, c)
	if err != nil {
		return 0, false, err
	}
	v, ok := sess.Values[field].(int)
	return v, ok, nil
}

func (gorilla) set(c echo.Context, field string, value any) error {
	sess, err := echosession.Get(gorillaName, c)
	if err != nil {
		return err
	}
	sess.Values[field] = value
	return nil
}

func (gorilla) save(c echo.Context) error {
	sess, err := echosession.Get(gorillaName, c)
	if err != nil {
		return err
	}
	return sess.Save(c.Request(), c.Response())
}

// scsAPI is an scs SessionManager; LoadAndSave commits.
type scsAPI struct{ sm *scs.SessionManager }

func (s scsAPI) getString(c echo.Context, field string) (string, bool, error) {
	v, ok := s.sm.Get(c.Request().Context(), field).(string)
	return v, ok, nil
}

func (s scsAPI) getInt(c echo.Context, field string) (int, bool, error) {
	v, ok := s.sm.Get(c.Request().Context(), field).(int)
	return v, ok, nil
}

func (s scsAPI) set(c echo.Context, field string, value any) error {
	s.sm.Put(c.Request().Context(), field, value)
	return nil
}

func (scsAPI) save(echo.Context) error { return nil }

// sessionplusAPI is multisession; the middleware commits before the
// response headers go out.
type sessionplusAPI struct{}

func (sessionplusAPI) getString(c echo.Context, field string) (string, bool, error) {
	return sessionplus.GetAs[string](multisession.Get(c), field)
}

func (sessionplusAPI) getInt(c echo.Context, field string) (int, bool, error) {
	return sessionplus.GetAs[int](multisession.Get(c), field)
}

func (sessionplusAPI) set(c echo.Context, field string, value any) error {
	return multisession.Get(c).Set(field, value)
}

func (sessionplusAPI) save(echo.Context) error { return nil }
