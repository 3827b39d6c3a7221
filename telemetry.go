package sessionplus

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentationName is the name of the tracer and of the meter that the
// library takes from [Config.TracerProvider] and [Config.MeterProvider].
const InstrumentationName = "github.com/sessionplus/sessionplus"

// The attributes of the library's spans and metrics. None of them ever holds
// a session id, a token or a value.
const (
	AttrSession = attribute.Key("sessionplus.session") // the session's cookie_name
	AttrType    = attribute.Key("sessionplus.type")    // its session_type
	AttrOp      = attribute.Key("sessionplus.op")      // "load", "save", "keepalive", "delete" or "list"
	AttrOutcome = attribute.Key("sessionplus.outcome") // "ok", "not_found" or "error"
)

// StoreStats is an optional interface of a [Store] that can tell, cheaply and
// without a network call, how many records it holds and how many live
// records it has evicted to stay within its bounds, as the memory driver
// does. With a [Config.MeterProvider] set, the root package reports them as
// the metrics sessionplus.store.sessions and sessionplus.store.evictions.
// Both methods must be safe for concurrent use; a driver whose backend
// cannot answer so cheaply does not implement it.
type StoreStats interface {
	// Len returns the number of records held, expired ones not yet
	// removed included.
	Len() int
	// Evicted returns the number of live records removed to make room
	// since the store was opened.
	Evicted() uint64
}

// telOp is one kind of backend operation, as spans and metrics name it.
type telOp uint8

const (
	opLoad telOp = iota
	opSave
	opKeepAlive // a save of kind Touch
	opDelete
	opList // UserIndex.UserRecords, for UserSessions and the revocations
	numOps
)

var (
	opNames   = [numOps]string{"load", "save", "keepalive", "delete", "list"}
	spanNames = [numOps]string{"sessionplus.load", "sessionplus.save", "sessionplus.keepalive", "sessionplus.delete", "sessionplus.list"}
)

// telOutcome classifies the error of one operation.
type telOutcome uint8

const (
	outcomeOK telOutcome = iota
	outcomeNotFound
	outcomeError
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "not_found", "error"}

func outcomeOf(err error) telOutcome {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrNotFound):
		return outcomeNotFound
	}
	return outcomeError
}

// instruments are the manager's metric instruments, shared by its sessions.
type instruments struct {
	ops       metric.Int64Counter
	duration  metric.Float64Histogram
	created   metric.Int64Counter
	ended     metric.Int64Counter
	size      metric.Int64ObservableGauge
	evictions metric.Int64ObservableCounter
}

// telemetry holds the instruments of one session, with their attributes
// made once. A session has none (a nil *telemetry) unless a provider is
// configured, so that the guards in store.go cost a nil check without one.
type telemetry struct {
	tracer    trace.Tracer // nil without a TracerProvider
	startOpts []trace.SpanStartOption
	in        *instruments // nil without a MeterProvider
	client    bool         // a client-side store: no sessions created or ended
	addOpts   [numOps][numOutcomes][]metric.AddOption
	recOpts   [numOps][]metric.RecordOption
	lifeOpts  []metric.AddOption // session and type, for created and ended
}

