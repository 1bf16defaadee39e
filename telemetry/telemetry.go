// Package telemetry exports traces with OpenTelemetry: through the Temporal
// SDK's tracing interceptor every workflow, activity, signal and update of
// a run is a span, and the HTTP server's spans (a webhook delivery) are
// their parents, so a run is one trace from the push to production. Spans
// leave by OTLP/gRPC to the endpoint configured; without one nothing is
// traced.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Options says where spans go.
type Options struct {
	// Endpoint is the OTLP/gRPC collector, host:port.
	Endpoint string
	// Insecure sends without TLS (a collector on loopback or in the pod).
	Insecure bool
	// Service names this process in the traces (sluice-dev, sluice-worker…).
	Service string
}

// Tracing is a process's tracer provider. A nil *Tracing traces nothing.
type Tracing struct {
	provider   *sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
}

// Start makes the exporter and provider. The exporter connects lazily: a
// collector that is down loses spans, never a run.
func Start(ctx context.Context, o Options) (*Tracing, error) {
	if o.Endpoint == "" {
		return nil, nil
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.Endpoint)}
	if o.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", o.Endpoint, err)
	}
	res := resource.NewSchemaless(semconv.ServiceName(o.Service))
	return &Tracing{
		provider:   sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

func (t *Tracing) tracer() trace.Tracer { return t.provider.Tracer("github.com/sluice-cd/sluice") }

// Interceptors are the Temporal client's (and so its workers') tracing
// interceptors; none without tracing.
func (t *Tracing) Interceptors() ([]interceptor.ClientInterceptor, error) {
	if t == nil {
		return nil, nil
	}
	// queries (`sluice status`, the UI) would each be a trace of one span
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: t.tracer(), TextMapPropagator: t.propagator, DisableQueryTracing: true})
	if err != nil {
		return nil, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{i}, nil
}

// Handler wraps the HTTP server: each request is a span (continuing a
// trace the caller sent in traceparent), the parent of the runs it starts.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return otelhttp.NewHandler(h, "sluice-http", otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}

// Shutdown sends the spans still buffered, waiting at most 5 s.
func (t *Tracing) Shutdown() {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.provider.Shutdown(ctx)
}
