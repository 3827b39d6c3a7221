// Command report turns the outputs of a benchmark run into the Markdown
// tables of BENCHMARKS.md and checks the targets of issue 8:
//
//	report -inproc inproc.txt -roundtrips roundtrips.tsv -loopback loopback.json
//
// Every figure is also given as a ratio to bare from the same run. An
// in-process figure is the median of its samples; an in-process ratio is the
// median over the passes of the ratio within each pass (the i-th sample of
// one benchmark over the i-th of the other: scripts/bench takes the samples
// in passes, so these ran seconds apart). A loopback ratio is likewise the
// median over the repetitions of the ratio within each repetition.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"

	"github.com/sessionplus/sessionplus/bench/app"
)

func main() {
	inproc := flag.String("inproc", "", "go test -bench output (several passes may be concatenated)")
	roundtrips := flag.String("roundtrips", "", "TestRoundTrips table (tab-separated)")
	loopback := flag.String("loopback", "", "loadgen -json output")
	commandstats := flag.String("commandstats", "", "redis-cli info commandstats output")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("report: ")

	r := &report{w: bufio.NewWriter(os.Stdout)}
	defer r.w.Flush()
	if *inproc != "" {
		if err := r.readInProc(*inproc); err != nil {
			log.Fatal(err)
		}
	}
	if *roundtrips != "" {
		if err := r.readRoundTrips(*roundtrips); err != nil {
			log.Fatal(err)
		}
	}
	if *loopback != "" {
		if err := r.readLoopback(*loopback); err != nil {
			log.Fatal(err)
		}
	}
	if *commandstats != "" {
		b, err := os.ReadFile(*commandstats)
		if err != nil {
			log.Fatal(err)
		}
		r.cmdstats = string(b)
	}
	r.targets()
	r.inProcTables()
	r.roundTripTable()
	r.commandStatsTable()
	r.loopbackTables()
}

type key struct{ scenario, contender string }

type report struct {
	w *bufio.Writer

	samples map[key]map[string][]float64 // unit -> values
	floor   map[string][]float64         // RedisFloor client -> sec/op
	floorA  map[string][]float64         // RedisFloor client -> allocs/op
	floorC  map[string][]float64         // RedisFloor client -> cpu-ns/op

	rtRows   []rtRow
	cmdstats string

	loop []loopResult
}

type rtRow struct {
	contender, scenario string
	request             int
	trips               int
	cmds                string
}

type loopResult struct {
	Rep       int     `json:"rep"`
	Scenario  string  `json:"scenario"`
	Contender string  `json:"contender"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	RPS       float64 `json:"rps"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
}

func (r *report) readInProc(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r.samples = map[key]map[string][]float64{}
	r.floor = map[string][]float64{}
	r.floorA = map[string][]float64{}
	r.floorC = map[string][]float64{}
	br := benchfmt.NewReader(f, path)
	for br.Scan() {
		res, ok := br.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		base, parts := res.Name.Parts()
		kv := map[string]string{}
		for _, p := range parts {
			if k, v, ok := strings.Cut(strings.TrimPrefix(string(p), "/"), "="); ok && p[0] == '/' {
				kv[k] = v
			}
		}
		switch string(base) {
		case "InProc":
			k := key{kv["scenario"], kv["contender"]}
			if r.samples[k] == nil {
				r.samples[k] = map[string][]float64{}
			}
			for _, v := range res.Values {
				r.samples[k][v.Unit] = append(r.samples[k][v.Unit], v.Value)
			}
		case "RedisFloor":
			for _, v := range res.Values {
				switch v.Unit {
				case "sec/op":
					r.floor[kv["client"]] = append(r.floor[kv["client"]], v.Value)
				case "allocs/op":
					r.floorA[kv["client"]] = append(r.floorA[kv["client"]], v.Value)
				case "cpu-sec/op":
					r.floorC[kv["client"]] = append(r.floorC[kv["client"]], v.Value)
				}
			}
		}
	}
	return br.Err()
}

func (r *report) readRoundTrips(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if len(f) != 5 {
			continue
		}
		req, _ := strconv.Atoi(f[2])
		n, _ := strconv.Atoi(f[3])
		r.rtRows = append(r.rtRows, rtRow{f[0], f[1], req, n, f[4]})
	}
	return nil
}

func (r *report) readLoopback(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &r.loop)
}

