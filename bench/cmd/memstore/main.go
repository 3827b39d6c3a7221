// Command memstore measures the memory driver (issue 15) against the store
// it replaced, the baseline copied from commit 3b24909 (baseline.go), in
// one run. For each size, each store is measured -runs times, the two in
// alternating order, and the table gives the median and, in brackets, the
// lowest and highest of the runs. Each measurement has three parts:
//
//   - memory: the live heap that a store filled with the sessions adds,
//     after a collection, divided by their number. A session is a token of
//     "session:" + 43 characters (as the root package makes) and two
//     fields of 40 bytes.
//   - load: a fraction (-expiring) of the sessions is set to expire
//     uniformly over a window (-duration), and during it -workers
//     goroutines send Load, Write and Touch (70%, 20%, 10%, on random
//     sessions, keeping each session's expiry) as fast as they can,
//     yielding between two, as a server's goroutines do while they wait on
//     their connections. A probe sends one Load or Write about every
//     millisecond besides. A worker blocked behind a long sweep is one
//     sample however long it waits, so a stall shows in the workers'
//     maximum but hardly in their p99; the probe's requests arrive on a
//     clock of their own, so the share of them that a stall delays is the
//     share of the time it lasts.
//   - sweep: a new store is filled, every session set to expire at one
//     instant; after it, one goroutine alone Creates new sessions until
//     every expired one has been reclaimed, with the garbage collector
//     off, so that what is timed is the store's own work. The longest of
//     those calls is the longest a request waited for sweeping. Then, for
//     as long again, a loop that does nothing but read the clock records
//     its longest gap: the floor that the machine itself sets (another
//     process given the core, a page fault).
//
// The machine's load average is printed: other processes may share the
// cores, and their spells show in the maxima of both stores alike.
//
//	cd bench && go run ./cmd/memstore -sizes 100000,1000000 -runs 3
//
// A run on 2 cores (go1.26.8, GOMAXPROCS 2, load average about 1 from
// other processes), median (lowest–highest) of 3 runs:
//
//	                         100k baseline      100k memory          1M baseline          1M memory
//	heap B/session           633                283                  677                  299
//	load: ops/s              526k (509-595k)    844k (835k-1.06M)    294k (279-308k)      489k (488-537k)
//	probe p99 Load           53µs (52-55)       6.5µs (5.1-6.5)      74µs (58-82)         39µs (35-43)
//	probe p99 Write          54µs (50-57)       8.2µs (5.9-9.5)      84µs (70-88)         31µs (28-32)
//	probe p99.9              557µs (434µs-1ms)  58µs (57-76)         270µs (234µs-1.1ms)  100µs (88-270)
//	probe max                5.9ms (5.8-6.1)    200µs (183µs-1.7ms)  52ms (51-55)         4.1ms (3.8-12.1)
//	workers p99 Load         7.7µs (6.5-8.4)    3.6µs (2.8-3.9)      39µs (32-42)         30µs (29-30)
//	workers p99 Write        9.2µs (7.7-10.5)   3.9µs (3.2-4.2)      44µs (40-49)         14µs (11-14)
//	workers max              8.1ms (8.1-10.0)   8.1ms (5.0-8.1)      55ms (53-56)         24ms (15-27)
//	held/live at the end     1.01               1.00                 1.10 (1.06-1.16)     1.00
//	sweep: longest call      36ms (33-39)       256µs (212-393)      302ms (270-318)      3.6ms (3.0-4.5)
//	sweep: p99.9             541µs (516-655)    109µs (78-111)       303µs (254-311)      148µs (143-193)
//	empty loop: longest gap  1.6ms (0.2-2.8)    1.3ms (0.2-4.2)      5.1ms (3.7-10.1)     2.7ms (2.4-3.4)
//
// In a 10 s window the old store sweeps its whole map once or twice, so
// its stall moves the probe's p99 less than twofold; it shows in the
// maxima and in the sweep part. The new store's maxima come from the
// machine, not from sweeping (compare the empty loop): with -workers 1,
// which leaves a core to the probe, one run at 1,000,000 sessions gave a
// probe maximum of 136µs and a workers' maximum of 6.6ms.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/bits"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// store is what both contenders offer.
type store interface {
	sessionplus.Store
	Len() int
}

