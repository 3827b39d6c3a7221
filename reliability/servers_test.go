package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gfirestore "cloud.google.com/go/firestore"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The tests start server instances of their own, on loopback ports of
// their own, so that they can stop and restart them without disturbing the
// servers of scripts/test that other packages' tests use. The binaries come
// from these variables, which scripts/backends/*.sh export; without one the
// usual place is tried (PATH, the build cache of scripts/test, the source
// tree), and if nothing is found the test skips, or fails under CI=true.
const (
	envRedisBin     = "SESSIONPLUS_REDIS_SERVER_BIN" // redis-server
	envMemcachedBin = "SESSIONPLUS_MEMCACHED_BIN"    // memcached
	envFerretDBBin  = "SESSIONPLUS_FERRETDB_BIN"     // the launcher of tools/ferretdb, built by scripts/backends/mongodb.sh
	envGcloudBin    = "SESSIONPLUS_GCLOUD_BIN"       // gcloud, with Google's Firestore emulator (scripts/backends/firestore.sh)
	envPostgresDir  = "SESSIONPLUS_POSTGRES_BINDIR"  // the directory of PostgreSQL's initdb and postgres (scripts/backends/postgres.sh)
)

// serverKinds are the server-side backends the fault tests run against.
var serverKinds = []string{"redis", "redis-cluster", "memcache", "mongodb", "firestore", "postgres"}

// persistent reports whether a kind's data survives a restart of its
// server: Redis runs with an append-only file fsynced at every write,
// FerretDB keeps SQLite files, PostgreSQL its write-ahead log (fsync on);
// memcached and the Firestore emulator keep everything in memory.
func persistent(kind string) bool {
	return kind == "redis" || kind == "redis-cluster" || kind == "mongodb" || kind == "postgres"
}

// moduleRoot is the module's root directory (the tests run in reliability/).
func moduleRoot() string {
	d, err := filepath.Abs("..")
	if err != nil {
		return ".."
	}
	return d
}

// cacheDir is scripts/test's build cache.
func cacheDir() string {
	if d := os.Getenv("SESSIONPLUS_CACHE_DIR"); d != "" {
		return d
	}
	return filepath.Join(moduleRoot(), ".cache")
}

// findFile returns the value of env, or the first of the fallbacks that is
// an existing file; "" if none is.
func findFile(env string, fallbacks ...string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	for _, f := range fallbacks {
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			if p, err := exec.LookPath(f); err == nil {
				return p
			}
			continue
		}
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			return f
		}
	}
	return ""
}

// proc is one server process that the tests start, kill and restart with
// the same arguments and data directory.
type proc struct {
	name    string
	bin     string
	args    []string
	env     []string
	logPath string
	addr    string // 127.0.0.1:port
	ready   func(ctx context.Context, addr string) error
	// group makes the process lead a process group of its own, which kill
	// kills as a whole: gcloud starts the Firestore emulator as a child
	// (a shell script, then java). If the test binary itself is killed,
	// only the group's leader goes with it; stopServers kills the groups
	// when the tests end. PostgreSQL's postmaster forks a process per
	// connection and a few of its own: killing the group kills them all,
	// as a crash of the machine's server would.
	group bool
	// dir is the working directory, if set; cred the user to run as, if
	// set (PostgreSQL refuses to run as root).
	dir  string
	cred *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// start starts the process and waits until it is ready.
func (p *proc) start() error {
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "--- %s: starting %s %s\n", time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = p.dir
	// The server dies with the test binary, even if the binary is killed.
	// (Go sets the parent death signal after the credentials, which would
	// clear it.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: p.group, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		err := p.ready(rctx, p.addr)
		rcancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited at start:\n%s", p.name, tail(p.logPath))
		case <-ctx.Done():
			p.kill()
			return fmt.Errorf("%s not ready after 30 s (%v):\n%s", p.name, err, tail(p.logPath))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// kill kills the process with SIGKILL, as a crash would, and waits until it
// has exited; a group, until every process of the group has (a PostgreSQL
// started again while a backend of the old one still holds its shared
// memory refuses to start).
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	if p.group {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	} else {
		cmd.Process.Signal(syscall.SIGKILL)
	}
	<-done
	if p.group {
		for end := time.Now().Add(10 * time.Second); groupAlive(cmd.Process.Pid) && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond) // polling /proc, with a deadline
		}
	}
}