// median returns the median of xs, NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// stat returns the median of unit for scenario and contender.
func (r *report) stat(scenario, contender, unit string) float64 {
	return median(r.samples[key{scenario, contender}][unit])
}

// ratio returns the median over the passes of a's unit divided by b's in
// the same pass.
func (r *report) ratio(a, b key, unit string) float64 {
	as, bs := r.samples[a][unit], r.samples[b][unit]
	var rs []float64
	for i := range min(len(as), len(bs)) {
		rs = append(rs, as[i]/bs[i])
	}
	return median(rs)
}

// ratioRange returns the smallest and largest of the per-pass ratios of
// a's unit to b's, as "min–max".
func (r *report) ratioRange(a, b key, unit string) string {
	lo, hi, _ := r.ratioBounds(a, b, unit)
	return fmt.Sprintf("%.2f–%.2f", lo, hi)
}

// ratioBounds returns the smallest and largest of the per-pass ratios of
// a's unit to b's, and how many passes there were.
func (r *report) ratioBounds(a, b key, unit string) (lo, hi float64, n int) {
	as, bs := r.samples[a][unit], r.samples[b][unit]
	lo, hi = math.Inf(1), math.Inf(-1)
	for i := range min(len(as), len(bs)) {
		lo, hi = min(lo, as[i]/bs[i]), max(hi, as[i]/bs[i])
		n++
	}
	return lo, hi, n
}

// minRuns is the fewest passes or repetitions a timing verdict is drawn
// from.
const minRuns = 3

// timingVerdict judges a timing target from the spread of its per-run
// ratios: "met" only when every run meets it, "missed" when none does, and
// "not shown" when the target lies inside the spread (or there were fewer
// than minRuns runs): this machine is noisy, and one run proves nothing.
func timingVerdict(lo, hi float64, n int, meets func(float64) bool) string {
	switch {
	case n < minRuns:
		return fmt.Sprintf("not shown (%d runs, %d needed)", n, minRuns)
	case meets(lo) && meets(hi):
		return "met"
	case !meets(lo) && !meets(hi):
		return "**missed**"
	}
	return "not shown (inside the spread)"
}

