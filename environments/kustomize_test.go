package environments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKustomizeOverlay renders an overlay over a base, as a repository's
// deploy/overlays/prod would be, and puts the baked digest in; a remote
// base is refused before anything is fetched.
func TestKustomizeOverlay(t *testing.T) {
	root := t.TempDir()
	hello, _ := os.ReadFile("../examples/hello/deploy/k8s/hello.yaml")
	write(t, filepath.Join(root, "base"), "hello.yaml", string(hello))
	write(t, filepath.Join(root, "base"), "kustomization.yaml", "resources: [hello.yaml]\n")
	write(t, filepath.Join(root, "prod"), "kustomization.yaml", `resources: [../base]
namePrefix: prod-
labels: [{pairs: {tier: web}}]
patches:
  - target: {kind: Deployment, name: hello}
    patch: |
      - {op: replace, path: /spec/replicas, value: 3}
`)
	objs, err := ReadManifests(filepath.Join(root, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects", len(objs))
	}
	if n := SetImage(objs, "127.0.0.1:5000/sluice-demo/hello", "sha256:abc"); n != 1 {
		t.Fatalf("replaced %d images", n)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
		if o.GetLabels()["tier"] != "web" {
			t.Errorf("%s lacks the overlay's label", o.GetName())
		}
		if o.GetKind() == "Deployment" {
			if r, _, _ := unstructuredInt(o.Object, "spec", "replicas"); r != 3 {
				t.Errorf("replicas %d, want the overlay's 3", r)
			}
		}
	}
	if strings.Join(names, ",") != "Deployment/prod-hello,Service/prod-hello" {
		t.Fatalf("objects %v", names)
	}

	write(t, filepath.Join(root, "remote"), "kustomization.yaml", "resources:\n  - github.com/acme/deploy//base?ref=main\n")
	if _, err := ReadManifests(filepath.Join(root, "remote")); err == nil || !strings.Contains(err.Error(), "remote bases are not fetched") {
		t.Fatalf("a remote base: %v", err)
	}
	write(t, filepath.Join(root, "escape"), "kustomization.yaml", "resources: [../../../../etc/passwd]\n")
	if _, err := ReadManifests(filepath.Join(root, "escape")); err == nil {
		t.Fatal("a kustomization reached outside the repository")
	}
}

func unstructuredInt(obj map[string]any, path ...string) (int64, bool, error) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false, nil
		}
		cur = m[p]
	}
	switch v := cur.(type) {
	case int64:
		return v, true, nil
	case float64:
		return int64(v), true, nil
	}
	return 0, false, nil
}
