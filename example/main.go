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
//	go run ./example -addr :9000 -backend memory
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
// down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	flags := flag.NewFlagSet("example", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:8080", "`address` to listen on")
	backend := flags.String("backend", defaultBackend, "`name` of the server-side session's backend: "+strings.Join(backendNames(), ", "))
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The app's resources outlive the signal: they are released after the
	// server has finished its requests.
	appCtx, release := context.WithCancel(context.WithoutCancel(ctx))
	defer release()

	e, err := newApp(appConfig{Backend: *backend, Secret: getenv(secretEnv), Logger: logger, Context: appCtx})
	if err != nil {
		return err
	}
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