// groupAlive reports whether a process of the process group pgid is alive
// (a zombie, which holds nothing, does not count: orphans are reaped by
// whoever adopts them, if at all).
func groupAlive(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

// running reports whether the process is alive.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// tail returns the end of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// tcpReady succeeds once addr accepts connections.
func tcpReady(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// redisReady succeeds once a Redis at addr answers PING.
func redisReady(ctx context.Context, addr string) error {
	return ask(ctx, addr, "PING\r\n", "+PONG")
}

// firestoreReady succeeds once a Firestore emulator at addr answers "Ok"
// on its root path.
func firestoreReady(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) != "Ok" {
		return fmt.Errorf("answer %d %q", resp.StatusCode, body)
	}
	// Warm the emulator's JVM with a write and a read, so that the first
	// request of a test does not pay its start-up (over a second, longer
	// than a request's deadline).
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(emulatorCreds{}))
	if err != nil {
		return err
	}
	defer conn.Close()
	c, err := gfirestore.NewClient(ctx, "sessionplus-reliability", option.WithGRPCConn(conn))
	if err != nil {
		return err
	}
	defer c.Close()
	doc := c.Collection("warm-up").Doc("warm-up")
	if _, err := doc.Set(ctx, map[string]any{"at": time.Now()}); err != nil {
		return fmt.Errorf("warm-up write: %w", err)
	}
	if _, err := doc.Get(ctx); err != nil {
		return fmt.Errorf("warm-up read: %w", err)
	}
	return nil
}

// postgresURL is the URL of the database "postgres" of the tests' own
// PostgreSQL (trust authentication) at addr.
func postgresURL(addr string) string {
	return "postgres://postgres@" + addr + "/postgres?sslmode=disable"
}

// postgresReady succeeds once a PostgreSQL at addr accepts a connection and
// answers a ping (during its crash recovery it refuses connections: "the
// database system is starting up").
func postgresReady(ctx context.Context, addr string) error {
	c, err := pgx.Connect(ctx, postgresURL(addr))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return c.Ping(ctx)
}

// postgresBindir returns the directory of PostgreSQL's initdb and postgres:
// SESSIONPLUS_POSTGRES_BINDIR, else pg_config --bindir, else the newest
// /usr/lib/postgresql/*/bin; "" if none holds them.
func postgresBindir() string {
	if d := os.Getenv(envPostgresDir); d != "" {
		return d
	}
	has := func(d string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); d != "" && has(d) {
			return d
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if has(d) {
			return d
		}
	}
	return ""
}

