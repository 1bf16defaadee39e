package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/sluice-cd/sluice/metrics"
	"github.com/sluice-cd/sluice/metrics/sdkmetrics"
	"github.com/sluice-cd/sluice/telemetry"
)

// startTelemetry makes the process's metrics and tracing and serves
// /metrics (and a worker's /healthz probe) when asked to.
func (a *App) startTelemetry() error {
	a.metrics = metrics.New()
	a.sdkMetrics = sdkmetrics.New(a.metrics.Registry)
	otlp := a.opts.OTLP
	otlp.Service = a.opts.Service
	var err error
	if a.tracing, err = telemetry.Start(context.Background(), otlp); err != nil {
		return err
	}
	a.OnClose(a.tracing.Shutdown)
	if a.opts.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.opts.MetricsAddr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %s: %w", a.opts.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	// the probe of a worker, which serves nothing else
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	a.serve(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, "metrics server")
	a.metricsAddr = ln.Addr().String()
	return nil
}

// MetricsAddr is where /metrics is served ("" when it is not).
func (a *App) MetricsAddr() string { return a.metricsAddr }

// serve serves hs on ln until Close.
func (a *App) serve(hs *http.Server, ln net.Listener, what string) {
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error(what+" stopped", "error", err)
		}
	}()
	a.OnClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	})
}
