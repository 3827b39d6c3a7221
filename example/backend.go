package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sessionplus/sessionplus"

	// Drivers register themselves by session_type when imported, the way
	// database/sql drivers do. A backend added to backends below needs its
	// driver imported here.
	_ "github.com/sessionplus/sessionplus/drivers/cookie" // "secure_cookie": the csrf and data sessions
	_ "github.com/sessionplus/sessionplus/drivers/memory" // "memory": the server-side session, by default
)

// This file is the one place where the backend of the server-side session
// ("session", owning user_id and user_data) is chosen, by the -backend flag.
// The other two sessions are secure cookies whatever the flag says. To add a
// backend, import its driver above and add an entry to backends; nothing
// else in the app changes, because the choice ends as a plain
// sessionplus.Options map, the same form a configuration file would have.

// defaultBackend is the -backend value when the flag is not given.
const defaultBackend = "memory"

// backend is one value of the -backend flag.
type backend struct {
	// about says what the backend is, for -help and the startup log.
	about string

	// open returns the driver's part of the server-side session's options:
	// its session_type and the driver's own keys ("client", "url", ...).
	// The app adds cookie_name and session_fields. close, when not nil,
	// releases what open started (an embedded server, a client the app
	// made); the app calls it when cfg.Context is done. ctx bounds open
	// itself (connecting, starting a server).
	open func(ctx context.Context, cfg appConfig) (opts sessionplus.Options, close func() error, err error)
}

// backends holds every value that -backend accepts.
var backends = map[string]backend{
	"memory": {
		about: "in-process store (drivers/memory): needs no server; sessions end when the app stops",
		open: func(context.Context, appConfig) (sessionplus.Options, func() error, error) {
			return sessionplus.Options{"session_type": "memory"}, nil, nil
		},
	},
}

// backendNames returns the values -backend accepts, sorted.
func backendNames() []string {
	return slices.Sorted(maps.Keys(backends))
}

// serverSessionOptions returns the driver options of the server-side
// session for the -backend value cfg.Backend ("" means defaultBackend),
// and the backend's close function (nil when there is nothing to close).
func serverSessionOptions(ctx context.Context, cfg appConfig) (sessionplus.Options, func() error, error) {
	name := cfg.Backend
	if name == "" {
		name = defaultBackend
	}
	b, ok := backends[name]
	if !ok {
		return nil, nil, fmt.Errorf("unknown -backend %q; available: %s", name, strings.Join(backendNames(), ", "))
	}
	opts, closeFn, err := b.open(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("-backend %s: %w", name, err)
	}
	return opts, closeFn, nil
}
