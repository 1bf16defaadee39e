package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/contract/bind"
	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// eightPhases enables all eight phases; every activity is a no-op, so the
// time a run takes is orchestration only.
const eightPhases = `version: 1
environments: {production: {namespace: hello}}
build: {commands: [make]}
test: {commands: [make test]}
bake: {image: 127.0.0.1:5000/acme/hello}
deploy: {manifests: k8s}
integration: {image: 127.0.0.1:5000/acme/it, commands: [./it]}
promote: {}
approval: {approvers: {users: [alice]}}
production: {manifests: k8s}
`

// baselineWorkflow runs eight no-op activities in sequence: the least any
// Temporal-based orchestrator can do for eight phases.
func baselineWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for range 8 {
		if err := workflow.ExecuteActivity(ctx, "Noop").Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// benchServer is the embedded server, or the Temporal at
// SLUICE_BENCH_TEMPORAL (host:port, namespace "default"): the same benchmark
// against `temporal server start-dev` (make bench-start-dev).
func benchServer(b *testing.B) client.Client {
	addr := os.Getenv("SLUICE_BENCH_TEMPORAL")
	if addr == "" {
		return devservertest.Start(b)
	}
	c, err := client.Dial(client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		b.Fatalf("SLUICE_BENCH_TEMPORAL=%s: %v", addr, err)
	}
	b.Cleanup(c.Close)
	return c
}

// benchServerProcess is benchServer with the embedded server in a child
// process.
func benchServerProcess(b *testing.B) client.Client {
	if os.Getenv("SLUICE_BENCH_TEMPORAL") == "" {
		return devservertest.StartProcess(b)
	}
	return benchServer(b)
}

type benchEnv struct {
	c  client.Client
	rc *runs.Client
	// last is the run the last pipeline or baseline call made.
	last struct{ workflowID, runID string }
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	if cacheSize == 0 {
		cacheSize = -1 // the SDK's default
	}
	c := benchServer(b)
	w := sdkworker.New(c, workflows.TaskQueue, Options())
	w.RegisterWorkflow(workflows.Pipeline)
	w.RegisterWorkflow(workflows.Quota)
	w.RegisterWorkflow(baselineWorkflow)
	quotas := &runs.Client{Temporal: c}
	bind.Activity(w, contract.QuotaAcquire, quotas.QuotaAcquire)
	bind.Activity(w, contract.QuotaEnded, quotas.QuotaEnded)
	w.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: "Noop"})
	// Approve as soon as the approval is requested, the way a chat click does.
	stubActivities(w, "", func(ctx context.Context, n contract.Notice) (contract.MessageRef, error) {
		if n.Kind == contract.NoticeApprovalRequested {
			info := activity.GetInfo(ctx)
			go func() {
				_, _ = (&runs.Client{Temporal: c, Signer: recordKey}).Decide(context.Background(),
					runs.Ref{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID},
					"", true, workflows.Decision{User: "alice"})
			}()
		}
		return contract.MessageRef{}, nil
	}, testRecords(b))
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	return &benchEnv{c: c, rc: &runs.Client{Temporal: c, Signer: recordKey}}
}

func (e *benchEnv) pipeline(b *testing.B, branch string) time.Duration {
	return e.governed(b, branch, nil)
}

// governed is pipeline under a policy (a project's quota).
func (e *benchEnv) governed(b *testing.B, branch string, policy *contract.Governance) time.Duration {
	spec := scenarioSpec(b, eightPhases)
	p := push("a")
	p.Branch = branch
	start := time.Now()
	st, err := e.rc.Start(context.Background(), workflows.Request{Push: p, Spec: spec, Policy: policy})
	if err != nil {
		b.Fatal(err)
	}
	var res workflows.RunState
	if err := e.c.GetWorkflow(context.Background(), st.Ref.WorkflowID, st.Ref.RunID).Get(context.Background(), &res); err != nil {
		b.Fatal(err)
	}
	if res.State != workflows.StateSucceeded {
		b.Fatalf("run %s", res.State)
	}
	d := time.Since(start)
	e.last.workflowID, e.last.runID = st.Ref.WorkflowID, st.Ref.RunID
	return d
}