// postgresCredential returns the user PostgreSQL runs as: nil (the test
// binary's own) unless the binary runs as root, which PostgreSQL refuses;
// then the postgres user of Debian's package, as scripts/backends/postgres.sh
// runs it.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("the postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// postgresProc makes a fresh cluster with initdb (trust authentication, no
// fsync while initdb writes it) in a directory of dir that the server's
// user owns, and describes its server: in the foreground, TCP on loopback
// only, its socket in that directory, fsync on, so that a killed server
// keeps every committed row and recovers it from its write-ahead log at the
// next start.
func postgresProc(t testing.TB, dir string) *proc {
	t.Helper()
	bindir := postgresBindir()
	if bindir == "" {
		missing(t, "PostgreSQL's initdb and postgres were not found (%s, pg_config --bindir, /usr/lib/postgresql/*/bin; scripts/backends/postgres.sh installs postgresql)", envPostgresDir)
	}
	cred, err := postgresCredential()
	if err != nil {
		missing(t, "postgres: %v", err)
	}
	port := freePort(t, false)
	d := filepath.Join(dir, strconv.Itoa(port))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		// The run's directories are root's (mode 0700 for the temporary
		// ones): let the server's user through, as scripts/backends/postgres.sh
		// does, and give it its own directory.
		for _, p := range []string{os.Getenv("SESSIONPLUS_RUN_DIR"), runDir(t), dir} {
			if st, err := os.Stat(p); p != "" && err == nil && st.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(p, st.Mode().Perm()|0o111); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(d, "data")
	initdb := exec.Command(filepath.Join(bindir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = d
	initdb.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("postgres: initdb %s: %v\n%s", data, err, out)
	}
	return &proc{
		name: "postgres:" + strconv.Itoa(port), bin: filepath.Join(bindir, "postgres"),
		args: []string{"-D", data, "-p", strconv.Itoa(port), "-k", d,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"},
		logPath: d + ".log", addr: "127.0.0.1:" + strconv.Itoa(port), ready: postgresReady,
		group: true, dir: d, cred: cred,
	}
}

// gcloudFirestore returns the gcloud binary (SESSIONPLUS_GCLOUD_BIN, else
// PATH), and "" unless the Firestore emulator's component is installed
// beside it.
func gcloudFirestore() string {
	bin := findFile(envGcloudBin, "gcloud")
	if bin == "" {
		return ""
	}
	target, err := filepath.EvalSymlinks(bin) // /usr/bin/gcloud -> /usr/lib/google-cloud-sdk/bin/gcloud
	if err != nil {
		return ""
	}
	jar := filepath.Join(filepath.Dir(filepath.Dir(target)), "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
	if _, err := os.Stat(jar); err != nil {
		return ""
	}
	return bin
}

// memcachedReady succeeds once a memcached at addr answers "version".
func memcachedReady(ctx context.Context, addr string) error {
	return ask(ctx, addr, "version\r\n", "VERSION ")
}

// ask sends req to addr and checks that the first line of the answer starts
// with want.
func ask(ctx context.Context, addr, req, want string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, want) {
		return fmt.Errorf("answer %q", strings.TrimSpace(line))
	}
	return nil
}

var (
	portMu    sync.Mutex
	portTaken = map[int]bool{}
)

// freePort returns a loopback port that nothing listens on, from a range
// below Linux's ephemeral ports; with bus, port+10000 (a Redis Cluster
// node's bus port) is free too.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 500 {
		p := 12000 + rand.IntN(10000)
		if portTaken[p] || portTaken[p+10000] || !portFree(p) || (bus && !portFree(p+10000)) {
			continue
		}
		portTaken[p] = true
		if bus {
			portTaken[p+10000] = true
		}
		return p
	}
	t.Fatal("no free loopback port found")
	return 0
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// instance is one backend of the tests' own: one or more server processes.
type instance struct {
	kind  string
	dir   string
	procs []*proc
	// settle, if set, runs after every process has (re)started, until the
	// backend serves (a Redis Cluster: until every node says
	// cluster_state:ok).
	settle func(ctx context.Context) error

	mu sync.Mutex // held while the instance is killed or restarted
}

// addrs returns the addresses of the instance's servers.
func (in *instance) addrs() []string {
	out := make([]string, len(in.procs))
	for i, p := range in.procs {
		out[i] = p.addr
	}
	return out
}

// kill kills every process of the instance, returning when the last one
// has exited.
func (in *instance) kill() {
	var wg sync.WaitGroup
	for _, p := range in.procs {
		wg.Go(p.kill)
	}
	wg.Wait()
}

// restart starts every process again, with the same arguments and data
// directories, and waits until the backend serves.
func (in *instance) restart() error {
	var errs []error
	for _, p := range in.procs {
		if p.running() {
			continue
		}
		if err := p.start(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if in.settle != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return in.settle(ctx)
	}
	return nil
}

// healthy reports whether every process runs.
func (in *instance) healthy() bool {
	for _, p := range in.procs {
		if !p.running() {
			return false
		}
	}
	return true
}

var (
	srvMu     sync.Mutex
	instances = map[string]*instance{}
	baseDir   string
)

// runDir returns the directory of the servers' data and logs, made once.
func runDir(t testing.TB) string {
	t.Helper()
	if baseDir == "" {
		d, err := os.MkdirTemp(os.Getenv("SESSIONPLUS_RUN_DIR"), "reliability-")
		if err != nil {
			t.Fatal(err)
		}
		baseDir = d
	}
	return baseDir
}

// available reports whether the binaries of kind's server can be found,
// without starting it.
func available(kind string) bool {
	switch kind {
	case "memory":
		return true
	case "redis", "redis-cluster":
		return findFile(envRedisBin, "redis-server") != ""
	case "memcache":
		return findFile(envMemcachedBin, "memcached", "/usr/bin/memcached") != ""
	case "mongodb":
		return findFile(envFerretDBBin, filepath.Join(cacheDir(), "ferretdb-v1.24.2")) != ""
	case "firestore":
		return gcloudFirestore() != ""
	case "postgres":
		return postgresBindir() != ""
	}
	return false
}

// need returns the running instance of kind, starting it the first time.
// It skips the test, or fails it under CI=true, when the server's binary is
// missing.
func need(t testing.TB, kind string) *instance {
	t.Helper()
	srvMu.Lock()
	defer srvMu.Unlock()
	if in := instances[kind]; in != nil {
		in.mu.Lock()
		defer in.mu.Unlock()
		if !in.healthy() {
			if err := in.restart(); err != nil {
				t.Fatalf("%s: restarting the server a test left down: %v", kind, err)
			}
		}
		return in
	}
	dir := filepath.Join(runDir(t), kind)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var in *instance
	switch kind {
	case "redis":
		bin := findFile(envRedisBin, "redis-server")
		if bin == "" {
			missing(t, "redis-server not found (%s)", envRedisBin)
		}
		in = &instance{kind: kind, dir: dir, procs: []*proc{redisProc(t, bin, dir, false)}}
	case "redis-cluster":
		bin := findFile(envRedisBin, "redis-server")
		if bin == "" {
			missing(t, "redis-server not found (%s)", envRedisBin)
		}
		in = &instance{kind: kind, dir: dir}
		for range 3 {
			in.procs = append(in.procs, redisProc(t, bin, dir, true))
		}
		in.settle = func(ctx context.Context) error { return clusterOK(ctx, in.addrs()) }
	case "memcache":
		bin := findFile(envMemcachedBin, "memcached", "/usr/bin/memcached")
		if bin == "" {
			missing(t, "memcached not found (%s)", envMemcachedBin)
		}
		in = &instance{kind: kind, dir: dir}
		for range 2 {
			in.procs = append(in.procs, memcachedProc(t, bin, dir))
		}
	case "mongodb":
		bin := findFile(envFerretDBBin, filepath.Join(cacheDir(), "ferretdb-v1.24.2"))
		if bin == "" {
			missing(t, "the FerretDB launcher was not found (%s; scripts/backends/mongodb.sh builds it)", envFerretDBBin)
		}
		port := freePort(t, false)
		d := filepath.Join(dir, strconv.Itoa(port))
		in = &instance{kind: kind, dir: dir, procs: []*proc{{
			name: "ferretdb:" + strconv.Itoa(port), bin: bin,
			args:    []string{"-listen", "127.0.0.1:" + strconv.Itoa(port), "-data", filepath.Join(d, "data")},
			logPath: d + ".log", addr: "127.0.0.1:" + strconv.Itoa(port), ready: tcpReady,
		}}}
	case "firestore":
		// Google's emulator (Java, in memory), started as scripts/test
		// does: through gcloud, in a process group of its own, with
		// gcloud's configuration in the run's directory and no lookup of
		// a GCE metadata server.
		bin := gcloudFirestore()
		if bin == "" {
			missing(t, "gcloud with the Firestore emulator was not found (%s; scripts/backends/firestore.sh installs google-cloud-cli-firestore-emulator)", envGcloudBin)
		}
		port := freePort(t, false)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		d := filepath.Join(dir, strconv.Itoa(port))
		if err := os.MkdirAll(filepath.Join(d, "gcloud"), 0o755); err != nil {
			t.Fatal(err)
		}
		in = &instance{kind: kind, dir: dir, procs: []*proc{{
			name: "firestore-emulator:" + strconv.Itoa(port), bin: bin,
			args: []string{"emulators", "firestore", "start", "--host-port=" + addr},
			env: []string{"CLOUDSDK_CONFIG=" + filepath.Join(d, "gcloud"), "CLOUDSDK_CORE_CHECK_GCE_METADATA=false",
				"CLOUDSDK_CORE_DISABLE_PROMPTS=1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
				"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true"},
			logPath: d + ".log", addr: addr, ready: firestoreReady, group: true,
		}}}
	case "postgres":
		in = &instance{kind: kind, dir: dir, procs: []*proc{postgresProc(t, dir)}}
	default:
		t.Fatalf("unknown backend kind %q", kind)
	}
	for _, p := range in.procs {
		if err := os.MkdirAll(filepath.Dir(p.logPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := p.start(); err != nil {
			in.kill()
			t.Fatalf("%s: %v", kind, err)
		}
	}
	if kind == "redis-cluster" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := createCluster(ctx, in.addrs()); err != nil {
			in.kill()
			t.Fatalf("redis-cluster: %v", err)
		}
	}
	instances[kind] = in
	return in
}

// redisProc describes a redis-server that keeps its data in an append-only
// file fsynced at every write, so that a killed server loses nothing.
func redisProc(t testing.TB, bin, dir string, cluster bool) *proc {
	port := freePort(t, cluster)
	d := filepath.Join(dir, strconv.Itoa(port))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", d,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--logfile", ""}
	if cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
	}
	return &proc{
		name: "redis-server:" + strconv.Itoa(port), bin: bin, args: args,
		logPath: filepath.Join(d, "redis.log"), addr: "127.0.0.1:" + strconv.Itoa(port), ready: redisReady,
	}
}

// memcachedProc describes a memcached (in memory: a restart loses its data).
func memcachedProc(t testing.TB, bin, dir string) *proc {
	port := freePort(t, false)
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses to run as root without -u
	}
	return &proc{
		name: "memcached:" + strconv.Itoa(port), bin: bin, args: args,
		logPath: filepath.Join(dir, strconv.Itoa(port)+".log"), addr: "127.0.0.1:" + strconv.Itoa(port), ready: memcachedReady,
	}
}

// createCluster makes a three-master Redis Cluster of fresh nodes, as
// redis-cli --cluster create does: a config epoch each, a third of the
// slots each, and a MEET of the others.
func createCluster(ctx context.Context, addrs []string) error {
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, a := range addrs {
		c := goredis.NewClient(&goredis.Options{Addr: a})
		err := c.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err()
		if err == nil {
			err = c.ClusterAddSlotsRange(ctx, ranges[i][0], ranges[i][1]).Err()
		}
		if err == nil && i > 0 {
			host, port, _ := net.SplitHostPort(addrs[0])
			err = c.ClusterMeet(ctx, host, port).Err()
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", a, err)
		}
	}
	return clusterOK(ctx, addrs)
}

// clusterOK waits until every node says cluster_state:ok and knows all the
// others.
func clusterOK(ctx context.Context, addrs []string) error {
	var last error
	for {
		last = nil
		for _, a := range addrs {
			c := goredis.NewClient(&goredis.Options{Addr: a})
			info, err := c.ClusterInfo(ctx).Result()
			c.Close()
			switch {
			case err != nil:
				last = fmt.Errorf("node %s: %w", a, err)
			case !strings.Contains(info, "cluster_state:ok"):
				last = fmt.Errorf("node %s: cluster_state is not ok", a)
			case !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(addrs))):
				last = fmt.Errorf("node %s does not know all %d nodes yet", a, len(addrs))
			}
			if last != nil {
				break
			}
		}
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready: %w", last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopServers kills every instance the tests started and removes their
// data (SESSIONPLUS_KEEP_RUN_DIR keeps it).
func stopServers() {
	srvMu.Lock()
	defer srvMu.Unlock()
	for _, in := range instances {
		in.kill()
	}
	if baseDir != "" && os.Getenv("SESSIONPLUS_KEEP_RUN_DIR") == "" {
		os.RemoveAll(baseDir)
	}
}