var contenders = []struct {
	name string
	make func(sessions int) store
}{
	{"baseline (3b24909)", func(int) store { return newBaseline() }},
	{"memory (sharded)", func(sessions int) store {
		// Room for every session, and for those the sweep part adds: this
		// command measures sweeping, not eviction.
		st, err := memory.NewWithOptions(&memory.Options{MaxSessions: 3 * sessions})
		if err != nil {
			log.Fatal(err)
		}
		return st
	}},
}

type config struct {
	sizes    []int
	runs     int
	duration time.Duration
	workers  int
	expiring float64
	probe    time.Duration
	only     string
}

func main() {
	var c config
	sizes := flag.String("sizes", "100000,1000000", "comma-separated numbers of sessions")
	flag.IntVar(&c.runs, "runs", 3, "measurements of each size and store")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "the window of load of each measurement")
	flag.IntVar(&c.workers, "workers", runtime.GOMAXPROCS(0), "goroutines sending requests as fast as they can")
	flag.Float64Var(&c.expiring, "expiring", 0.5, "the fraction of the sessions that expire during the window")
	flag.DurationVar(&c.probe, "probe", time.Millisecond, "the pause between two requests of the probe")
	flag.StringVar(&c.only, "only", "", "measure only the store whose name starts with this (baseline, memory)")
	timeout := flag.Duration("timeout", 30*time.Minute, "bound of the whole run")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("memstore: ")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("-sizes: %q is not a positive number", s)
		}
		c.sizes = append(c.sizes, n)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	time.AfterFunc(*timeout, func() {
		log.Printf("over -timeout %v: stopping", *timeout)
		os.Exit(2)
	})

	fmt.Printf("go %s, GOMAXPROCS %d, %d workers, %v windows, %.0f%% of sessions expiring in the window, %d runs; load average %s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), c.workers, c.duration, 100*c.expiring, c.runs, loadAverage())
	var rows []row
	for _, n := range c.sizes {
		w := newWorkload(n, c)
		results := make([][]result, len(contenders))
		for run := range c.runs {
			order := []int{0, 1}
			if run%2 == 1 {
				order = []int{1, 0}
			}
			for _, i := range order {
				if !strings.HasPrefix(contenders[i].name, c.only) {
					continue
				}
				r := measure(contenders[i].make, w, c)
				log.Printf("%d sessions, run %d, %s: %s (load %s)", n, run+1, contenders[i].name, r, loadAverage())
				results[i] = append(results[i], r)
			}
		}
		for i := range contenders {
			if len(results[i]) > 0 {
				rows = append(rows, row{sessions: n, store: contenders[i].name, runs: results[i]})
			}
		}
	}
	printTable(rows)
	fmt.Printf("\nload average at the end: %s\n", loadAverage())
}

// loadAverage returns the machine's load averages over 1, 5 and 15
// minutes, as Linux reports them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// workload is what every measurement of one size sends: the tokens, each
// session's expiry, relative to the start of the window, and the values.
type workload struct {
	tokens []string
	expiry []time.Duration // from the start of the window
	fields map[string][]byte
	write  map[string][]byte
}

// long is the expiry of the sessions that do not expire in the window.
const long = 24 * time.Hour

func newWorkload(n int, c config) *workload {
	w := &workload{
		tokens: make([]string, n),
		expiry: make([]time.Duration, n),
		fields: map[string][]byte{"user_id": value(40), "csrf_token": value(40)},
		write:  map[string][]byte{"csrf_token": value(40)},
	}
	for i := range n {
		w.tokens[i] = "session:" + base64.RawURLEncoding.EncodeToString(value(32))
		w.expiry[i] = long
		if mrand.Float64() < c.expiring {
			w.expiry[i] = time.Duration(mrand.Int64N(int64(c.duration)))
		}
	}
	return w
}

