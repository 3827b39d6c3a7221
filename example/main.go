// Command example is a runnable Echo app with the three sessions of
// flask-session-plus's example configuration:
//
//   - csrf, a secure cookie owning csrf_token;
//   - session, a server-side session owning user_id and user_data (its
//     cookie holds only an id);
//   - data, a secure cookie owning every other field ("auto").
//
// Run it with no server installed:
//
//	go run ./example                 # http://127.0.0.1:8080
//
// The server-side session then runs on the redis driver, against a
// miniredis embedded in the app. -backend and -backend-url (or the
// environment variables the tests use) put it on a real server instead,
// through the same map-based configuration:
//
//	go run ./example -backend-url redis://127.0.0.1:6379/0
//	go run ./example -backend memcache -backend-url 127.0.0.1:11211,127.0.0.1:11212
//	go run ./example -backend mongodb -backend-url mongodb://127.0.0.1:27017/
//	go run ./example -backend postgres -backend-url postgres://postgres@127.0.0.1:5432/postgres
//	FIRESTORE_EMULATOR_HOST=127.0.0.1:8085 go run ./example -backend firestore -backend-url my-project
//	go run ./example -backend memory
//
// The secret key that signs and encrypts the cookies comes from
// SESSIONPLUS_SECRET (at least 32 bytes); without it a random key is made
// and sessions do not survive a restart.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// run runs the app until ctx is done or an interrupt arrives, then shuts it
// down gracefully and closes the sessions' backend.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) (err error) {
	flags := flag.NewFlagSet("example", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:8080", "`address` to listen on")
	backend := flags.String("backend", defaultBackend, "`name` of the server-side session's backend: "+strings.Join(backendNames(), ", "))
	backendURL := flags.String("backend-url", "", "`address` of the backend's server (see the backends below); default from the environment")
	configFile := flags.String("config", "", "JSON or YAML `file` listing the sessions (see example/sessions.yaml); replaces -backend and -backend-url")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: example [flags]\n\nFlags:\n")
		flags.PrintDefaults()
		fmt.Fprintf(stderr, "\nBackends:\n")
		for _, name := range backendNames() {
			fmt.Fprintf(stderr, "  %s\n    \t%s\n", name, backends[name].about)
		}
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	if *configFile != "" {
		var both []string
		flags.Visit(func(f *flag.Flag) {
			if f.Name == "backend" || f.Name == "backend-url" {
				both = append(both, "-"+f.Name)
			}
		})
		if len(both) > 0 {
			return fmt.Errorf("-config replaces %s: give one or the other", strings.Join(both, " and "))
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	goredis.SetLogger(redisLogger{logger}) // go-redis logs through the log package otherwise

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The backend's clients outlive the signal: they are closed after the
	// server has finished its requests.
	appCtx, release := context.WithCancel(context.WithoutCancel(ctx))
	defer release()

	e, closeApp, err := newApp(appConfig{
		ConfigFile: *configFile,
		Backend:    *backend,
		BackendURL: *backendURL,
		Getenv:     getenv,
		Secret:     getenv(secretEnv),
		Logger:     logger,
		Context:    appCtx,
	})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeApp(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the session backend: %w", cerr))
		}
	}()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
