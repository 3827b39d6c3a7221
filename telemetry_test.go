package sessionplus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// observed is a manager with the SDK's in-memory span recorder and a
// manual metric reader.
type observed struct {
	m      *sessionplus.Manager
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	taken  []sdktrace.ReadOnlySpan // the spans that take returned
}

func newObserved(t *testing.T, sessions []sessionplus.Options) *observed {
	t.Helper()
	return newObservedConfig(t, sessionplus.Config{Sessions: sessions})
}

// newObservedConfig is newObserved with cfg's other settings.
func newObservedConfig(t *testing.T, cfg sessionplus.Config) *observed {
	t.Helper()
	o := &observed{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	cfg.SecretKeys = [][]byte{testKey}
	cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(o.spans))
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.reader))
	m, err := sessionplus.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	o.m = m
	return o
}

// span is what a test checks of one ended span.
type span struct {
	name    string
	kind    trace.SpanKind
	attrs   map[attribute.Key]string
	status  codes.Code
	message string // the status description
	events  int
}

// take returns the spans ended since the last take, by session.
func (o *observed) take() map[string][]span {
	out := map[string][]span{}
	ended := o.spans.Ended()
	o.taken = append(o.taken, ended...)
	for _, s := range ended {
		sp := span{name: s.Name(), kind: s.SpanKind(), attrs: map[attribute.Key]string{},
			status: s.Status().Code, message: s.Status().Description, events: len(s.Events())}
		for _, kv := range s.Attributes() {
			sp.attrs[kv.Key] = kv.Value.Emit()
		}
		name := sp.attrs[sessionplus.AttrSession]
		out[name] = append(out[name], sp)
	}
	o.spans.Reset()
	return out
}

// wantSpans checks that spans are, in order, the operations ops (span
// name suffix and outcome pairs: "load", "ok", ...) of session with type typ.
func wantSpans(t *testing.T, spans []span, session, typ string, ops ...string) {
	t.Helper()
	var got []string
	for _, s := range spans {
		got = append(got, strings.TrimPrefix(s.name, "sessionplus."), s.attrs[sessionplus.AttrOutcome])
		if s.attrs[sessionplus.AttrSession] != session || s.attrs[sessionplus.AttrType] != typ {
			t.Errorf("span %s has session %q and type %q, want %q and %q", s.name, s.attrs[sessionplus.AttrSession], s.attrs[sessionplus.AttrType], session, typ)
		}
	}
	if strings.Join(got, " ") != strings.Join(ops, " ") {
		t.Errorf("spans of %q: got %q, want %q", session, got, ops)
	}
}