// spread returns the largest deviation of a sample from the median, as a
// fraction of it.
func (r *report) spread(scenario, contender, unit string) float64 {
	xs := r.samples[key{scenario, contender}][unit]
	m := median(xs)
	d := 0.0
	for _, x := range xs {
		d = max(d, math.Abs(x-m)/m)
	}
	return d
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

func micro(sec float64) string { return fmt.Sprintf("%.2f µs", sec*1e6) }

func (r *report) inProcTables() {
	if r.samples == nil {
		return
	}
	r.printf("## In-process (testing.B, httptest, -benchmem)\n\n")
	r.printf("time/op, CPU/op, allocs/op, B/op: median of the samples; ±: the largest deviation of a sample from that median; ×bare: the median over the passes of time/op divided by bare's in the same scenario and pass. CPU/op is the process's CPU time (user and system, every thread, the garbage collector's included; not the Redis server's) per request: for the Redis contenders, time/op minus CPU/op is roughly the time spent waiting for Redis.\n\n")
	for _, sc := range app.Scenarios {
		r.printf("### %s\n\n", sc)
		r.printf("| contender | time/op | ± | ×bare | CPU/op | allocs/op | allocs − bare | B/op | Redis round trips/op |\n")
		r.printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		ba := r.stat(sc, "bare", "allocs/op")
		for _, c := range app.Contenders {
			k := key{sc, c}
			if r.samples[k] == nil {
				continue
			}
			t, a, by := r.stat(sc, c, "sec/op"), r.stat(sc, c, "allocs/op"), r.stat(sc, c, "B/op")
			rt := "–"
			if xs := r.samples[k]["redis-rt/op"]; xs != nil {
				rt = fmt.Sprintf("%.2f", median(xs))
			}
			r.printf("| %s | %s | %.0f%% | %.2f× | %s | %.0f | %.0f | %.0f | %s |\n",
				c, micro(t), 100*r.spread(sc, c, "sec/op"), r.ratio(k, key{sc, "bare"}, "sec/op"),
				micro(r.stat(sc, c, "cpu-sec/op")), a, a-ba, by, rt)
		}
		r.printf("\n")
	}
	if len(r.floor) > 0 {
		r.printf("### Redis round trip alone (BenchmarkRedisFloor)\n\n")
		r.printf("| client | time/op | CPU/op | allocs/op |\n|---|---:|---:|---:|\n")
		for _, c := range []string{"go-redis", "redigo"} {
			if xs := r.floor[c]; xs != nil {
				r.printf("| %s | %s | %s | %.0f |\n", c, micro(median(xs)), micro(median(r.floorC[c])), median(r.floorA[c]))
			}
		}
		r.printf("\n")
	}
}

func (r *report) roundTripTable() {
	if len(r.rtRows) == 0 {
		return
	}
	r.printf("## Redis round trips per request (TestRoundTrips)\n\n")
	r.printf("Counted with a goredis.Hook on the client passed as \"client\" (sessionplus) and a counting redigo connection (scs), on the third request of each scenario (the first may warm a cache).\n\n")
	r.printf("| contender | scenario | round trips | commands |\n|---|---|---:|---|\n")
	for _, row := range r.rtRows {
		if row.request != 3 {
			continue
		}
		cmds := row.cmds
		if cmds == "" {
			cmds = "none"
		}
		r.printf("| %s | %s | %d | %s |\n", row.contender, row.scenario, row.trips, strings.ReplaceAll(cmds, "\x00", "\\0"))
	}
	r.printf("\n")
}

// commandStatsTable shows the Redis server's own time per call of the
// commands the Redis contenders send.
func (r *report) commandStatsTable() {
	if r.cmdstats == "" {
		return
	}
	r.printf("## Redis server time per command (INFO commandstats, over the in-process run)\n\n")
	r.printf("| command | calls | µs per call | sent by |\n|---|---:|---:|---|\n")
	by := map[string]string{
		"get":       "scs read",
		"multi":     "scs save, sessionplus new",
		"exec":      "scs save, sessionplus new (its time covers the queued commands)",
		"set":       "scs save (queued)",
		"pexpireat": "scs save and sessionplus new (queued), sessionplus save script",
		"hgetall":   "sessionplus read",
		"evalsha":   "sessionplus field-level save (its time covers the script's own calls)",
		"hset":      "sessionplus new (queued), sessionplus save script",
		"hget":      "sessionplus save script",
		"del":       "sessionplus new (queued)",
	}
	for line := range strings.Lines(r.cmdstats) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || by[name] == "" {
			continue
		}
		f := map[string]string{}
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		r.printf("| %s | %s | %s | %s |\n", strings.ToUpper(name), f["calls"], f["usec_per_call"], by[name])
	}
	r.printf("\n")
}

// loopStat returns, over the repetitions, the median of the contender's
// figure and the median of its ratio to bare within each repetition.
func (r *report) loopStat(scenario, contender string, fig func(loopResult) float64) (raw, ratio float64, n int) {
	bare := map[int]float64{}
	for _, l := range r.loop {
		if l.Scenario == scenario && l.Contender == "bare" {
			bare[l.Rep] = fig(l)
		}
	}
	var raws, ratios []float64
	for _, l := range r.loop {
		if l.Scenario == scenario && l.Contender == contender {
			raws = append(raws, fig(l))
			if b, ok := bare[l.Rep]; ok {
				ratios = append(ratios, fig(l)/b)
			}
		}
	}
	return median(raws), median(ratios), len(raws)
}

// loopPair returns the median over repetitions of a's figure divided by
// b's in the same repetition.
func (r *report) loopPair(scenario, a, b string, fig func(loopResult) float64) float64 {
	return median(r.loopPairs(scenario, a, b, fig))
}

// loopPairs returns a's figure divided by b's, one ratio per repetition.
func (r *report) loopPairs(scenario, a, b string, fig func(loopResult) float64) []float64 {
	of := func(c string) map[int]float64 {
		m := map[int]float64{}
		for _, l := range r.loop {
			if l.Scenario == scenario && l.Contender == c {
				m[l.Rep] = fig(l)
			}
		}
		return m
	}
	am, bm := of(a), of(b)
	var ratios []float64
	for rep, x := range am {
		if y, ok := bm[rep]; ok {
			ratios = append(ratios, x/y)
		}
	}
	return ratios
}

func rps(l loopResult) float64 { return l.RPS }
func p99(l loopResult) float64 { return l.P99us }