func (e *benchEnv) baseline(b *testing.B, i int) time.Duration {
	start := time.Now()
	run, err := e.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: fmt.Sprintf("baseline-%d-%d", i, start.UnixNano()), TaskQueue: workflows.TaskQueue, EnableEagerStart: true}, baselineWorkflow)
	if err != nil {
		b.Fatal(err)
	}
	if err := run.Get(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	e.last.workflowID, e.last.runID = run.GetID(), run.GetRunID()
	return d
}

func report(b *testing.B, ds []time.Duration, per int) {
	slices.Sort(ds)
	q := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000 / float64(per)
	}
	b.ReportMetric(q(0.5), "ms/phase-p50")
	b.ReportMetric(q(0.99), "ms/phase-p99")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkOrchestrationOverhead measures wall time per phase of an
// eight-phase pipeline whose phases do no work, and of the baseline: a bare
// workflow running eight no-op activities. Compare the two p50s for the
// ratio of Sluice's overhead over Temporal's own.
func BenchmarkOrchestrationOverhead(b *testing.B) {
	e := newBenchEnv(b)
	e.baseline(b, -1)
	e.pipeline(b, "warmup")
	b.Run("baseline", func(b *testing.B) {
		var ds []time.Duration
		for i := 0; b.Loop(); i++ {
			ds = append(ds, e.baseline(b, i))
		}
		report(b, ds, 8)
		e.reportTasks(b)
	})
	b.Run("pipeline", func(b *testing.B) {
		var ds []time.Duration
		var total time.Duration
		recorded := recordNanos.Load()
		for i := 0; b.Loop(); i++ {
			d := e.pipeline(b, fmt.Sprintf("b%d", i))
			ds, total = append(ds, d), total+d
		}
		report(b, ds, 8)
		e.reportTasks(b)
		// the run records' writes (two per run, SQLite) against the runs'
		// whole time
		writes := time.Duration(recordNanos.Load() - recorded)
		b.ReportMetric(float64(writes.Microseconds())/float64(len(ds)), "record-µs/run")
		b.ReportMetric(float64(writes)/float64(total), "record-share")
	})
}

// reportTasks reports what the last run cost the server in tasks, counted
// in its history: workflow tasks, activity tasks (each a trip through the
// history service and the worker) and events. Unlike wall time they do not
// move with the machine's noise. SLUICE_BENCH_HISTORY=1 prints the run's
// events with their times and sizes: where a phase's time goes.
func (e *benchEnv) reportTasks(b *testing.B) {
	it := e.c.GetWorkflowHistory(context.Background(), e.last.workflowID, e.last.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var wfts, acts, events int
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		events++
		if os.Getenv("SLUICE_BENCH_HISTORY") != "" {
			fmt.Printf("%3d %s %6d %s\n", ev.GetEventId(), ev.GetEventTime().AsTime().Format("05.000000"), proto.Size(ev), ev.GetEventType())
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			wfts++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			acts++
		}
	}
	b.ReportMetric(float64(wfts), "workflow-tasks/run")
	b.ReportMetric(float64(acts), "activity-tasks/run")
	b.ReportMetric(float64(events), "events/run")
}

// BenchmarkThroughput runs N pipelines at once (distinct branches) and
// reports completed pipelines per minute.
func BenchmarkThroughput(b *testing.B) {
	e := newBenchEnv(b)
	e.pipeline(b, "warmup")
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("concurrent=%d", n), func(b *testing.B) {
			start := time.Now()
			done := 0
			for i := 0; b.Loop(); i++ {
				var wg sync.WaitGroup
				for j := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						e.pipeline(b, fmt.Sprintf("t%d-%d-%d", n, i, j))
					}()
				}
				wg.Wait()
				done += n
			}
			b.ReportMetric(float64(done)/time.Since(start).Minutes(), "pipelines/min")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkCachedWaitingRun starts runs that wait for approval, all held
