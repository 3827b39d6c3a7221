// Command benchapp serves one contender of the benchmark suite on a loopback
// address, for the load generator (cmd/loadgen):
//
//	benchapp -contender sessionplus-cookie -addr 127.0.0.1:8081
//
// With port 0 it picks a free port. Either way its first line on stdout is
// "listening on HOST:PORT". It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sessionplus/sessionplus/bench/app"
)

func main() {
	contender := flag.String("contender", "", "the session middleware: "+strings.Join(app.Contenders, ", "))
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0: any free port)")
	redisURL := flag.String("redis", os.Getenv("SESSIONPLUS_REDIS_URL"), "redis:// URL of the Redis contenders' server")
	pgURL := flag.String("postgres", os.Getenv("SESSIONPLUS_POSTGRES_URL"), "postgres:// URL of the PostgreSQL contenders' server")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchapp: ")
	if err := run(*contender, *addr, *redisURL, *pgURL); err != nil {
		log.Fatal(err)
	}
}

func run(contender, addr, redisURL, pgURL string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: only loopback addresses", addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, contender, app.Options{RedisURL: redisURL, PostgresURL: pgURL})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Echo, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	fmt.Printf("listening on %s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
