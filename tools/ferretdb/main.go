// Command ferretdb runs FerretDB (a MongoDB wire-protocol server) with its
// SQLite backend, for the tests of the mongodb session driver:
//
//	ferretdb -listen 127.0.0.1:27018 -data /tmp/ferretdb-data
//
// It serves until SIGTERM or SIGINT. It lives in a module of its own so that
// FerretDB and its dependencies never enter the library's go.mod;
// scripts/backends/mongodb.sh builds it once per machine and caches the
// binary. FerretDB's own command (cmd/ferretdb) panics at start when built
// with go install, for want of a generated version file; its embeddable
// package, used here, does not.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27018", "TCP `address` to listen on")
	data := flag.String("data", "", "`directory` of the SQLite databases (required; created if missing)")
	flag.Parse()
	if err := run(*listen, *data); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run(listen, data string) error {
	if data == "" {
		return fmt.Errorf("-data is required")
	}
	dir, err := filepath.Abs(data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	return f.Run(ctx)
}
