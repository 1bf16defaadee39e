package pool

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// env is one test's slice of the local platform: its own namespace, which
// the test deletes with everything in it.
type env struct {
	t        testing.TB
	cfg      *rest.Config
	client   kubernetes.Interface
	ns       string
	registry string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	p := testenv.Require(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, cfg: cfg, client: cs, ns: fmt.Sprintf("sluice-pool-test-%d", time.Now().UnixNano()%1_000_000_000), registry: p.Registry}
	if err := ensureNamespace(context.Background(), cs, e.ns); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the namespace's default service account", func() bool {
		_, err := cs.CoreV1().ServiceAccounts(e.ns).Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil
	})
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{}) })
	return e
}

func (e *env) busybox() string   { return e.registry + "/sluice/busybox:latest" }
func (e *env) goBuilder() string { return e.registry + "/sluice/go-builder:latest" }

// pool is a pool of name in the test's namespace with the worker identity
// holder.
func (e *env) pool(s Spec, holder string) *Pool {
	s.Namespace = e.ns
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		e.t.Fatal(err)
	}
	return &Pool{Spec: s, Client: e.client, Holder: holder, ClaimTimeout: 90 * time.Second}
}

func (e *env) executor(p *Pool) *Executor {
	return &Executor{Pool: p, Exec: &Execer{Config: e.cfg, Client: e.client}, KillGrace: 500 * time.Millisecond}
}

// keep runs a keeper for pools until the test ends.
func (e *env) keep(pools ...*Pool) *Keeper {
	k := &Keeper{Client: e.client, Pools: pools, Identity: "test-keeper", LeaseNamespace: e.ns,
		Log: slog.New(slog.DiscardHandler), Resync: 500 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = k.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return k
}

// pods lists the pool's pods now.
func (e *env) pods(p *Pool) []corev1.Pod {
	list, err := p.pods().List(context.Background(), metav1.ListOptions{LabelSelector: p.selector("")})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

// waitIdle waits until the pool has n Ready idle pods and returns their names.
func (e *env) waitIdle(p *Pool, n int) []string {
	e.t.Helper()
	var names []string
	poll.Until(e.t, fmt.Sprintf("%d idle pods in pool %s", n, p.Spec.Name), func() bool {
		names = nil
		for _, pod := range p.idle(e.pods(p)) {
			names = append(names, pod.Name)
		}
		return len(names) >= n
	})
	return names
}

// workspace is the sample app checked out for run in a pod of a new
// one-pod busybox pool named name, with a keeper.
func (e *env) workspace(name, run string) (*Executor, executor.Handle) {
	e.t.Helper()
	p := e.pool(Spec{Name: name, Image: e.busybox(), MinIdle: 1, MaxTotal: 2}, "w")
	e.keep(p)
	e.waitIdle(p, 1)
	x := e.executor(p)
	repo, commit := gitsrctest.Repo(e.t, "../examples/hello", "")
	h, err := x.Prepare(context.Background(), executor.Checkout{Key: run, CloneURL: repo, Commit: commit}, executor.Handle{})
	if err != nil {
		e.t.Fatal(err)
	}
	return x, h
}
