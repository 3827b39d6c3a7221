// Command loadgen measures the contenders over loopback: it starts one
// benchapp process per contender, then, repetition after repetition, drives
// each scenario of each contender with a fixed number of keep-alive workers
// for a fixed time and records requests per second and latency
// percentiles. Everything is bounded: each request by a timeout, the whole
// run by -timeout, and the benchapp processes die with it.
//
//	loadgen -bin ./benchapp -json loopback.json
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sessionplus/sessionplus/bench/app"
)

// Result is one measurement: one scenario of one contender in one repetition.
type Result struct {
	Rep       int     `json:"rep"`
	Scenario  string  `json:"scenario"`
	Contender string  `json:"contender"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
}

type config struct {
	bin        string
	redisURL   string
	pgURL      string
	contenders []string
	scenarios  []string
	workers    int
	duration   time.Duration
	warmup     time.Duration
	reps       int
}

func main() {
	var c config
	var contenders, scenarios, jsonOut string
	var timeout time.Duration
	flag.StringVar(&c.bin, "bin", "./benchapp", "the benchapp binary")
	flag.StringVar(&c.redisURL, "redis", os.Getenv("SESSIONPLUS_REDIS_URL"), "redis:// URL for the Redis contenders")
	flag.StringVar(&c.pgURL, "postgres", os.Getenv("SESSIONPLUS_POSTGRES_URL"), "postgres:// URL for the PostgreSQL contenders")
	flag.StringVar(&contenders, "contenders", strings.Join(app.Contenders, ","), "contenders, comma-separated")
	flag.StringVar(&scenarios, "scenarios", strings.Join(app.Scenarios, ","), "scenarios, comma-separated")
	flag.IntVar(&c.workers, "workers", 4, "concurrent keep-alive workers")
	flag.DurationVar(&c.duration, "duration", 2*time.Second, "measured time per scenario, contender and repetition")
	flag.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured load before each measurement")
	flag.IntVar(&c.reps, "reps", 3, "repetitions")
	flag.DurationVar(&timeout, "timeout", 8*time.Minute, "bound on the whole run")
	flag.StringVar(&jsonOut, "json", "", "write the results as JSON to this file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("loadgen: ")
	c.contenders = strings.Split(contenders, ",")
	c.scenarios = strings.Split(scenarios, ",")

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	results, err := run(ctx, c)
	if jsonOut != "" && len(results) > 0 {
		b, _ := json.MarshalIndent(results, "", "  ")
		if werr := os.WriteFile(jsonOut, append(b, '\n'), 0o644); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

// server is one running benchapp.
type server struct {
	contender string
	addr      string
	cmd       *exec.Cmd
}

func run(ctx context.Context, c config) ([]Result, error) {
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, name := range c.contenders {
		s, err := start(ctx, c, name)
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
		log.Printf("%s on %s (pid %d)", name, s.addr, s.cmd.Process.Pid)
	}

	var results []Result
	for rep := 1; rep <= c.reps; rep++ {
		for _, scenario := range c.scenarios {
			// Rotate the order each repetition, so that no contender always
			// runs first (or right after another).
			order := slices.Clone(servers)
			k := (rep - 1) % len(order)
			order = append(order[k:], order[:k]...)
			for _, s := range order {
				if !app.HasScenario(s.contender, scenario) {
					continue
				}
				r, err := measure(ctx, c, s, scenario)
				if err != nil {
					return results, fmt.Errorf("rep %d, %s, %s: %w", rep, scenario, s.contender, err)
				}
				r.Rep = rep
				results = append(results, r)
				log.Printf("rep %d %-16s %-18s %8.0f req/s  p50 %6.0f µs  p99 %6.0f µs  %d errors",
					rep, scenario, s.contender, r.RPS, r.P50us, r.P99us, r.Errors)
			}
		}
	}
	return results, nil
}

// start runs benchapp for contender on a free loopback port and waits for
// its "listening on" line.
func start(ctx context.Context, c config, contender string) (*server, error) {
	cmd := exec.CommandContext(ctx, c.bin, "-contender", contender, "-addr", "127.0.0.1:0", "-redis", c.redisURL, "-postgres", c.pgURL)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the load generator
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{contender: contender, cmd: cmd}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "listening on ")
		if !ok || !found {
			s.stop()
			return nil, fmt.Errorf("%s: benchapp did not start (first line %q)", contender, l)
		}
		s.addr = addr
		return s, nil
	case <-time.After(15 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s: benchapp not listening after 15s", contender)
	}
}

func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// measure drives one scenario of s: it makes a session with the new
// scenario's request (except for new itself), warms up, then runs the
// workers for the measured time.
func measure(ctx context.Context, c config, s *server, scenario string) (Result, error) {
	tr := &http.Transport{
		MaxIdleConnsPerHost: c.workers,
		MaxConnsPerHost:     c.workers,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	base := "http://" + s.addr

	cookie := ""
	if scenario != app.ScenarioNew {
		var err error
		if cookie, err = newSession(ctx, client, base); err != nil {
			return Result{}, err
		}
	}
	method, path := app.Route(scenario)
	url := base + path
	if _, _, err := load(ctx, client, c.workers, c.warmup, method, url, cookie); err != nil {
		return Result{}, err
	}
	start := time.Now()
	lat, errs, err := load(ctx, client, c.workers, c.duration, method, url, cookie)
	elapsed := time.Since(start).Seconds()
	if err != nil {
		return Result{}, err
	}
	if len(lat) == 0 {
		return Result{}, fmt.Errorf("no request succeeded (%d errors)", errs)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	return Result{
		Scenario: scenario, Contender: s.contender,
		Requests: len(lat), Errors: errs, Seconds: elapsed,
		RPS: float64(len(lat)) / elapsed, P50us: pct(0.50), P99us: pct(0.99),
	}, nil
}

// newSession runs the new scenario's request and returns the Cookie header
// line of the cookies it set.
func newSession(ctx context.Context, client *http.Client, base string) (string, error) {
	method, path := app.Route(app.ScenarioNew)
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("new session: status %d", resp.StatusCode)
	}
	var pairs []string
	for _, ck := range resp.Cookies() {
		pairs = append(pairs, ck.Name+"="+ck.Value)
	}
	return strings.Join(pairs, "; "), nil
}

// load runs workers for d, each sending its next request when the last is
// answered, and returns the latencies of the requests answered 200 and the
// number of the others.
func load(ctx context.Context, client *http.Client, workers int, d time.Duration, method, url, cookie string) ([]time.Duration, int, error) {
	end := time.Now().Add(d)
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<14)
			bad := 0
			for time.Now().Before(end) && ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, method, url, nil)
				if err != nil {
					bad++
					break
				}
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					bad++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, errs, ctx.Err()
}