// in the sticky cache (its size is set above their number), and reports
// what each costs the worker while cached: Go heap in use (after GC),
// goroutine stacks and goroutines.
// The baseline is the bare workflow parked on a signal the same way.
// SLUICE_HEAP_PROFILE=FILE writes the heap profile with the runs cached.
func BenchmarkCachedWaitingRun(b *testing.B) {
	waitingRuns(b, 10000, 0, 200)
}

// BenchmarkUncachedWaitingRuns starts 2,000 runs that wait for approval on
// a worker whose sticky cache holds 20 (the cache full, the worker's
// buffers at their working size), then 1,000 more, and reports what each
// of those costs the worker once the cache no longer holds it: the
// worker's memory is its cache, not its waiting runs. Run it in a go test
// process of its own, with -run '^$' (the first worker of a process fixes
// the cache's size).
func BenchmarkUncachedWaitingRuns(b *testing.B) {
	waitingRuns(b, 20, 2000, 1000)
}

// cacheSize is the sticky cache size the process's first benchmark set
// (-1: the SDK's default).
var cacheSize int

// waitingRuns starts warm waiting runs (unmeasured), then n more, on a
// worker whose sticky cache holds cache workflows, and reports the growth
// of its Go heap (after GC), goroutine stacks and goroutines per run.
func waitingRuns(b *testing.B, cache, warm, n int) {
	if cacheSize != 0 && cacheSize != cache {
		b.Fatalf("the sticky cache holds %d workflows: run %s in a go test process of its own", cacheSize, b.Name())
	}
	cacheSize = cache
	if os.Getenv("SLUICE_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1024
	}
	sdkworker.SetStickyWorkflowCacheSize(cache)
	// the server in a process of its own: its memory is not the worker's
	c := benchServerProcess(b)
	w := sdkworker.New(c, workflows.TaskQueue, Options())
	w.RegisterWorkflow(workflows.Pipeline)
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		workflow.GetSignalChannel(ctx, "never").Receive(ctx, nil)
		return nil
	}, workflow.RegisterOptions{Name: "Parked"})
	stubActivities(w, "", func(context.Context, contract.Notice) (contract.MessageRef, error) { return contract.MessageRef{}, nil }, testRecords(b))
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	rc := &runs.Client{Temporal: c}
	spec := scenarioSpec(b, "version: 1\napproval: {approvers: {users: [alice]}, timeout: 30d}\n")
	ctx := context.Background()
	batch := time.Now().UnixNano()
	// startAll starts count runs with start and waits until every one is
	// idle on the server.
	startAll := func(b *testing.B, count int, start func(id string) (string, string)) {
		batch++
		type ref struct{ id, run string }
		refs := make([]ref, 0, count)
		for i := range count {
			id, run := start(fmt.Sprintf("%d-%d", batch, i))
			refs = append(refs, ref{id, run})
		}
		for _, r := range refs {
			for !devservertest.Idle(ctx, c, r.id, r.run) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	measure := func(b *testing.B, start func(id string) (string, string)) {
		startAll(b, warm, start)
		for b.Loop() {
			h0, s0, g0 := heapAndGoroutines()
			startAll(b, n, start)
			h1, s1, g1 := heapAndGoroutines()
			b.ReportMetric(float64(int64(h1)-int64(h0))/float64(n), "heap-B/run")
			b.ReportMetric(float64(int64(s1)-int64(s0))/float64(n), "stack-B/run")
			b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/run")
			if f := os.Getenv("SLUICE_HEAP_PROFILE"); f != "" && strings.HasSuffix(b.Name(), "/pipeline") {
				out, err := os.Create(f)
				if err != nil {
					b.Fatal(err)
				}
				_ = pprof.WriteHeapProfile(out)
				out.Close()
			}
		}
		b.ReportMetric(0, "ns/op")
	}
	b.Run("baseline", func(b *testing.B) {
		measure(b, func(id string) (string, string) {
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "parked-" + id, TaskQueue: workflows.TaskQueue}, "Parked")
			if err != nil {
				b.Fatal(err)
			}
			return run.GetID(), run.GetRunID()
		})
	})
	b.Run("pipeline", func(b *testing.B) {
		measure(b, func(id string) (string, string) {
			p := push("c")
			p.Repo, p.DeliveryID = "acme/app-"+id, "d-"+id
			st, err := rc.Start(ctx, workflows.Request{Spec: spec, Push: p})
			if err != nil {
				b.Fatal(err)
			}
			return st.Ref.WorkflowID, st.Ref.RunID
		})
	})
}

