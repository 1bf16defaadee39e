package environments

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkDeploy measures a deploy of the stand-in app (a Deployment and
// a Service) whose pod template changes every iteration, so each is a real
// rollout: Sluice's server-side apply and rollout wait against the baseline
// `kubectl apply -f && kubectl rollout status` of the same manifests.
func BenchmarkDeploy(b *testing.B) {
	p, c := testCluster(b)
	manifest, err := os.ReadFile("testdata/web/web.yaml")
	if err != nil {
		b.Fatal(err)
	}
	image := p.Registry + "/sluice/busybox:latest"
	// the n-th version of the app: its pod template differs from the last
	version := func(n int) string {
		return strings.Replace(strings.Replace(string(manifest), "image: busybox:latest", "image: "+image, 1),
			"echo served-by-web", fmt.Sprintf("echo served-by-web-%d", n), 1)
	}
	namespace := func(b *testing.B, what string) string {
		ns := fmt.Sprintf("sluice-bench-%s-%d", what, time.Now().UnixNano()%1_000_000_000)
		if err := c.EnsureNamespace(context.Background(), ns, "bench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		return ns
	}
	b.Run("sluice", func(b *testing.B) {
		ns, dir := namespace(b, "sluice"), b.TempDir()
		for i := range b.N {
			b.StopTimer()
			if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(version(i)), 0o644); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			objs, err := ReadManifests(dir)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Apply(context.Background(), ns, "bench", objs, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kubectl", func(b *testing.B) {
		ns, dir := namespace(b, "kubectl"), b.TempDir()
		file := filepath.Join(dir, "web.yaml")
		for i := range b.N {
			b.StopTimer()
			if err := os.WriteFile(file, []byte(version(i)), 0o644); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for _, args := range [][]string{{"apply", "-n", ns, "-f", file}, {"rollout", "status", "-n", ns, "deployment/web", "--timeout=2m"}} {
				cmd := exec.Command("kubectl", append([]string{"--kubeconfig", p.Kubeconfig}, args...)...)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("kubectl %v: %v\n%s", args, err, out)
				}
			}
		}
	})
}