func value(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// result is one measurement of one store.
type result struct {
	bytesPerSession float64

	// load
	opsPerSec      float64
	probe, workers [2]histogram // by op: load, save (Write or Touch)
	heldAtEnd      int          // records held when the window closed
	liveAtEnd      int          // sessions whose expiry had not passed then
	gcs            uint32       // garbage collections in the window
	gcPause        time.Duration

	// sweep
	sweep      histogram // of the Creates until every expired record was reclaimed
	sweepCalls int
	floor      time.Duration // the longest gap of an empty loop
}

const (
	opLoad = iota
	opSave
)

func (r result) String() string {
	return fmt.Sprintf("%.0f B/session; load: %.0f ops/s, probe p99 Load %s Write %s, p99.9 %s, max %s, over 1ms %.2f%%; "+
		"workers p99 Load %s Write %s, max %s; held/live at the end %d/%d; %d GCs paused %v; "+
		"sweep: %d calls, p99.9 %s, longest %s (empty loop: %s)",
		r.bytesPerSession, r.opsPerSec,
		fmtDur(r.probe[opLoad].quantile(0.99)), fmtDur(r.probe[opSave].quantile(0.99)),
		fmtDur(r.probeAll().quantile(0.999)), fmtDur(r.probeAll().max), 100*r.probeAll().over(time.Millisecond),
		fmtDur(r.workers[opLoad].quantile(0.99)), fmtDur(r.workers[opSave].quantile(0.99)),
		fmtDur(max(r.workers[0].max, r.workers[1].max)),
		r.heldAtEnd, r.liveAtEnd, r.gcs, r.gcPause.Round(time.Microsecond),
		r.sweepCalls, fmtDur(r.sweep.quantile(0.999)), fmtDur(r.sweep.max), fmtDur(r.floor))
}

func (r result) probeAll() *histogram {
	var h histogram
	h.merge(&r.probe[0])
	h.merge(&r.probe[1])
	return &h
}

// measure runs the three parts of one measurement of a store.
func measure(newStore func(int) store, w *workload, c config) result {
	var r result
	r.bytesPerSession = load(&r, newStore, w, c)
	t0 := time.Now()
	r.sweepCalls = sweep(&r.sweep, newStore, w)
	r.floor = floor(max(time.Since(t0), 100*time.Millisecond))
	return r
}

// fill returns a new store holding w's sessions, all expiring in a day.
// The store owns a copy of each token, as it owns the key the root package
// makes for every request.
func fill(newStore func(int) store, w *workload) store {
	ctx := context.Background()
	st := newStore(len(w.tokens))
	for _, tok := range w.tokens {
		u := sessionplus.Update{Kind: sessionplus.Create, Set: w.fields, Expiry: time.Now().Add(long)}
		if _, err := st.Save(ctx, strings.Clone(tok), u); err != nil {
			log.Fatal(err)
		}
	}
	return st
}

// expireAt gives session i of w, for each i that keep selects, the expiry
// at + offset(i), by a keep-alive.
func expireAt(st store, w *workload, at time.Time, keep func(i int) bool, offset func(i int) time.Duration) {
	for i, tok := range w.tokens {
		if keep(i) {
			u := sessionplus.Update{Kind: sessionplus.Touch, Expiry: at.Add(offset(i))}
			if _, err := st.Save(context.Background(), tok, u); err != nil {
				log.Fatal(err)
			}
		}
	}
}

// lead is how long after now the expiries set by keep-alives start: the
// time to send them, with room to spare.
func lead(n int) time.Duration { return 2*time.Second + time.Duration(n)*3*time.Microsecond }

// load measures the heap of a filled store and runs the window of load on
// it. It returns the heap bytes per session.
func load(r *result, newStore func(int) store, w *workload, c config) float64 {
	ctx := context.Background()
	n := len(w.tokens)
	collect()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st := fill(newStore, w)
	collect()
	runtime.ReadMemStats(&after)
	bytesPerSession := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)

	start := time.Now().Add(lead(n))
	expireAt(st, w, start, func(i int) bool { return w.expiry[i] < long }, func(i int) time.Duration { return w.expiry[i] })
	runtime.GC()
	if late := time.Since(start); late > 0 {
		log.Printf("the window opened %v late: %.0f%% of the expiring sessions had expired before it", late,
			100*late.Seconds()/c.duration.Seconds())
	}
	time.Sleep(time.Until(start))

	var gcBefore, gcAfter runtime.MemStats
	runtime.ReadMemStats(&gcBefore)
	var stop atomic.Bool
	var wg sync.WaitGroup
	workers := make([][2]histogram, c.workers)
	ops := make([]int, c.workers)
	for g := range c.workers {
		wg.Go(func() {
			done := 0
			defer func() { ops[g] = done }()
			for !stop.Load() {
				i := mrand.IntN(n)
				op, kind := opSave, sessionplus.Write
				switch p := mrand.IntN(10); {
				case p < 7:
					op = opLoad
				case p == 9:
					kind = sessionplus.Touch
				}
				t0 := time.Now()
				send(ctx, st, w, start, i, op, kind)
				workers[g][op].add(time.Since(t0))
				done++
				runtime.Gosched() // a server's goroutine waits on its connection between two requests
			}
		})
	}
	wg.Go(func() {
		for k := 0; !stop.Load(); k++ {
			time.Sleep(c.probe)
			i, op := mrand.IntN(n), k%2
			t0 := time.Now()
			send(ctx, st, w, start, i, op, sessionplus.Write)
			r.probe[op].add(time.Since(t0))
		}
	})
	windowStart := time.Now()
	time.Sleep(time.Until(start.Add(c.duration)))
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(windowStart)
	runtime.ReadMemStats(&gcAfter)
	r.gcs = gcAfter.NumGC - gcBefore.NumGC
	r.gcPause = time.Duration(gcAfter.PauseTotalNs - gcBefore.PauseTotalNs)

	end := time.Now()
	r.heldAtEnd = st.Len()
	for i := range n {
		if start.Add(w.expiry[i]).After(end) {
			r.liveAtEnd++
		}
	}
	total := 0
	for g := range c.workers {
		total += ops[g]
		r.workers[opLoad].merge(&workers[g][opLoad])
		r.workers[opSave].merge(&workers[g][opSave])
	}
	r.opsPerSec = float64(total) / elapsed.Seconds()
	return bytesPerSession
}

