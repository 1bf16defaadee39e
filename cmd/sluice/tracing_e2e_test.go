package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/workflows"
)

// collector is an OTLP/gRPC trace receiver: it keeps every span's name
// by trace id.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu     sync.Mutex
	traces map[string][]string
}

func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				id := fmt.Sprintf("%x", sp.TraceId)
				c.traces[id] = append(c.traces[id], sp.Name)
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// trace returns the spans of the trace that holds a span named name.
func (c *collector) trace(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, spans := range c.traces {
		if slices.Contains(spans, name) {
			return slices.Clone(spans)
		}
	}
	return nil
}

// TestRunIsOneTrace sends a signed push to `sluice dev --otlp-endpoint`
// and approves the run: the webhook's HTTP span, the Dispatch and Pipeline
// workflows and every phase's activity arrive at an OTLP collector as one
// trace.
func TestRunIsOneTrace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{traces: map[string][]string{}}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, col)
	go gs.Serve(ln)
	defer gs.Stop()
	t.Cleanup(func() {
		if t.Failed() {
			col.mu.Lock()
			t.Logf("traces at the collector: %v", col.traces)
			col.mu.Unlock()
		}
	})

	e := newEnv(t)
	repo, commit := gitRepo(t, "")
	cfg := filepath.Join(t.TempDir(), "sluice.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("repositories:\n  - {name: acme/hello, provider: github, clone_url: %q, webhook_secret: {env: TRACE_HOOK_SECRET}}\n", repo)), 0o600)
	t.Setenv("TRACE_HOOK_SECRET", "trace-hook-secret-value")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // ms: export spans at once
	e.startDev("--config", cfg, "--otlp-endpoint", ln.Addr().String(), "--otlp-insecure")
	e.push("hello", commit, "trace-hook-secret-value")
	id := workflows.WorkflowID("acme/hello", "main")
	waiting := e.waitState(id, "awaiting_approval", 2*time.Minute)
	if _, errOut, code := e.sluice("approve", waiting.RunID, "--as", "alice"); code != 0 {
		t.Fatalf("approve: %s", errOut)
	}
	e.waitState(id, "succeeded", time.Minute)

	// the push's trace holds the run, from the webhook to the final
	// notice; the approval is a trace of its own (another request)
	want := []string{"POST /hooks/github", "StartWorkflow:Dispatch", "RunWorkflow:Dispatch", "StartWorkflow:Pipeline", "RunWorkflow:Pipeline",
		"RunActivity:Run", "RunActivity:ApprovalPolicy", "RunActivity:Send", "RunActivity:Cleanup"}
	var spans []string
	poll.Until(t, "the run's spans at the collector", func() bool {
		spans = col.trace("POST /hooks/github")
		for _, w := range want {
			if !slices.Contains(spans, w) {
				return false
			}
		}
		return true
	})
	t.Logf("one trace, %d spans: %v", len(spans), spans)
	if d := col.trace("POST /api/v1/decisions"); !slices.Contains(d, "HandleUpdate:approve") {
		t.Errorf("the approval's trace lacks the update: %v", d)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, spans := range col.traces {
		if slices.Contains(spans, "HandleQuery:state") {
			t.Errorf("queries are traced (one trace per `sluice status`): %v", spans)
		}
	}
}
