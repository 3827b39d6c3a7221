package sessionplus_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/memory"
)

// With a TracerProvider and a MeterProvider in the Config, every backend
// operation of a session is a span and a measurement. An application passes
// its own providers (with an OTLP exporter, say); this example uses the
// SDK's in-memory exporter and a manual reader, so that it runs as it is.
func ExampleConfig_openTelemetry() {
	spans := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Sessions:       []sessionplus.Options{{"cookie_name": "session", "session_type": "memory"}},
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// A login, then a request that reads the session and logs out.
	request := func(cookies []*http.Cookie, handler func(*sessionplus.Session) error) []*http.Cookie {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		s := m.Begin(w, r)
		if err := handler(s); err != nil {
			log.Fatal(err)
		}
		if err := s.Commit(); err != nil {
			log.Fatal(err)
		}
		return w.Result().Cookies()
	}
	cookies := request(nil, func(s *sessionplus.Session) error { return s.Set("user_id", 7) })
	request(cookies, func(s *sessionplus.Session) error {
		if _, _, err := sessionplus.GetAs[int](s, "user_id"); err != nil {
			return err
		}
		return s.Destroy()
	})

	for _, s := range spans.GetSpans() {
		fmt.Print(s.Name)
		for _, kv := range s.Attributes {
			fmt.Printf(" %s=%s", kv.Key, kv.Value.Emit())
		}
		fmt.Println()
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				if mt.Name != "sessionplus.operations" {
					fmt.Println(mt.Name, d.DataPoints[0].Value)
				}
			case metricdata.Gauge[int64]:
				fmt.Println(mt.Name, d.DataPoints[0].Value)
			}
		}
	}
	// Output:
	// sessionplus.save sessionplus.session=session sessionplus.type=memory sessionplus.outcome=ok
	// sessionplus.load sessionplus.session=session sessionplus.type=memory sessionplus.outcome=ok
	// sessionplus.delete sessionplus.session=session sessionplus.type=memory sessionplus.outcome=ok
	// sessionplus.sessions.created 1
	// sessionplus.sessions.ended 1
	// sessionplus.store.sessions 0
	// sessionplus.store.evictions 0
}
