package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing makes a span per tool call and carries W3C trace context to
// HTTP upstreams. The zero value and nil trace nothing and propagate
// nothing. It is safe for concurrent use.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
}

// NewTracing exports spans over OTLP/HTTP to endpoint (the collector's base
// URL, such as http://127.0.0.1:4318), naming the gateway service.
// Exporting happens in the background; call Shutdown to flush.
func NewTracing(ctx context.Context, endpoint, service, version string) (*Tracing, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("tracing endpoint %q: want a URL such as http://127.0.0.1:4318", endpoint)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint + "/v1/traces")}
	if u.Path != "" && u.Path != "/" {
		opts = []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing exporter: %w", err)
	}
	return newTracing(sdktrace.NewBatchSpanProcessor(exp), service, version), nil
}

// NewTracingTo sends spans to a processor of the caller's, such as an
// in-memory recorder in tests.
func NewTracingTo(sp sdktrace.SpanProcessor, service, version string) *Tracing {
	return newTracing(sp, service, version)
}

func newTracing(sp sdktrace.SpanProcessor, service, version string) *Tracing {
	if service == "" {
		service = "toolgate"
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.version", version),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp), sdktrace.WithResource(res))
	return &Tracing{
		provider: tp,
		tracer:   tp.Tracer("github.com/toolgate/toolgate"),
		prop:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// Start starts a span named name as a child of any span in ctx, or of the
// trace context the agent sent in header (nil for none).
func (t *Tracing) Start(ctx context.Context, name string, header http.Header, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t == nil || t.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	if header != nil && !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(header))
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// Transport returns next (http.DefaultTransport when nil) wrapped to send
// the trace context of each request's context to the upstream.
func (t *Tracing) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if t == nil || t.tracer == nil {
		return next
	}
	return &propagating{next: next, prop: t.prop}
}

// Shutdown flushes the spans not yet exported and stops exporting.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

type propagating struct {
	next http.RoundTripper
	prop propagation.TextMapPropagator
}

func (p *propagating) RoundTrip(req *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(req.Context()).IsValid() {
		return p.next.RoundTrip(req)
	}
	// A RoundTripper must not modify the caller's request.
	r := req.Clone(req.Context())
	p.prop.Inject(req.Context(), propagation.HeaderCarrier(r.Header))
	return p.next.RoundTrip(r)
}