func heapAndGoroutines() (heap, stack uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse, runtime.NumGoroutine()
}

// BenchmarkQuota measures what a project's run limit costs a run under it:
// the eight-phase pipeline of a project with a quota it is far from (its
// ask, grant and release through the project's Quota workflow) against the
// same pipeline without one, interleaved; and its fairness: the same run of
// project b while project a (limit 1) has a backlog of 20 waiting runs,
// against b's run with no backlog.
func BenchmarkQuota(b *testing.B) {
	e := newBenchEnv(b)
	e.pipeline(b, "warmup")
	quota := func(project string, runs int) *contract.Governance {
		return &contract.Governance{Project: project, Quota: &contract.Quota{Runs: runs}}
	}
	e.governed(b, "warmup-quota", quota("bench", 1000))
	ratio := func(b *testing.B, name string, base, with []time.Duration) {
		slices.Sort(base)
		slices.Sort(with)
		p50 := func(ds []time.Duration) float64 { return float64(ds[len(ds)/2].Microseconds()) / 1000 / 8 }
		b.ReportMetric(p50(base), "ms/phase-p50-"+name+"-baseline")
		b.ReportMetric(p50(with), "ms/phase-p50-"+name)
		b.ReportMetric(p50(with)/p50(base), "ratio")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("under-quota", func(b *testing.B) {
		var none, under []time.Duration
		for i := 0; b.Loop(); i++ {
			none = append(none, e.pipeline(b, fmt.Sprintf("n%d", i)))
			under = append(under, e.governed(b, fmt.Sprintf("q%d", i), quota("bench", 1000)))
		}
		ratio(b, "quota", none, under)
	})
	b.Run("backlog-20", func(b *testing.B) {
		// project a: one run holding its only slot and 20 waiting, each
		// waiting for an approval nobody gives (bob's)
		spec := scenarioSpec(b, strings.Replace(eightPhases, "users: [alice]", "users: [bob]", 1))
		var backlog []runs.Ref
		for i := range 21 {
			p := push("c")
			p.Repo, p.Branch = "acme/a", fmt.Sprintf("a%d", i)
			st, err := e.rc.Start(context.Background(), workflows.Request{Push: p, Spec: spec, Policy: quota("a", 1)})
			if err != nil {
				b.Fatal(err)
			}
			backlog = append(backlog, st.Ref)
		}
		defer func() {
			for _, r := range backlog {
				_ = e.c.TerminateWorkflow(context.Background(), r.WorkflowID, r.RunID, "benchmark over")
			}
		}()
		for {
			st, err := e.rc.QuotaState(context.Background(), "a")
			if err == nil && len(st.Holders) == 1 && len(st.Waiters) == 20 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		var alone, beside []time.Duration
		for i := 0; b.Loop(); i++ {
			alone = append(alone, e.governed(b, fmt.Sprintf("bn%d", i), quota("b-alone", 1)))
			beside = append(beside, e.governed(b, fmt.Sprintf("bb%d", i), quota("b", 1)))
		}
		ratio(b, "beside-backlog", alone, beside)
	})
}