// send sends one request to st for session i. A session that expired is
// not found: that is expected.
func send(ctx context.Context, st store, w *workload, start time.Time, i, op int, kind sessionplus.Kind) {
	var err error
	if op == opLoad {
		_, err = st.Load(ctx, w.tokens[i])
	} else {
		u := sessionplus.Update{Kind: kind, Expiry: start.Add(w.expiry[i])}
		if kind == sessionplus.Write {
			u.Set = w.write
		}
		_, err = st.Save(ctx, w.tokens[i], u)
	}
	if err != nil && !errors.Is(err, sessionplus.ErrNotFound) {
		log.Fatal(err)
	}
}

// sweep fills a new store, lets every session expire at once, then Creates
// new sessions from one goroutine, recording each call in h, until only
// those are held. It returns the number of Creates.
func sweep(h *histogram, newStore func(int) store, w *workload) int {
	ctx := context.Background()
	n := len(w.tokens)
	collect()
	st := fill(newStore, w)
	at := time.Now().Add(lead(n))
	expireAt(st, w, at, func(int) bool { return true }, func(int) time.Duration { return 0 })
	collect()
	time.Sleep(time.Until(at) + time.Millisecond)

	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	u := sessionplus.Update{Kind: sessionplus.Create, Set: w.fields, Expiry: time.Now().Add(long)}
	calls := 0
	for ; calls < 2*n && st.Len() > calls; calls++ {
		tok := w.tokens[calls%n] + "+" + strconv.Itoa(calls)
		t0 := time.Now()
		if _, err := st.Save(ctx, tok, u); err != nil {
			log.Fatal(err)
		}
		h.add(time.Since(t0))
	}
	if st.Len() > calls {
		log.Printf("after %d Creates the store still holds %d expired records", calls, st.Len()-calls)
	}
	return calls
}