func (r *report) loopbackTables() {
	if len(r.loop) == 0 {
		return
	}
	reps := 0
	for _, l := range r.loop {
		reps = max(reps, l.Rep)
	}
	r.printf("## Loopback (one process per contender, 4 keep-alive workers)\n\n")
	r.printf("Median over %d repetitions; ×bare is the median of the ratio to bare within each repetition.\n\n", reps)
	for _, sc := range app.Scenarios {
		found := false
		for _, l := range r.loop {
			found = found || l.Scenario == sc
		}
		if !found {
			continue
		}
		r.printf("### %s\n\n", sc)
		r.printf("| contender | req/s | ×bare | p99 | p99 ×bare | errors |\n|---|---:|---:|---:|---:|---:|\n")
		for _, c := range app.Contenders {
			raw, ratio, n := r.loopStat(sc, c, rps)
			if n == 0 {
				continue
			}
			praw, pratio, _ := r.loopStat(sc, c, p99)
			errs := 0
			for _, l := range r.loop {
				if l.Scenario == sc && l.Contender == c {
					errs += l.Errors
				}
			}
			r.printf("| %s | %.0f | %.2f× | %.0f µs | %.2f× | %d |\n", c, raw, ratio, praw, pratio, errs)
		}
		r.printf("\n")
	}
}

