// Package image builds images with BuildKit and marks them in an OCI
// registry: bake (Dockerfile → pushed digest, tagged with the commit, build
// cache in the registry) and the "available" tag of a tested digest. It
// knows nothing of Temporal; the bake and promote activities adapt it.
package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	dockerconfig "github.com/docker/cli/cli/config"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/tonistiigi/fsutil"
)

// Builder bakes images on one BuildKit daemon.
type Builder struct {
	// Addr is the daemon's address (unix:///run/buildkit/buildkitd.sock,
	// tcp://buildkitd:1234).
	Addr string
}

// Bake is one image to build.
type Bake struct {
	// ContextDir is the build context on this machine.
	ContextDir string
	// Dockerfile is relative to ContextDir; default "Dockerfile".
	Dockerfile string
	BuildArgs  map[string]string
	// Repository is where the image goes, without tag
	// (registry.example.com/team/app).
	Repository string
	// Tags are added to the pushed digest (the commit SHA).
	Tags []string
	// Source and Revision name what was built (the repository, without
	// credentials, and the commit): recorded in the provenance.
	Source, Revision string
	// Run is the run that bakes: an annotation of the pushed image
	// (AnnotationRun), so that the run finds its image again (BakedBy).
	Run string
}

// AnnotationRun on a baked image's index names the run that baked it.
const AnnotationRun = "dev.sluice.run"

// Baked is a pushed image.
type Baked struct {
	Repository string
	Digest     string
	// CacheHits and Steps count the build's steps and those BuildKit took
	// from its cache.
	CacheHits, Steps int
}

// Ref is the image by digest: what deploy and promote use.
func (b Baked) Ref() string { return b.Repository + "@" + b.Digest }

// Bake builds b with the Dockerfile frontend and pushes it by digest with
// its tags. Build cache is exported to and imported from the registry
// (REPOSITORY:buildcache, all layers), so a rebuild on a fresh worker or
// daemon reuses it. Progress (each step, cached or not, and its output)
// goes to log; a failing step's error names the Dockerfile line.
func (bd *Builder) Bake(ctx context.Context, b Bake, log io.Writer) (Baked, error) {
	if b.Dockerfile == "" {
		b.Dockerfile = "Dockerfile"
	}
	if !filepath.IsLocal(b.Dockerfile) {
		return Baked{}, fmt.Errorf("dockerfile %q must be a path inside the build context", b.Dockerfile)
	}
	c, err := bkclient.New(ctx, bd.Addr)
	if err != nil {
		return Baked{}, fmt.Errorf("connect to BuildKit at %s: %w", bd.Addr, err)
	}
	defer c.Close()
	// The client connects lazily: ask BuildKit first, so that a daemon that
	// is down is a (retryable) error naming it, never a "build failure".
	if _, err := c.ListWorkers(ctx); err != nil {
		return Baked{}, fmt.Errorf("BuildKit at %s is not reachable (is buildkitd running? --buildkit-addr): %w", bd.Addr, err)
	}
	ctxFS, err := fsutil.NewFS(b.ContextDir)
	if err != nil {
		return Baked{}, err
	}
	dfDir := filepath.Join(b.ContextDir, filepath.Dir(b.Dockerfile))
	dfFS, err := fsutil.NewFS(dfDir)
	if err != nil {
		return Baked{}, err
	}
	// SLSA provenance of the build (BuildKit's own, every step and input),
	// attached to the image index as an in-toto attestation.
	attrs := map[string]string{"filename": filepath.Base(b.Dockerfile), "attest:provenance": "mode=max"}
	if b.Revision != "" {
		attrs["vcs:revision"], attrs["vcs:source"] = b.Revision, b.Source
	}
	for k, v := range b.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	var names []string
	for _, t := range b.Tags {
		names = append(names, b.Repository+":"+t)
	}
	if len(names) == 0 {
		names = []string{b.Repository}
	}
	insecure := fmt.Sprint(Insecure(b.Repository))
	export := map[string]string{"name": strings.Join(names, ","), "push": "true", "registry.insecure": insecure}
	if b.Run != "" {
		export["annotation-index."+AnnotationRun] = b.Run
	}
	cache := map[string]string{"ref": b.Repository + ":buildcache", "registry.insecure": insecure}
	opt := bkclient.SolveOpt{
		// Pulls and pushes authenticate with the worker's Docker config
		// (docker login), through BuildKit's session: RUN steps never see it.
		Session: []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
			AuthConfigProvider: authprovider.LoadAuthConfig(dockerconfig.LoadDefaultConfigFile(io.Discard)),
		})},
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports:       []bkclient.ExportEntry{{Type: bkclient.ExporterImage, Attrs: export}},
		CacheImports:  []bkclient.CacheOptionsEntry{{Type: "registry", Attrs: cache}},
		CacheExports: []bkclient.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{
			"ref": cache["ref"], "registry.insecure": insecure, "mode": "max",
		}}},
	}
	progress := make(chan *bkclient.SolveStatus)
	p := &progressLog{w: log, seen: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range progress { // the channel must be drained
			p.write(st)
		}
	}()
	res, err := c.Solve(ctx, nil, opt, progress)
	<-done
	if err != nil {
		return Baked{}, buildError(err, log)
	}
	digest := res.ExporterResponse["containerimage.digest"]
	if digest == "" {
		return Baked{}, errors.New("BuildKit pushed the image but reported no digest")
	}
	return Baked{Repository: b.Repository, Digest: digest, CacheHits: p.cached, Steps: p.steps}, nil
}

// buildError writes the Dockerfile lines a failure points at to log and
// returns an error that names them.
func buildError(err error, log io.Writer) error {
	var where []string
	for _, s := range errdefs.Sources(err) {
		_ = s.Print(log)
		if s.Info == nil {
			continue
		}
		for _, r := range s.Ranges {
			where = append(where, fmt.Sprintf("%s:%d", s.Info.Filename, r.Start.Line))
		}
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "did not complete successfully"); i > 0 {
		// the useful part; the rest is the gRPC envelope
		if j := strings.LastIndex(msg[:i], "process "); j >= 0 {
			msg = strings.TrimSpace(msg[j:])
		}
	}
	if len(where) > 0 {
		return fmt.Errorf("%w: %s: %s", ErrBuild, strings.Join(where, ", "), msg)
	}
	return fmt.Errorf("%w: %s", ErrBuild, msg)
}

// ErrBuild marks a failure of the image's own build (a Dockerfile step),
// not of the machinery: retrying does not help.
var ErrBuild = errors.New("image build failed")

// Insecure reports whether a repository's registry is spoken to over plain
// HTTP: only a registry on the loopback interface (the local platform's).
func Insecure(repository string) bool {
	host, _, _ := strings.Cut(repository, "/")
	h := host
	if i := strings.LastIndex(host, ":"); i > 0 {
		h = host[:i]
	}
	return h == "127.0.0.1" || h == "localhost" || h == "[::1]"
}
