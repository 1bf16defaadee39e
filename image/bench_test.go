package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"

	"github.com/sluice-cd/sluice/testenv"
)

// BenchmarkBake bakes the sample app (its multi-stage Dockerfile: go build
// in the go-builder image, then FROM scratch) three ways, each reported as
// a ratio to a cold bake (BuildKit's cache pruned, no registry cache):
//   - one-line: a one-line source change on a warm daemon, also as a
//     ratio to the raw `go build` of the same change on this machine;
//   - one-line from artifacts: the same change as the sample's pipeline
//     bakes it: the build phase's binary (build.artifacts) pushed as an
//     artifact, fetched into the context and COPYed by Dockerfile.package,
//     as a ratio to the raw `go build` that made the binary;
//   - no-change: the same source on a daemon whose cache was pruned, with
//     the registry build cache the cold bake exported.
var greeting = regexp.MustCompile(`hello[0-9]*, %s`)

func BenchmarkBake(b *testing.B) {
	p := testenv.Require(b)
	ctx := context.Background()
	bd := &Builder{Addr: p.BuildKitAddr}
	prune := func() {
		c, err := bkclient.New(ctx, p.BuildKitAddr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Prune(ctx, nil, bkclient.PruneAll); err != nil {
			b.Fatal(err)
		}
	}
	var cold, oneLine, noChange, goBuild, fromArtifacts time.Duration
	for i := range b.N {
		b.StopTimer()
		src := filepath.Join(b.TempDir(), "hello")
		if err := os.CopyFS(src, os.DirFS("../examples/hello")); err != nil {
			b.Fatal(err)
		}
		repo := fmt.Sprintf("%s/sluice-bench/bake-%d-%d", p.Registry, time.Now().UnixNano(), i)
		bake := func(repo string) time.Duration {
			start := time.Now()
			if _, err := bd.Bake(ctx, Bake{ContextDir: src, Repository: repo, Tags: []string{"bench"}}, &bytes.Buffer{}); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		// what the pipeline does with build.artifacts: push the binary,
		// fetch it into bake's context (a fresh checkout), bake
		packaged := func(repo string) time.Duration {
			bin, err := os.ReadFile(filepath.Join(src, "hello"))
			if err != nil {
				b.Fatal(err)
			}
			checkout := filepath.Join(b.TempDir(), "hello")
			if err := os.CopyFS(checkout, os.DirFS("../examples/hello")); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			d, err := PushArtifacts(ctx, repo, "bench-artifacts", map[string][]byte{"hello": bin})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := FetchArtifacts(ctx, repo, d, checkout); err != nil {
				b.Fatal(err)
			}
			if _, err := bd.Bake(ctx, Bake{ContextDir: checkout, Dockerfile: "Dockerfile.package", Repository: repo, Tags: []string{"bench"}}, &bytes.Buffer{}); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		// a one-line change never made before (by this or an earlier
		// benchmark run: neither Go's build cache nor BuildKit's has it)
		edit := func() {
			main := filepath.Join(src, "main.go")
			s, _ := os.ReadFile(main)
			s = greeting.ReplaceAll(s, []byte(fmt.Sprintf("hello%d, %%s", time.Now().UnixNano())))
			if err := os.WriteFile(main, s, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		prune()
		b.StartTimer()
		cold += bake(repo)
		edit()
		// another repository, so that the registry cache of the cold bake
		// stays as it was for the no-change bake below
		oneLine += bake(repo + "-changed")
		b.StopTimer()

		// the same one-line change built by the Go toolchain alone
		gb := func() time.Duration {
			start := time.Now()
			cmd := exec.Command("go", "build", "-o", "hello", ".")
			cmd.Dir, cmd.Env = src, append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("go build: %v\n%s", err, out)
			}
			return time.Since(start)
		}
		gb()
		packaged(repo + "-packaged") // the daemon warm for this Dockerfile too
		edit()
		goBuild += gb()
		b.StartTimer()
		fromArtifacts += packaged(repo + "-packaged")
		b.StopTimer()

		// back to the cold bake's source, on a pruned daemon
		if err := os.CopyFS(src+"-orig", os.DirFS("../examples/hello")); err != nil {
			b.Fatal(err)
		}
		src = src + "-orig"
		prune()
		b.StartTimer()
		noChange += bake(repo)
	}
	n := float64(b.N)
	b.ReportMetric(cold.Seconds()/n, "cold-s")
	b.ReportMetric(noChange.Seconds()/cold.Seconds(), "no-change/cold")
	b.ReportMetric(oneLine.Seconds()/cold.Seconds(), "one-line/cold")
	b.ReportMetric(oneLine.Seconds()/goBuild.Seconds(), "one-line/go-build")
	b.ReportMetric(goBuild.Seconds()/n, "go-build-s")
	b.ReportMetric(fromArtifacts.Seconds()/goBuild.Seconds(), "from-artifacts/go-build")
	b.ReportMetric(fromArtifacts.Seconds()/n, "from-artifacts-s")
}