// targets checks the targets of issue 8.
func (r *report) targets() {
	r.printf("## Targets\n\n| target | measured | verdict |\n|---|---|---|\n")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	rtOf := func(contender, scenario string) (int, string, bool) {
		for _, row := range r.rtRows {
			if row.contender == contender && row.scenario == scenario && row.request == 3 {
				return row.trips, row.cmds, true
			}
		}
		return 0, "", false
	}
	if r.samples != nil {
		bareOf := func(sc, c string) float64 { return r.ratio(key{sc, c}, key{sc, "bare"}, "sec/op") }
		for _, sc := range []string{app.ScenarioRead, app.ScenarioWrite} {
			sp, g := r.stat(sc, "sessionplus-cookie", "sec/op"), r.stat(sc, "gorilla-cookie", "sec/op")
			x := r.ratio(key{sc, "sessionplus-cookie"}, key{sc, "gorilla-cookie"}, "sec/op")
			cpu := r.ratio(key{sc, "sessionplus-cookie"}, key{sc, "gorilla-cookie"}, "cpu-sec/op")
			lo, hi, n := r.ratioBounds(key{sc, "sessionplus-cookie"}, key{sc, "gorilla-cookie"}, "sec/op")
			r.printf("| sessionplus-cookie %s ≤ 0.35× gorilla-cookie time | median %.3f× (%d passes %.2f–%.2f; %s vs %s; %.2f× vs %.2f× bare; CPU/op %.2f×) | %s |\n",
				sc, x, n, lo, hi,
				micro(sp), micro(g), bareOf(sc, "sessionplus-cookie"), bareOf(sc, "gorilla-cookie"), cpu, timingVerdict(lo, hi, n, func(v float64) bool { return v <= 0.35 }))
			a, ba := r.stat(sc, "sessionplus-cookie", "allocs/op"), r.stat(sc, "bare", "allocs/op")
			r.printf("| sessionplus-cookie %s ≤ 60 allocs/request | %.0f allocs/op (%.0f above bare's %.0f) | %s |\n",
				sc, a, a-ba, ba, verdict(a <= 60))
		}
		for _, sc := range []string{app.ScenarioRead, app.ScenarioWrite} {
			sp, s := r.stat(sc, "sessionplus-redis", "sec/op"), r.stat(sc, "scs-redis", "sec/op")
			x := r.ratio(key{sc, "sessionplus-redis"}, key{sc, "scs-redis"}, "sec/op")
			cpu := r.ratio(key{sc, "sessionplus-redis"}, key{sc, "scs-redis"}, "cpu-sec/op")
			lo, hi, n := r.ratioBounds(key{sc, "sessionplus-redis"}, key{sc, "scs-redis"}, "sec/op")
			r.printf("| sessionplus-redis %s ≤ 0.7× scs-redis time | median %.3f× (%d passes %.2f–%.2f; %s vs %s; %.2f× vs %.2f× bare; CPU/op %.2f×) | %s |\n",
				sc, x, n, lo, hi,
				micro(sp), micro(s), bareOf(sc, "sessionplus-redis"), bareOf(sc, "scs-redis"), cpu, timingVerdict(lo, hi, n, func(v float64) bool { return v <= 0.7 }))
		}
		for _, sc := range []string{app.ScenarioRead, app.ScenarioWrite} {
			if r.samples[key{sc, "sessionplus-postgres"}] == nil || r.samples[key{sc, "scs-postgres"}] == nil {
				continue
			}
			x := r.ratio(key{sc, "sessionplus-postgres"}, key{sc, "scs-postgres"}, "sec/op")
			lo, hi, n := r.ratioBounds(key{sc, "sessionplus-postgres"}, key{sc, "scs-postgres"}, "sec/op")
			cpu := r.ratio(key{sc, "sessionplus-postgres"}, key{sc, "scs-postgres"}, "cpu-sec/op")
			r.printf("| sessionplus-postgres %s vs scs-postgres time (compared, no target set) | median %.3f× (%d passes %.2f–%.2f; %s vs %s; CPU/op %.2f×) | %s |\n",
				sc, x, n, lo, hi, micro(r.stat(sc, "sessionplus-postgres", "sec/op")), micro(r.stat(sc, "scs-postgres", "sec/op")), cpu,
				timingVerdict(lo, hi, n, func(v float64) bool { return v <= 1 })+" (at most scs's time)")
		}
		rco, cr := r.stat(app.ScenarioReadCookieOnly, "sessionplus-seed", "sec/op"), r.stat(app.ScenarioRead, "sessionplus-cookie", "sec/op")
		x := r.ratio(key{app.ScenarioReadCookieOnly, "sessionplus-seed"}, key{app.ScenarioRead, "sessionplus-cookie"}, "sec/op")
		lo, hi, n := r.ratioBounds(key{app.ScenarioReadCookieOnly, "sessionplus-seed"}, key{app.ScenarioRead, "sessionplus-cookie"}, "sec/op")
		r.printf("| sessionplus-seed read-cookie-only ≤ 1.3× sessionplus-cookie read | median %.3f× (%d passes %.2f–%.2f; %s vs %s) | %s |\n",
			x, n, lo, hi, micro(rco), micro(cr), timingVerdict(lo, hi, n, func(v float64) bool { return v <= 1.3 }))
	}
	if n, cmds, ok := rtOf("sessionplus-redis", app.ScenarioRead); ok {
		r.printf("| sessionplus-redis read: exactly 1 Redis round trip | %d (%s) | %s |\n", n, cmds, verdict(n == 1))
	}
	if n, cmds, ok := rtOf("sessionplus-redis", app.ScenarioWrite); ok {
		saves := 0
		for c := range strings.SplitSeq(cmds, ", ") {
			if c != "HGETALL" && c != "" {
				saves++
			}
		}
		r.printf("| sessionplus-redis write: 1 round trip for the save | %d for the save, %d in all (%s: the read before the write, then the save) | %s |\n",
			saves, n, cmds, verdict(saves == 1))
	}
	for _, sc := range []string{app.ScenarioRead, app.ScenarioWrite} {
		if n, cmds, ok := rtOf("sessionplus-postgres", sc); ok {
			sn, scmds, _ := rtOf("scs-postgres", sc)
			r.printf("| sessionplus-postgres %s: PostgreSQL round trips (scs-postgres) | %d (%s); scs %d (%s) | %s |\n",
				sc, n, cmds, sn, scmds, verdict(n <= sn))
		}
	}
	if n, cmds, ok := rtOf("sessionplus-seed", app.ScenarioReadCookieOnly); ok {
		if cmds == "" {
			cmds = "none"
		}
		r.printf("| sessionplus-seed read-cookie-only: 0 Redis round trips | %d (%s) | %s |\n", n, cmds, verdict(n == 0))
	}
	if len(r.loop) > 0 {
		for _, sc := range []string{app.ScenarioRead, app.ScenarioWrite} {
			x := r.loopPair(sc, "sessionplus-cookie", "gorilla-cookie", rps)
			if math.IsNaN(x) {
				continue
			}
			_, a, _ := r.loopStat(sc, "sessionplus-cookie", rps)
			_, b, _ := r.loopStat(sc, "gorilla-cookie", rps)
			rs := r.loopPairs(sc, "sessionplus-cookie", "gorilla-cookie", rps)
			r.printf("| loopback %s: sessionplus-cookie ≥ 1.5× gorilla-cookie req/s | median %.2f× (%d repetitions %.2f–%.2f; %.2f× vs %.2f× bare) | %s |\n",
				sc, x, len(rs), slices.Min(rs), slices.Max(rs), a, b, timingVerdict(slices.Min(rs), slices.Max(rs), len(rs), func(v float64) bool { return v >= 1.5 }))
		}
	}
	r.printf("\n")
}
