package pool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestStepsRunInAPoolPod: a claimed pod gets the commit's source and runs
// the commands in /workspace; the pool refills behind the claim; a retried
// attempt on another worker gets the same pod with the same workspace; and
// release deletes the pod, so no other run ever sees it.
func TestStepsRunInAPoolPod(t *testing.T) {
	e := newEnv(t)
	p := e.pool(Spec{Name: "bb", Image: e.busybox(), MinIdle: 1, MaxTotal: 3}, "worker-a")
	e.keep(p)
	first := e.waitIdle(p, 1)[0]
	x := e.executor(p)
	repo, commit := gitsrctest.Repo(t, "../examples/hello", "")
	ctx := context.Background()
	h, err := x.Prepare(ctx, executor.Checkout{Key: "run-1", CloneURL: repo, Commit: commit}, executor.Handle{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind != contract.WorkspacePod || h.Pod != first || h.Path != Workdir {
		t.Fatalf("handle %+v, want the idle pod %s", h, first)
	}
	var out bytes.Buffer
	res, err := x.Run(ctx, h, executor.Command{Script: "hostname; pwd; ls; echo built > artifact; echo to-stderr >&2; exit 3", Env: map[string]string{"GREETING": "hi"}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{first + "\n", Workdir + "\n", "main.go", "to-stderr"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if res.ExitCode != 3 {
		t.Errorf("exit code %d, want 3", res.ExitCode)
	}
	if b, err := x.ReadFile(ctx, h, "artifact", 100); err != nil || string(b) != "built\n" {
		t.Fatalf("ReadFile = %q %v", b, err)
	}
	if _, err := x.ReadFile(ctx, h, "../etc/passwd", 100); err == nil {
		t.Fatal("ReadFile left the workspace")
	}

	// the keeper replaces the claimed pod
	if again := e.waitIdle(p, 1); again[0] == first {
		t.Fatalf("the claimed pod %s is still offered as idle", first)
	}

	// another worker resumes the run: same pod, workspace intact
	other := e.executor(e.pool(p.Spec, "worker-b"))
	h2, err := other.Prepare(ctx, executor.Checkout{Key: "run-1", CloneURL: repo, Commit: commit}, h)
	if err != nil || h2 != h {
		t.Fatalf("resume: %+v %v, want %+v", h2, err, h)
	}
	out.Reset()
	if _, err := other.Run(ctx, h2, executor.Command{Script: "cat artifact"}, &out); err != nil || out.String() != "built\n" {
		t.Fatalf("resumed workspace: %q %v", out.String(), err)
	}

	if err := x.Release(ctx, h); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the released pod to be gone", func() bool {
		_, err := e.client.CoreV1().Pods(e.ns).Get(ctx, first, metav1.GetOptions{})
		return err != nil
	})
	h3, err := x.Prepare(ctx, executor.Checkout{Key: "run-2", CloneURL: repo, Commit: commit}, executor.Handle{})
	if err != nil || h3.Pod == first {
		t.Fatalf("next run got %+v %v", h3, err)
	}
	if _, err := x.Run(ctx, h, executor.Command{Script: "true"}, &out); !errors.Is(err, executor.ErrWorkspaceGone) {
		t.Fatalf("running in a released workspace: %v, want ErrWorkspaceGone", err)
	}
}

// TestRacingClaimsGetDifferentPods: runs claiming at the same moment from
// two workers never share a pod.
func TestRacingClaimsGetDifferentPods(t *testing.T) {
	e := newEnv(t)
	spec := Spec{Name: "race", Image: e.busybox(), MinIdle: 3, MaxTotal: 6}
	a, b := e.pool(spec, "worker-a"), e.pool(spec, "worker-b")
	e.keep(a)
	e.waitIdle(a, 3)
	var mu sync.Mutex
	got := map[string]string{}
	var wg sync.WaitGroup
	for i, p := range []*Pool{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := "run-" + string(rune('a'+i))
			pod, _, err := p.Claim(context.Background(), run)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, ok := got[pod.Name]; ok {
				t.Errorf("pod %s claimed by %s and %s", pod.Name, prev, run)
			}
			got[pod.Name] = run
		}()
	}
	wg.Wait()
	if len(got) != 4 {
		t.Fatalf("claims %v, want 4 distinct pods", got)
	}
}

// TestCancelKillsTheCommandInThePod: cancelling a command ends it and
// everything it started inside the container, not only the exec stream.
func TestCancelKillsTheCommandInThePod(t *testing.T) {
	e := newEnv(t)
	x, h := e.workspace("cancel", "run-c")
	ctx := context.Background()
	defer x.Release(ctx, h)
	// the command's own processes (the sleeps); a lost attempt's wrapper
	// shell is outside the group and only waits, and may linger a moment
	sleepers := func() string {
		out, err := x.Exec.output(ctx, e.ns, h.Pod, "sh", "-c", `ps -o pid,args | awk '$2 == "sleep" && $3 == "314"'`)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	// the script ignores TERM and its child would run for minutes
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := x.Run(cctx, h, executor.Command{Script: "trap '' TERM; sleep 314 & sleep 314; wait"}, &bytes.Buffer{})
		done <- err
	}()
	poll.Until(t, "the command to start in the pod", func() bool { return sleepers() != "" })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if s := sleepers(); s != "" {
		t.Fatalf("processes of the cancelled command still run in the pod:\n%s", s)
	}

	// a lost attempt (its worker died: the stream closed, the command ran
	// on) is ended before the next command runs
	lctx, lost := context.WithCancel(ctx)
	go func() {
		_, _ = x.Exec.Exec(lctx, e.ns, h.Pod, []string{"sh", "-c", scriptWrapper, "sluice", "sleep 314"}, nil, io.Discard, io.Discard)
	}()
	poll.Until(t, "the lost attempt's command to start", func() bool { return sleepers() != "" })
	lost()
	var out bytes.Buffer
	if _, err := x.Run(ctx, h, executor.Command{Script: `ps -o args | awk '$1 == "sleep" && $2 == "314" { n++ } END { print n+0 }'`}, &out); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != "0" {
		t.Fatalf("the next command ran beside the lost attempt's: %q", out.String())
	}
}

// TestTimeoutKillsTheCommandInThePod: a command past its timeout is ended
// in the pod and reported as timed out.
func TestTimeoutKillsTheCommandInThePod(t *testing.T) {
	e := newEnv(t)
	x, h := e.workspace("timeout", "run-t")
	ctx := context.Background()
	defer x.Release(ctx, h)
	res, err := x.Run(ctx, h, executor.Command{Script: "sleep 271", Timeout: time.Second}, &bytes.Buffer{})
	if err != nil || !res.TimedOut {
		t.Fatalf("Run = %+v %v, want timed out", res, err)
	}
	out, err := x.Exec.output(ctx, e.ns, h.Pod, "sh", "-c", `ps -o args | awk '$1 == "sleep" && $2 == "271" { n++ } END { print n+0 }'`)
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("the timed-out command still runs: %q %v", out, err)
	}
}

// TestExpiredLeaseDeletesThePod: a claim nobody renews (its worker died,
// its run is gone) ends with the pod deleted and replaced; a resumed run
// then gets a fresh pod with a fresh checkout.
func TestExpiredLeaseDeletesThePod(t *testing.T) {
	e := newEnv(t)
	p := e.pool(Spec{Name: "lease", Image: e.busybox(), MinIdle: 1, MaxTotal: 3, LeaseTTL: Duration(10 * time.Second)}, "w")
	e.keep(p)
	e.waitIdle(p, 1)
	x := e.executor(p)
	repo, commit := gitsrctest.Repo(t, "../examples/hello", "")
	ctx := context.Background()
	h, err := x.Prepare(ctx, executor.Checkout{Key: "run-l", CloneURL: repo, Commit: commit}, executor.Handle{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Run(ctx, h, executor.Command{Script: "touch dirty"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the expired pod to be deleted", func() bool {
		_, err := e.client.CoreV1().Pods(e.ns).Get(ctx, h.Pod, metav1.GetOptions{})
		return err != nil
	})
	h2, err := x.Prepare(ctx, executor.Checkout{Key: "run-l", CloneURL: repo, Commit: commit}, h)
	if err != nil || h2.Pod == h.Pod {
		t.Fatalf("resume after expiry: %+v %v", h2, err)
	}
	var out bytes.Buffer
	if _, err := x.Run(ctx, h2, executor.Command{Script: "ls dirty 2>&1; ls main.go"}, &out); err != nil || strings.Contains(out.String(), "dirty\n") || !strings.Contains(out.String(), "main.go") {
		t.Fatalf("fresh pod: %q %v", out.String(), err)
	}
	_ = x.Release(ctx, h2)
}

// TestBrokenPoolFailsFast: a pool whose pods cannot start (an image that
// does not exist, a node selector no node matches) fails claims within
// seconds with Kubernetes' reason and the pool's name.
func TestBrokenPoolFailsFast(t *testing.T) {
	e := newEnv(t)
	badImage := e.pool(Spec{Name: "badimage", Image: e.registry + "/sluice/no-such-image:1", MinIdle: 1, MaxTotal: 1}, "w")
	nowhere := e.pool(Spec{Name: "nowhere", Image: e.busybox(), MinIdle: 1, MaxTotal: 1, NodeSelector: map[string]string{"sluice.dev/gpu": "h100"}}, "w")
	e.keep(badImage, nowhere)
	for p, want := range map[*Pool]string{badImage: "ImagePull", nowhere: "Unschedulable"} {
		start := time.Now()
		_, _, err := p.Claim(context.Background(), "run-x")
		if !errors.Is(err, ErrPoolBroken) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p.Spec.Name) {
			t.Errorf("claim from %s: %v, want ErrPoolBroken with %s", p.Spec.Name, err, want)
		}
		t.Logf("%s: refused after %s: %v", p.Spec.Name, time.Since(start).Round(time.Millisecond), err)
	}
}

// TestPodSpecCarriesPlacementAndLimits: the keeper's pods carry the pool's
// node selector, tolerations, requests and limits, cache mounts, and no
// service account token unless asked.
func TestPodSpecCarriesPlacementAndLimits(t *testing.T) {
	e := newEnv(t)
	p := e.pool(Spec{Name: "placed", Image: e.busybox(), MinIdle: 1, MaxTotal: 1,
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		Tolerations:  []Toleration{{Key: "sluice.dev/builds", Operator: "Exists", Effect: "NoSchedule"}},
		Requests:     Resources{CPU: "100m", Memory: "64Mi"}, Limits: Resources{CPU: "1", Memory: "256Mi"},
		Cache: &Cache{HostPath: "/var/cache/sluice-pool-test", Paths: []string{"/root/.cache/go-build"}},
	}, "w")
	e.keep(p)
	name := e.waitIdle(p, 1)[0]
	pod, err := e.client.CoreV1().Pods(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	switch {
	case pod.Spec.NodeSelector["kubernetes.io/os"] != "linux":
		t.Errorf("node selector %v", pod.Spec.NodeSelector)
	case len(pod.Spec.Tolerations) == 0 || pod.Spec.Tolerations[0].Key != "sluice.dev/builds":
		t.Errorf("tolerations %v", pod.Spec.Tolerations)
	case c.Resources.Limits.Cpu().String() != "1" || c.Resources.Requests.Memory().String() != "64Mi":
		t.Errorf("resources %v", c.Resources)
	case len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/root/.cache/go-build":
		t.Errorf("mounts %v", c.VolumeMounts)
	case pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken:
		t.Error("the service account token is mounted")
	}
}
