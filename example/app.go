package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/multisession"
)

// appConfig configures the app built by newApp.
type appConfig struct {
	// Backend is the backend of the server-side session, a key of
	// backends. Default defaultBackend.
	Backend string

	// BackendURL locates the backend's server (the -backend-url flag): a
	// URL, addresses or a project id, as the backend's about says. When
	// empty, the backend reads its environment variable through Getenv;
	// the redis backend then falls back to an embedded miniredis.
	BackendURL string

	// Getenv reads the environment variables that stand in for BackendURL
	// (main passes os.Getenv). Default: an empty environment, so that tests
	// do not depend on the servers of the machine they run on.
	Getenv func(string) string

	// Secret signs and encrypts the cookies: at least
	// sessionplus.MinSecretKeyLen bytes (main reads it from
	// SESSIONPLUS_SECRET). When empty, a random key is made and a notice is
	// logged: sessions then do not survive a restart.
	Secret string

	// Logger receives the app's and the library's logs. Default
	// slog.Default().
	Logger *slog.Logger

	// ConfigFile, when set (the -config flag), is a JSON or YAML file
	// listing the sessions (see example/sessions.yaml): it replaces the
	// built-in configuration, Backend, BackendURL and Secret; the secret
	// keys come from the environment variables the file names.
	ConfigFile string

	// Context bounds the opening of the backend (starting miniredis,
	// connecting). It should live as long as the app: a driver may keep
	// it for its client. Default context.Background().
	Context context.Context
}

// secretEnv is the environment variable main reads the secret key from.
const secretEnv = "SESSIONPLUS_SECRET"

// userData is the user_data field of the server-side session. It is stored
// as JSON and read back with sessionplus.GetAs[userData]: no registration.
type userData struct {
	Name       string
	LoggedInAt time.Time
}

// app holds what the handlers share.
type app struct {
	logger   *slog.Logger
	pages    pages
	sessions []sessionplus.Options // the configuration, shown by /where
	backend  string                // the -backend value of the server-side session
	storedIn string                // where the server-side session keeps its data
	m        *sessionplus.Manager  // for the "your sessions" page
}

