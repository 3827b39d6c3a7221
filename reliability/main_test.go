package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// TestMain captures every log line of the package's run (the library's
// logger, slog's and log's defaults, Echo's logger and net/http's error log),
// runs the tests, stops the servers they started, and then checks that no
// captured line holds a session id, a storage key, a cookie value or a field
// value that any test used: the library must never log them, on success or
// on failure.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	goredis.SetLogger(redisLogger{})
	code := m.Run()
	stopServers()
	if !checkLogs() {
		code = 1
	}
	writeFigures()
	os.Exit(code)
}

// redisLogger sends go-redis's own log lines (which do not go through log
// or slog) to the captured logs.
type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	fmt.Fprintf(logs, "go-redis: "+format+"\n", v...)
}

// logSink keeps every line written to it.
type logSink struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.lines = append(s.lines, string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

// snapshot returns the lines written so far.
func (s *logSink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.lines)
	if len(s.partial) > 0 {
		out = append(out, string(s.partial))
	}
	return out
}

// since returns the lines written after the first n.
func (s *logSink) since(n int) []string {
	all := s.snapshot()
	if n > len(all) {
		return nil
	}
	return all[n:]
}

func (s *logSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// logs receives every log line of the package's run.
var logs = &logSink{}

// testLogger is the Logger of every app and store the tests build.
var testLogger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

// secretSet holds what must never appear in a log line: session ids, the
// storage keys derived from them, cookie values and field values.
type secretSet struct {
	mu sync.Mutex
	m  map[string]string // secret -> what it is
}

var secrets = &secretSet{m: make(map[string]string)}

// add records a secret. Values shorter than 8 bytes are too common to look
// for (counters, single letters) and are skipped.
func (s *secretSet) add(what, v string) {
	if len(v) < 8 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[v]; !ok {
		s.m[v] = what
	}
}

func (s *secretSet) snapshot() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.m))
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

// checkLogs reports whether no captured log line holds a secret, printing
// the offending lines otherwise.
func checkLogs() bool {
	lines := logs.snapshot()
	sec := secrets.snapshot()
	bad := 0
	kinds := map[string]int{}
	for _, what := range sec {
		kinds[strings.SplitN(what, " ", 2)[0]]++
	}
	for _, line := range lines {
		for v, what := range sec {
			if strings.Contains(line, v) {
				bad++
				if bad <= 20 {
					fmt.Fprintf(os.Stderr, "FAIL: a log line holds a %s (%q):\n\t%s\n", what, v, line)
				}
				break
			}
		}
	}
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(ks)
	summary := fmt.Sprintf("%d log lines captured, checked against %d secrets (%s): %d lines hold one",
		len(lines), len(sec), strings.Join(ks, ", "), bad)
	figures.add("TestMain/logs", "log lines captured", len(lines), "secrets checked", len(sec), "lines holding a secret", bad)
	if os.Getenv("SESSIONPLUS_RELIABILITY_LOGS") != "" {
		for _, line := range lines {
			fmt.Fprintln(os.Stderr, "log: "+line)
		}
	}
	if testing.Verbose() || bad > 0 {
		fmt.Fprintln(os.Stderr, "logs: "+summary)
	}
	return bad == 0
}

// figureSet collects the figures the tests report, for RELIABILITY.md.
type figureSet struct {
	mu   sync.Mutex
	rows []string
}

var figures = &figureSet{}

// add records one row of figures: the test's name and key, value pairs.
func (f *figureSet) add(test string, kv ...any) {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%v: %v", kv[i], kv[i+1])
	}
	f.mu.Lock()
	f.rows = append(f.rows, fmt.Sprintf("| %s | %s |", test, b.String()))
	f.mu.Unlock()
}

// report records figures for t and logs them.
func report(t testing.TB, kv ...any) {
	t.Helper()
	figures.add(t.Name(), kv...)
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "\n\t%v: %v", kv[i], kv[i+1])
	}
	t.Logf("figures:%s", b.String())
}

// writeFigures appends the figures to the file named by
// SESSIONPLUS_FIGURES, if set (scripts/soak sets it).
func writeFigures() {
	path := os.Getenv("SESSIONPLUS_FIGURES")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "figures:", err)
		return
	}
	defer f.Close()
	figures.mu.Lock()
	defer figures.mu.Unlock()
	for _, r := range figures.rows {
		fmt.Fprintln(f, r)
	}
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// underCI reports whether the run is CI's, where nothing may be skipped.
func underCI() bool { return os.Getenv("CI") == "true" }

// missing skips t with a message, or fails it under CI=true.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if underCI() {
		t.Fatalf("%s: under CI=true every backend must be available (./scripts/test installs them)", msg)
	}
	t.Skipf("%s (./scripts/test installs and exports it)", msg)
}
