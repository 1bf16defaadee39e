package pool

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// TestSecondBuildReusesThePoolCache: two runs build the same program in two
// different pods of a pool with a cache volume; the second compiles
// nothing, because the Go build cache the first filled is shared.
func TestSecondBuildReusesThePoolCache(t *testing.T) {
	e := newEnv(t)
	cacheDir := filepath.Join("/var/cache/sluice-pool-test", e.ns)
	t.Cleanup(func() { os.RemoveAll(cacheDir) })
	p := e.pool(Spec{Name: "go", Image: e.goBuilder(), MinIdle: 2, MaxTotal: 4,
		Cache: &Cache{HostPath: cacheDir, Paths: []string{"/root/.cache/go-build", "/root/go/pkg/mod"}}}, "w")
	e.keep(p)
	e.waitIdle(p, 2)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/tiny\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nimport (\n\t\"fmt\"\n\t\"strings\"\n)\n\nfunc main() { fmt.Println(strings.ToUpper(\"tiny\")) }\n"), 0o644)
	repo, commit := gitsrctest.Repo(t, src, "version: 1\n")
	x := e.executor(p)
	ctx := context.Background()
	compiles := func(run string) (int, string) {
		h, err := x.Prepare(ctx, executor.Checkout{Key: run, CloneURL: repo, Commit: commit}, executor.Handle{})
		if err != nil {
			t.Fatal(err)
		}
		defer x.Release(ctx, h)
		var out bytes.Buffer
		res, err := x.Run(ctx, h, executor.Command{Script: "go build -x -o /tmp/tiny . 2>&1 && /tmp/tiny"}, &out)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("build: %+v %v\n%s", res, err, out.String())
		}
		return strings.Count(out.String(), "/compile "), h.Pod
	}
	first, pod1 := compiles("run-1")
	second, pod2 := compiles("run-2")
	t.Logf("compiler runs: first build %d (pod %s), second build %d (pod %s)", first, pod1, second, pod2)
	if pod1 == pod2 {
		t.Fatalf("both builds ran in pod %s", pod1)
	}
	if first == 0 || second != 0 {
		t.Fatalf("compiler runs: first %d, second %d; want the second to compile nothing", first, second)
	}
}