// newApp builds the Echo app: the three sessions of flask-session-plus's
// example configuration, the pages and their routes. The server-side
// session's backend is opened here (an embedded miniredis by default); the
// returned close function, which the caller must call once the server has
// stopped, closes the stores the drivers opened and then what the backend
// started. It may be called more than once.
func newApp(cfg appConfig) (*echo.Echo, func() error, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	cfg.Backend = cmp.Or(cfg.Backend, defaultBackend)
	logger := cfg.Logger

	secret, randomSecret, err := secretKey(cfg.Secret)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := parsePages()
	if err != nil {
		return nil, nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, nil, err
	}
	var (
		a      *app
		m      *sessionplus.Manager
		server *serverBackend
	)
	if cfg.ConfigFile != "" {
		// The file names the sessions, their backends and the environment
		// variables of the secret keys; errors name the file and the line.
		m, err = sessionplus.NewFromFile(cfg.Context, cfg.ConfigFile, sessionplus.Config{Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		a = &app{logger: logger, pages: tmpl, backend: "-config " + cfg.ConfigFile, storedIn: "as " + cfg.ConfigFile + " configures it"}
		randomSecret = false
	} else {
		server, err = openServerBackend(cfg.Context, cfg)
		if err != nil {
			return nil, nil, err
		}
		a = &app{logger: logger, pages: tmpl, sessions: sessionsConfig(server.options), backend: cfg.Backend, storedIn: server.where}

		// The Manager opens every session's store from the maps: the drivers
		// connect (and ping) here, so an unreachable server fails now.
		m, err = sessionplus.New(cfg.Context, sessionplus.Config{
			Sessions:   a.sessions,
			SecretKeys: [][]byte{secret},
			Logger:     logger,
			// Index the server-side records by user, for the "your
			// sessions" page (list, sign out one, sign out the others).
			UserField: "user_id",
		})
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("-backend %s (%s): %w", cfg.Backend, server.where, err), server.release())
		}
	}
	a.m = m
	closeApp := sync.OnceValue(func() error {
		// The clients first, then the server they talk to.
		return errors.Join(m.Close(), server.release())
	})
	sessions, err := multisession.Config{
		// Static files need no session: skipping them keeps their
		// responses free of Set-Cookie and cacheable.
		Skipper: func(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/static/") },
		Manager: m,
		Logger:  logger,
	}.ToMiddleware()
	if err != nil {
		return nil, nil, errors.Join(err, closeApp())
	}

	logger.Info("server-side session", "backend", a.backend, "where", a.storedIn)
	if randomSecret {
		logger.Warn(secretEnv + " is not set: using a random secret key, so sessions will not survive a restart of the app")
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.handleError
	e.Use(
		middleware.Recover(),
		middleware.SecureWithConfig(middleware.SecureConfig{
			XSSProtection:         "0",
			ContentTypeNosniff:    "nosniff",
			XFrameOptions:         "DENY",
			ReferrerPolicy:        "same-origin",
			ContentSecurityPolicy: "default-src 'self'; form-action 'self'; frame-ancestors 'none'",
		}),
		sessions,
	)

	e.StaticFS("/static", static)
	e.GET("/", a.home)
	e.GET("/login", a.loginForm)
	e.POST("/login", a.login)
	e.GET("/prefs", a.prefsForm)
	e.POST("/prefs", a.savePrefs)
	e.GET("/where", a.where)
	e.POST("/logout", a.logout)
	e.GET("/sessions", a.devices)
	e.POST("/sessions/revoke", a.signOutDevice)
	e.POST("/sessions/revoke-others", a.signOutOthers)
	e.POST("/api/login", a.apiLogin)
	e.GET("/api/me", a.apiMe)
	e.POST("/api/logout", a.apiLogout)
	return e, closeApp, nil
}

// sessionsConfig returns the sessions of the app, in the seed's order:
// server holds the driver options of the server-side session, as its
// backend's open returns them.
func sessionsConfig(server sessionplus.Options) []sessionplus.Options {
	session := maps.Clone(server)
	session["cookie_name"] = "session"
	session["session_fields"] = []string{"user_id", "user_data"}
	// API clients send the session's token in this header instead of the
	// cookie (see the /api endpoints).
	session["token_header"] = "Authorization"
	return []sessionplus.Options{
		// The CSRF token, alone in its own signed and encrypted cookie.
		{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []string{"csrf_token"}},
		// Who is logged in, on the server: the cookie holds only an id.
		session,
		// Every other field, in a signed and encrypted cookie.
		{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
		// The cookies are not Secure, so that the app works on
		// http://127.0.0.1; behind HTTPS, add "cookie_secure": true to each.
	}
}

// secretKey returns the secret that signs and encrypts the cookies: raw
// when it is set, or else a random key (random is then true).
func secretKey(raw string) (key []byte, random bool, err error) {
	if raw == "" {
		key = make([]byte, sessionplus.MinSecretKeyLen)
		rand.Read(key) // never fails: crypto/rand.Read panics rather than return an error
		return key, true, nil
	}
	if len(raw) < sessionplus.MinSecretKeyLen {
		return nil, false, fmt.Errorf("%s is %d bytes; it must be at least %d bytes of random data (for example: openssl rand -base64 32)",
			secretEnv, len(raw), sessionplus.MinSecretKeyLen)
	}
	return []byte(raw), false, nil
}

// handleError renders an error as a page. It reads no session: the error
// may be the session's.
func (a *app) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return // the sessions middleware already answered, or the handler did
	}
	code, msg := http.StatusInternalServerError, ""
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		if s, ok := he.Message.(string); ok {
			msg = s
		}
	}
	if msg == "" {
		msg = http.StatusText(code)
	}
	if code >= http.StatusInternalServerError {
		r := c.Request()
		a.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	p := page{Title: http.StatusText(code), Error: msg}
	if rerr := a.render(c, code, "error", p); rerr != nil {
		_ = c.String(code, msg)
	}
}
