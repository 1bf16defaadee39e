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
	if len(objs) != 3 {
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
	if strings.Join(names, ",") != "Deployment/prod-hello,PodDisruptionBudget/prod-hello,Service/prod-hello" {
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

// TestHelmChart renders a chart with its own values as the pipeline's
// release, and puts the baked digest in.
func TestHelmChart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chart")
	write(t, dir, "Chart.yaml", "apiVersion: v2\nname: hello\nversion: 0.1.0\n")
	write(t, dir, "values.yaml", "replicas: 2\nimage: {repository: hello, tag: dev}\n")
	write(t, filepath.Join(dir, "templates"), "deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}, namespace: {{ .Release.Namespace }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
        - {name: app, image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"}
`)
	objs, err := ReadManifestsAs(dir, "shop", "shop-prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].GetName() != "shop" || objs[0].GetNamespace() != "shop-prod" {
		t.Fatalf("rendered %v", objs)
	}
	if r, _, _ := unstructuredInt(objs[0].Object, "spec", "replicas"); r != 2 {
		t.Fatalf("replicas %d, want the chart's 2", r)
	}
	if SetImage(objs, "127.0.0.1:5000/acme/hello", "sha256:abc") != 1 {
		t.Fatal("the chart's image was not replaced by the digest")
	}
	write(t, dir, "Chart.yaml", "apiVersion: v2\nname: hello\nversion: 0.1.0\ndependencies: [{name: redis, version: 1.0.0, repository: https://charts.example.com}]\n")
	if _, err := ReadManifestsAs(dir, "shop", "shop-prod"); err == nil || !strings.Contains(err.Error(), "dependencies are not downloaded") {
		t.Fatalf("a chart with a missing dependency: %v", err)
	}
}