// floor returns the longest gap between two readings of the clock in a
// loop that does nothing else for d.
func floor(d time.Duration) time.Duration {
	var longest time.Duration
	last := time.Now()
	for end := last.Add(d); last.Before(end); {
		now := time.Now()
		longest = max(longest, now.Sub(last))
		last = now
	}
	return longest
}

// collect runs the garbage collector until the live heap is what remains.
func collect() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
}

// histogram counts durations in buckets of at most 1/32 of their value.
type histogram struct {
	counts [64 * 32]uint64
	total  uint64
	max    time.Duration
}

// bucket returns the index of d's bucket: exact below 64 ns, then 32
// buckets per power of two.
func bucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 64 {
		return int(v)
	}
	shift := bits.Len64(v) - 6
	return shift*32 + int(v>>shift)
}

// upper returns the largest duration of bucket i.
func upper(i int) time.Duration {
	if i < 64 {
		return time.Duration(i)
	}
	shift := i/32 - 1
	return time.Duration((uint64(i%32+32)+1)<<shift - 1)
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucket(d)]++
	h.total++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the upper edge of the bucket of the q-quantile, at
// most the largest duration seen.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(upper(i), h.max)
		}
	}
	return h.max
}

// over returns the share of the durations longer than d (to the
// resolution of the buckets).
func (h *histogram) over(d time.Duration) float64 {
	if h.total == 0 {
		return 0
	}
	var n uint64
	for i := bucket(d) + 1; i < len(h.counts); i++ {
		n += h.counts[i]
	}
	return float64(n) / float64(h.total)
}

type row struct {
	sessions int
	store    string
	runs     []result
}

func printTable(rows []row) {
	fmt.Println()
	fmt.Println("| sessions | store | heap B/session | load: ops/s | probe p99 Load | probe p99 Write | probe p99.9 | probe max | probe > 1 ms | workers p99 Load | workers p99 Write | workers max | held / live at the end | sweep: p99.9 | sweep: longest call | sweep: calls | empty loop: longest gap |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		num := func(format string, f func(result) float64) string {
			return spread(r.runs, f, func(v float64) string { return fmt.Sprintf(format, v) })
		}
		dur := func(f func(result) time.Duration) string {
			return spread(r.runs, func(x result) float64 { return float64(f(x)) },
				func(v float64) string { return fmtDur(time.Duration(v)) })
		}
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.sessions, r.store,
			num("%.0f", func(x result) float64 { return x.bytesPerSession }),
			num("%.0f", func(x result) float64 { return x.opsPerSec }),
			dur(func(x result) time.Duration { return x.probe[opLoad].quantile(0.99) }),
			dur(func(x result) time.Duration { return x.probe[opSave].quantile(0.99) }),
			dur(func(x result) time.Duration { return x.probeAll().quantile(0.999) }),
			dur(func(x result) time.Duration { return x.probeAll().max }),
			num("%.2f%%", func(x result) float64 { return 100 * x.probeAll().over(time.Millisecond) }),
			dur(func(x result) time.Duration { return x.workers[opLoad].quantile(0.99) }),
			dur(func(x result) time.Duration { return x.workers[opSave].quantile(0.99) }),
			dur(func(x result) time.Duration { return max(x.workers[0].max, x.workers[1].max) }),
			num("%.2f", func(x result) float64 { return float64(x.heldAtEnd) / float64(max(x.liveAtEnd, 1)) }),
			dur(func(x result) time.Duration { return x.sweep.quantile(0.999) }),
			dur(func(x result) time.Duration { return x.sweep.max }),
			num("%.0f", func(x result) float64 { return float64(x.sweepCalls) }),
			dur(func(x result) time.Duration { return x.floor }))
	}
}

// spread formats the median of f over runs and, in brackets, the lowest
// and the highest.
func spread(runs []result, f func(result) float64, format func(float64) string) string {
	vs := make([]float64, len(runs))
	for i, r := range runs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	med := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	if len(vs) == 1 {
		return format(med)
	}
	return fmt.Sprintf("%s (%s–%s)", format(med), format(vs[0]), format(vs[len(vs)-1]))
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
}