// durationBuckets are the histogram's bounds in seconds, from 50µs (a memory
// store) to 10s (a backend at its timeout).
var durationBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// newInstruments makes the manager's instruments from mp.
func newInstruments(mp metric.MeterProvider) (*instruments, metric.Meter, error) {
	m := mp.Meter(InstrumentationName)
	var in instruments
	var errs [6]error
	in.ops, errs[0] = m.Int64Counter("sessionplus.operations",
		metric.WithDescription("Backend operations of sessions (load, save, keepalive, delete, list), by session, type, op and outcome."),
		metric.WithUnit("{operation}"))
	in.duration, errs[1] = m.Float64Histogram("sessionplus.operation.duration",
		metric.WithDescription("Duration of backend operations of sessions, by session, type and op."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.created, errs[2] = m.Int64Counter("sessionplus.sessions.created",
		metric.WithDescription("Server-side session records created: a new session, or one moved to a new id."),
		metric.WithUnit("{session}"))
	in.ended, errs[3] = m.Int64Counter("sessionplus.sessions.ended",
		metric.WithDescription("Server-side session records deleted: a log-out, an emptied session, or the old id of a moved one."),
		metric.WithUnit("{session}"))
	in.size, errs[4] = m.Int64ObservableGauge("sessionplus.store.sessions",
		metric.WithDescription("Records held by a store that reports its size, expired ones not yet removed included."),
		metric.WithUnit("{session}"))
	in.evictions, errs[5] = m.Int64ObservableCounter("sessionplus.store.evictions",
		metric.WithDescription("Live records that a bounded store removed to make room."),
		metric.WithUnit("{session}"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, nil, err
	}
	return &in, m, nil
}

// setupTelemetry gives every session its instruments and registers the
// callback of the store metrics. It does nothing when both providers are
// nil. The registration, if not nil, is to be unregistered at Close.
func setupTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, confs []*sessionConf) (metric.Registration, error) {
	if tp == nil && mp == nil {
		return nil, nil
	}
	var tracer trace.Tracer
	if tp != nil {
		tracer = tp.Tracer(InstrumentationName)
	}
	var in *instruments
	var meter metric.Meter
	if mp != nil {
		var err error
		if in, meter, err = newInstruments(mp); err != nil {
			return nil, err
		}
	}
	type observed struct {
		st   StoreStats
		opts []metric.ObserveOption
	}
	var stats []observed
	for _, c := range confs {
		base := []attribute.KeyValue{AttrSession.String(c.name), AttrType.String(c.typ)}
		t := &telemetry{tracer: tracer, in: in, client: c.client}
		kind := trace.SpanKindClient
		if c.client {
			kind = trace.SpanKindInternal
		}
		t.startOpts = []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(base...)}
		if in != nil {
			set := attribute.NewSet(base...)
			t.lifeOpts = []metric.AddOption{metric.WithAttributeSet(set)}
			for o := range numOps {
				op := AttrOp.String(opNames[o])
				t.recOpts[o] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(append(base[:2:2], op)...))}
				for r := range numOutcomes {
					s := attribute.NewSet(append(base[:2:2], op, AttrOutcome.String(outcomeNames[r]))...)
					t.addOpts[o][r] = []metric.AddOption{metric.WithAttributeSet(s)}
				}
			}
			if st, ok := c.store.(StoreStats); ok {
				stats = append(stats, observed{st, []metric.ObserveOption{metric.WithAttributeSet(set)}})
			}
		}
		c.tel = t
	}
	if len(stats) == 0 {
		return nil, nil
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range stats {
			o.ObserveInt64(in.size, int64(s.st.Len()), s.opts...)
			o.ObserveInt64(in.evictions, int64(s.st.Evicted()), s.opts...)
		}
		return nil
	}, in.size, in.evictions)
}

// telSpan is one operation in progress.
type telSpan struct {
	t       *telemetry
	op      telOp
	create  bool // a Create of a server-side record
	span    trace.Span
	started time.Time // zero without metrics
}

// begin starts an operation: its span, as a child of ctx's, and its clock.
func (t *telemetry) begin(ctx context.Context, op telOp, create bool) (context.Context, telSpan) {
	s := telSpan{t: t, op: op, create: create && !t.client}
	if t.tracer != nil {
		ctx, s.span = t.tracer.Start(ctx, spanNames[op], t.startOpts...)
	}
	if t.in != nil {
		s.started = time.Now()
	}
	return ctx, s
}

// end ends the operation with its error, already free of the token.
func (s telSpan) end(ctx context.Context, err error) {
	out := outcomeOf(err)
	if s.span != nil {
		s.span.SetAttributes(AttrOutcome.String(outcomeNames[out]))
		if out == outcomeError {
			s.span.RecordError(err)
			s.span.SetStatus(codes.Error, err.Error())
		}
		s.span.End()
	}
	t := s.t
	if t.in == nil {
		return
	}
	t.in.duration.Record(ctx, time.Since(s.started).Seconds(), t.recOpts[s.op]...)
	t.in.ops.Add(ctx, 1, t.addOpts[s.op][out]...)
	if out != outcomeOK || t.client {
		return
	}
	switch {
	case s.create:
		t.in.created.Add(ctx, 1, t.lifeOpts...)
	case s.op == opDelete:
		t.in.ended.Add(ctx, 1, t.lifeOpts...)
	}
}

// saveOp returns the operation a save of kind k is: a Touch is a keep-alive.
func saveOp(k Kind) telOp {
	if k == Touch {
		return opKeepAlive
	}
	return opSave
}