// collect returns the current metrics by name.
func (o *observed) collect(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := o.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != sessionplus.InstrumentationName {
			t.Errorf("metrics of scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// matches reports whether set holds every kv.
func matches(set attribute.Set, kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// value returns the sum of the int64 points of metric name whose attributes
// hold kvs; ok is false if there is no such point.
func (o *observed) value(t *testing.T, name string, kvs ...attribute.KeyValue) (n int64, ok bool) {
	t.Helper()
	var points []metricdata.DataPoint[int64]
	switch d := o.collect(t)[name].(type) {
	case metricdata.Sum[int64]:
		points = d.DataPoints
	case metricdata.Gauge[int64]:
		points = d.DataPoints
	case nil:
	default:
		t.Fatalf("metric %s is a %T", name, d)
	}
	for _, p := range points {
		if matches(p.Attributes, kvs) {
			n, ok = n+p.Value, true
		}
	}
	return n, ok
}

func (o *observed) want(t *testing.T, want int64, name string, kvs ...attribute.KeyValue) {
	t.Helper()
	if got, _ := o.value(t, name, kvs...); got != want {
		t.Errorf("%s %v = %d, want %d", name, kvs, got, want)
	}
}

func attrs(session, op, outcome string) []attribute.KeyValue {
	kvs := []attribute.KeyValue{sessionplus.AttrSession.String(session)}
	if op != "" {
		kvs = append(kvs, sessionplus.AttrOp.String(op))
	}
	if outcome != "" {
		kvs = append(kvs, sessionplus.AttrOutcome.String(outcome))
	}
	return kvs
}

// noSecrets fails if any span that o recorded carries one of secrets (or a
// part of one between dots) in its name, attributes, status or events.
func (o *observed) noSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	var parts []string
	for _, s := range secrets {
		parts = append(parts, s)
		for _, p := range strings.Split(s, ".") {
			if len(p) >= 8 {
				parts = append(parts, p)
			}
		}
	}
	if len(parts) == 0 {
		t.Fatal("no secrets to look for")
	}
	check := func(where, text string) {
		for _, p := range parts {
			if strings.Contains(text, p) {
				t.Errorf("%s carries a session id or token: %q", where, text)
			}
		}
	}
	all := append(o.taken[:len(o.taken):len(o.taken)], o.spans.Ended()...)
	if len(all) == 0 {
		t.Fatal("no spans to look into")
	}
	for _, s := range all {
		check("span name", s.Name())
		check("span status of "+s.Name(), s.Status().Description)
		for _, kv := range s.Attributes() {
			check("attribute "+string(kv.Key)+" of "+s.Name(), kv.Value.Emit())
		}
		for _, e := range s.Events() {
			check("event of "+s.Name(), e.Name)
			for _, kv := range e.Attributes {
				check("event attribute "+string(kv.Key)+" of "+s.Name(), kv.Value.Emit())
			}
		}
	}
}

// TestTelemetryRequests: a login, a request that reads and writes, and a
// log-out give the spans and metrics of exactly their backend operations.
func TestTelemetryRequests(t *testing.T) {
	sessions, _, _ := seed()
	o := newObserved(t, sessions)
	b := newBrowser()

	if _, err := b.do(t, o.m, func(s *sessionplus.Session) error { return s.Set("user_id", 1) }); err != nil {
		t.Fatal(err)
	}
	wantSpans(t, o.take()["session"], "session", "memory", "save", "ok")
	o.want(t, 1, "sessionplus.sessions.created", attrs("session", "", "")...)

	var id string
	if _, err := b.do(t, o.m, func(s *sessionplus.Session) error {
		n, _, err := sessionplus.GetAs[int](s, "user_id")
		if err != nil {
			return err
		}
		id = b.cookies["session"]
		return errors.Join(s.Set("user_id", n+1), s.Set("theme", "dark"))
	}); err != nil {
		t.Fatal(err)
	}
	taken := o.take()
	spans := taken["session"]
	wantSpans(t, spans, "session", "memory", "load", "ok", "save", "ok")
	for _, s := range spans {
		if s.kind != trace.SpanKindClient || s.status != codes.Unset || s.events != 0 {
			t.Errorf("span %s: kind %v, status %v, %d events; want a client span, no status, no events", s.name, s.kind, s.status, s.events)
		}
	}
	// The client-side session that holds the theme: a save of its cookie,
	// which creates no server-side record.
	data := taken["data"]
	wantSpans(t, data, "data", "secure_cookie", "save", "ok")
	if len(data) == 1 && data[0].kind != trace.SpanKindInternal {
		t.Errorf("the cookie session's span is of kind %v, want internal", data[0].kind)
	}

	o.want(t, 1, "sessionplus.operations", attrs("session", "load", "ok")...)
	o.want(t, 2, "sessionplus.operations", attrs("session", "save", "ok")...)
	o.want(t, 1, "sessionplus.operations", attrs("data", "save", "ok")...)
	o.want(t, 1, "sessionplus.sessions.created", attrs("session", "", "")...)
	o.want(t, 0, "sessionplus.sessions.created", attrs("data", "", "")...)
	o.want(t, 0, "sessionplus.sessions.ended")
	h, ok := o.collect(t)["sessionplus.operation.duration"].(metricdata.Histogram[float64])
	if !ok {
		t.Fatal("no operation.duration histogram")
	}
	for _, p := range h.DataPoints {
		if matches(p.Attributes, attrs("session", "load", "")) && (p.Count != 1 || p.Sum <= 0 || p.Sum > 10) {
			t.Errorf("load duration: %d points, sum %vs; want one, of a positive number of seconds", p.Count, p.Sum)
		}
		if _, ok := p.Attributes.Value(sessionplus.AttrOutcome); ok {
			t.Error("the duration histogram is split by outcome")
		}
	}

	if _, err := b.do(t, o.m, func(s *sessionplus.Session) error { return s.Destroy() }); err != nil {
		t.Fatal(err)
	}
	wantSpans(t, o.take()["session"], "session", "memory", "delete", "ok")
	o.want(t, 1, "sessionplus.sessions.ended", attrs("session", "", "")...)
	o.want(t, 0, "sessionplus.sessions.ended", attrs("data", "", "")...)
	o.noSecrets(t, id)
}

// leaky is a store whose Load can fail with an error that quotes the token,
// as a careless driver's might; it keeps the tokens it saw.
type leaky struct {
	sessionplus.Store
	mu     sync.Mutex
	fail   bool
	tokens []string
}

func (l *leaky) Load(ctx context.Context, token string) (sessionplus.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = append(l.tokens, token)
	if l.fail {
		return sessionplus.Record{}, fmt.Errorf("leaky: backend down reading %s", token)
	}
	return l.Store.Load(ctx, token)
}

// TestTelemetryLoadError: a failed read is a span with outcome "error",
// status Error and the error recorded without the token, and an error in
// the operations counter; an unknown id is "not_found", which is no error.
func TestTelemetryLoadError(t *testing.T) {
	st := &leaky{Store: memory.New()}
	o := newObserved(t, []sessionplus.Options{{"cookie_name": "session", "session_type": "memory", "store": st}})
	b := newBrowser()
	if _, err := b.do(t, o.m, func(s *sessionplus.Session) error { return s.Set("user_id", 1) }); err != nil {
		t.Fatal(err)
	}
	wantSpans(t, o.take()["session"], "session", "memory", "save", "ok")
	id := b.cookies["session"]
	st.fail = true
	_, err := b.do(t, o.m, func(s *sessionplus.Session) error {
		_, _, err := sessionplus.GetAs[int](s, "user_id")
		return err
	})
	if err == nil {
		t.Fatal("a failed read gave no error")
	}
	spans := o.take()["session"]
	wantSpans(t, spans, "session", "memory", "load", "error")
	if len(spans) != 1 {
		t.FailNow()
	}
	if s := spans[0]; s.status != codes.Error || !strings.Contains(s.message, "backend down reading <token>") || s.events != 1 {
		t.Errorf("failed load: status %v %q, %d events; want Error with the redacted message and the error recorded", s.status, s.message, s.events)
	}
	o.want(t, 1, "sessionplus.operations", attrs("session", "load", "error")...)
	o.want(t, 0, "sessionplus.operations", attrs("session", "load", "ok")...)

	// An id the store does not know: not found, a new session, no error.
	st.fail = false
	b.cookies["session"] = id
	if err := st.Delete(t.Context(), st.tokens[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.do(t, o.m, func(s *sessionplus.Session) error {
		_, _, err := sessionplus.GetAs[int](s, "user_id")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	spans = o.take()["session"]
	wantSpans(t, spans, "session", "memory", "load", "not_found")
	if len(spans) == 1 && spans[0].status != codes.Unset {
		t.Errorf("a session not found set the span status %v", spans[0].status)
	}
	o.want(t, 1, "sessionplus.operations", attrs("session", "load", "not_found")...)
	o.noSecrets(t, append([]string{id}, st.tokens...)...)
}

// TestTelemetryKeepAlive: an untouched session whose keep-alive is due
// gives a keepalive span and count, and creates no session.
func TestTelemetryKeepAlive(t *testing.T) {
	sessions, sp, _ := seed()
	sessions[1]["session_lifetime"] = "100s"
	o := newObserved(t, sessions)
	clk := &clock{t: time.Now()}
	sessionplus.SetClock(o.m, clk.now)
	b := newBrowser()
	login(t, o.m, b)
	o.take()
	sp.reset()
	clk.advance(11 * time.Second) // a keep-alive is due
	if _, err := b.do(t, o.m, func(*sessionplus.Session) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(sp.saves) != 1 || sp.saves[0].Kind != sessionplus.Touch {
		t.Fatalf("the store saw %v, want one touch", sp.saves)
	}
	wantSpans(t, o.take()["session"], "session", "memory", "keepalive", "ok")
	o.want(t, 1, "sessionplus.operations", attrs("session", "keepalive", "ok")...)
	o.want(t, 1, "sessionplus.sessions.created", attrs("session", "", "")...)
	o.noSecrets(t, b.cookies["session"])
}

// TestTelemetryRevokeUser: listing a user's sessions is a "list"
// operation, and each session RevokeUser ends a delete and an ended
// session.
func TestTelemetryRevokeUser(t *testing.T) {
	o := newObservedConfig(t, sessionplus.Config{
		UserField: "user_id",
		Sessions:  []sessionplus.Options{{"cookie_name": "session", "session_type": "memory", "store": memory.New()}},
	})
	var cookies []string
	for range 2 {
		b := newBrowser()
		if _, err := b.do(t, o.m, func(s *sessionplus.Session) error { return s.Set("user_id", 42) }); err != nil {
			t.Fatal(err)
		}
		cookies = append(cookies, b.cookies["session"])
	}
	o.take()
	if n, err := o.m.RevokeUser(t.Context(), "42"); n != 2 || err != nil {
		t.Fatalf("RevokeUser = %d, %v; want 2", n, err)
	}
	wantSpans(t, o.take()["session"], "session", "memory", "list", "ok", "delete", "ok", "delete", "ok")
	o.want(t, 1, "sessionplus.operations", attrs("session", "list", "ok")...)
	o.want(t, 2, "sessionplus.sessions.ended", attrs("session", "", "")...)
	o.noSecrets(t, cookies...)
}

// TestTelemetryStoreMetrics: a memory store's size and evictions are
// observed, and no longer once the manager is closed.
func TestTelemetryStoreMetrics(t *testing.T) {
	st, err := memory.NewWithOptions(&memory.Options{MaxSessions: 2})
	if err != nil {
		t.Fatal(err)
	}
	o := newObserved(t, []sessionplus.Options{{"cookie_name": "session", "session_type": "memory", "store": st}})
	login := func(b *browser) {
		if _, err := b.do(t, o.m, func(s *sessionplus.Session) error { return s.Set("user_id", 1) }); err != nil {
			t.Fatal(err)
		}
	}
	first, second := newBrowser(), newBrowser()
	login(first)
	login(second)
	o.want(t, 2, "sessionplus.store.sessions", attrs("session", "", "")...)
	o.want(t, 0, "sessionplus.store.evictions", attrs("session", "", "")...)
	login(newBrowser()) // the store is full: one session is evicted
	o.want(t, 2, "sessionplus.store.sessions", attrs("session", "", "")...)
	o.want(t, 1, "sessionplus.store.evictions", attrs("session", "", "")...)
	o.want(t, 3, "sessionplus.sessions.created", attrs("session", "", "")...)
	if _, err := second.do(t, o.m, func(s *sessionplus.Session) error { return s.Destroy() }); err != nil {
		t.Fatal(err)
	}
	if _, err := first.do(t, o.m, func(s *sessionplus.Session) error { return s.Destroy() }); err != nil {
		t.Fatal(err)
	}
	o.want(t, 1, "sessionplus.store.sessions", attrs("session", "", "")...)

	if err := o.m.Close(); err != nil {
		t.Fatal(err)
	}
	if n, ok := o.value(t, "sessionplus.store.sessions"); ok {
		t.Errorf("a closed manager still reports its store's size (%d)", n)
	}
}

// BenchmarkTelemetry is BenchmarkSeed's server-side cases with the SDK's
// providers set (spans made but not sampled, metrics to a manual reader):
// the price of telemetry when it is on, before any exporter.
func BenchmarkTelemetry(b *testing.B) {
	sessions, _, _ := seed()
	m, err := sessionplus.New(b.Context(), sessionplus.Config{
		Sessions:       sessions,
		SecretKeys:     [][]byte{testKey},
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()), sdktrace.WithSampler(sdktrace.NeverSample())),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	r := benchRequest(b, m)
	benchHandler(b, m, r, "read-server", readUser)
	benchHandler(b, m, r, "write-server", bumpUser)
}
