package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-cd/sluice/pipelines"
)

// canary releases page as run, four pods, starting a canary at weight.
func (f *fixture) canary(t testing.TB, run, page string, weight int) (*Record, error) {
	t.Helper()
	objs := app(t, f.image, page, false)
	if err := unstructured.SetNestedField(objs[0].Object, int64(4), "spec", "replicas"); err != nil {
		t.Fatal(err)
	}
	return f.r.Release(context.Background(), Request{
		Pipeline: "web", Namespace: f.ns, Run: run, Commit: strings.Repeat(run[len(run)-1:], 40), Digest: "sha256:" + page,
		Strategy: pipelines.Canary, CanaryWeight: weight, Objects: objs,
	}, &f.log)
}

// pods is the replicas a Deployment asks for and has ready ("-" when it
// does not exist), as "asked/ready".
func (f *fixture) pods(t testing.TB, name string) string {
	t.Helper()
	d, err := f.r.Cluster.Client.AppsV1().Deployments(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "-"
	}
	return fmt.Sprintf("%d/%d", *d.Spec.Replicas, d.Status.ReadyReplicas)
}

// TestCanaryReleases: a first release has nothing to be a canary beside;
// a second runs as a canary at its weight's share of the pods beside the
// stable Deployment, moves with SetWeight, and an undo removes it and
// puts the stable Deployment back at full size; a third is promoted: the
// stable Deployment runs it, the canary is gone, the release is live.
func TestCanaryReleases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rec, err := f.canary(t, "run-1", "one", 25)
	if err != nil || rec.State != Live || rec.IsCanary() {
		t.Fatalf("first release: %+v %v\n%s", rec, err, f.log.String())
	}
	if got := f.pods(t, "web") + " " + f.pods(t, "web-canary"); got != "4/4 -" {
		t.Fatalf("first release's pods: %s", got)
	}

	rec, err = f.canary(t, "run-2", "two", 25)
	if err != nil || !rec.IsCanary() || f.states(t) != "v1:live v2:pending" {
		t.Fatalf("canary: %+v %v %s\n%s", rec, err, f.states(t), f.log.String())
	}
	if got := f.pods(t, "web") + " " + f.pods(t, "web-canary"); got != "3/3 1/1" {
		t.Fatalf("canary at 25%%: %s", got)
	}
	if p, err := rec.PodPattern(); err != nil || p != "(web-canary)-[a-z0-9]+-[a-z0-9]+" {
		t.Fatalf("the canary's pods: %s %v", p, err)
	}
	if err := f.r.SetWeight(ctx, f.ns, "web", "run-2", 75, &f.log); err != nil {
		t.Fatal(err)
	}
	if got := f.pods(t, "web") + " " + f.pods(t, "web-canary"); got != "1/1 3/3" {
		t.Fatalf("canary at 75%%: %s", got)
	}
	if err := f.r.Undo(ctx, f.ns, "web", "run-2", "its analysis failed", &f.log); err != nil {
		t.Fatal(err)
	}
	if got := f.pods(t, "web") + " " + f.pods(t, "web-canary"); got != "4/4 -" || f.states(t) != "v1:live v2:rolled-back" {
		t.Fatalf("after the undo: %s %s\n%s", got, f.states(t), f.log.String())
	}
	if got := f.serves(t, "web", "one"); got != "one" {
		t.Fatalf("after the undo the app serves %q", got)
	}

	if _, err := f.canary(t, "run-3", "three", 50); err != nil {
		t.Fatal(err)
	}
	if got := f.pods(t, "web") + " " + f.pods(t, "web-canary"); got != "2/2 2/2" {
		t.Fatalf("canary at 50%%: %s", got)
	}
	for range 2 { // promoting twice is harmless
		if rec, err = f.r.Promote(ctx, f.ns, "web", "run-3", &f.log); err != nil || rec.State != Live {
			t.Fatalf("promote: %+v %v\n%s", rec, err, f.log.String())
		}
	}
	if got := f.pods(t, "web") + " " + f.pods(t, "web-canary"); got != "4/4 -" || f.states(t) != "v1:superseded v2:rolled-back v3:live" {
		t.Fatalf("after the promotion: %s %s", got, f.states(t))
	}
	if got := f.serves(t, "web", "three"); got != "three" {
		t.Fatalf("after the promotion the app serves %q", got)
	}
	if err := f.r.SetWeight(ctx, f.ns, "web", "run-3", 50, &f.log); !errors.Is(err, ErrNotCanary) {
		t.Fatalf("weight of a promoted release: %v", err)
	}
	for _, c := range []struct {
		total          int64
		weight         int
		canary, stable int64
	}{{4, 25, 1, 3}, {4, 30, 2, 2}, {4, 99, 3, 1}, {2, 10, 1, 1}, {1, 50, 1, 0}, {10, 5, 1, 9}} {
		if c1, s1 := CanarySplit(c.total, c.weight); c1 != c.canary || s1 != c.stable {
			t.Errorf("CanarySplit(%d, %d) = %d, %d, want %d, %d", c.total, c.weight, c1, s1, c.canary, c.stable)
		}
	}
}
