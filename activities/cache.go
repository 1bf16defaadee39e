package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"strings"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/pool"
)

// maxCacheKeyFile bounds a key file read to hash it.
const maxCacheKeyFile = 64 << 20

var notRepoChar = regexp.MustCompile(`[^a-z0-9._/-]+`)

// cacheRef is where a job's cache is kept: the worker's registry, under
// sluice-cache/<repository>, tagged <job>-<hash of the scope and the key
// files' content>. A key file that is not there counts as such.
func (s *Steps) cacheRef(ctx context.Context, exec executor.Executor, h executor.Handle, c *contract.StepsCache) (string, string, error) {
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00", c.Scope)
	for _, f := range c.Key {
		b, err := exec.ReadFile(ctx, h, f, maxCacheKeyFile)
		if err != nil {
			fmt.Fprintf(sum, "%s\x00missing\x00", f)
			continue
		}
		fmt.Fprintf(sum, "%s\x00%x\x00", f, sha256.Sum256(b))
	}
	fmt.Fprintf(sum, "%s\x00", strings.Join(c.Paths, "\x00"))
	repo, err := s.keptRepo("sluice-cache", c.Repo)
	if err != nil {
		return "", "", err
	}
	return repo, c.Job + "-" + hex.EncodeToString(sum.Sum(nil))[:32], nil
}

// keptRepo is where the worker's registry keeps what jobs of a repository
// keep: <registry>/<kind>/<owner/name, lower-cased>.
func (s *Steps) keptRepo(kind, repo string) (string, error) {
	name := strings.Trim(notRepoChar.ReplaceAllString(strings.ToLower(repo), "-"), "-/")
	if name == "" {
		return "", invalid("a job's %s need the run's repository", kind)
	}
	return s.CacheRegistry + "/" + kind + "/" + name, nil
}

// fetchJobArtifacts unpacks the artifacts of the jobs a cell needs into
// its fresh workspace.
func (s *Steps) fetchJobArtifacts(ctx context.Context, exec executor.Executor, h executor.Handle, refs []string, log io.Writer) error {
	for _, ref := range refs {
		repo, digest, _ := strings.Cut(ref, "@")
		data, err := image.JobArtifacts(ctx, repo, digest, image.MaxArtifacts)
		if err != nil {
			return err
		}
		if err := exec.Extract(ctx, h, data); err != nil {
			return fmt.Errorf("unpack the artifacts %s: %w", ref, err)
		}
		fmt.Fprintf(log, "artifacts %s unpacked, %d KiB\n", ref, len(data)>>10)
	}
	return nil
}

// keepJobArtifacts pushes what a cell's commands produced at its
// artifacts' paths; none of them there fails the cell.
func (s *Steps) keepJobArtifacts(ctx context.Context, exec executor.Executor, h executor.Handle, in contract.StepsInput, log io.Writer) (string, error) {
	if s.CacheRegistry == "" {
		return "", notConfigured("job %s keeps artifacts, and this worker has no registry to keep them in (--registry)", in.Job)
	}
	repo, err := s.keptRepo("sluice-artifacts", in.Repo)
	if err != nil {
		return "", err
	}
	data, err := exec.Archive(ctx, h, in.Artifacts, image.MaxArtifacts)
	switch {
	case errors.Is(err, executor.ErrTooLarge):
		return "", stepFailed("job %s's artifacts %s hold over %d MiB", in.Job, strings.Join(in.Artifacts, ", "), image.MaxArtifacts>>20)
	case err != nil:
		return "", err
	case len(data) == 0:
		return "", stepFailed("job %s's artifacts %s: the commands produced none of them", in.Job, strings.Join(in.Artifacts, ", "))
	}
	digest, err := image.PushJobArtifacts(ctx, repo, in.RunID+"-"+in.Cell, data)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(log, "artifacts %s kept as %s@%s\n", strings.Join(in.Artifacts, ", "), repo, digest)
	return repo + "@" + digest, nil
}

// restoreCache puts a job's cache into its fresh workspace. What it
// returns says where to save it after the commands ("" tag: nowhere).
// Nothing about a cache fails the job: a miss or an unreachable registry
// is a run without it, said in the log.
func (s *Steps) restoreCache(ctx context.Context, exec executor.Executor, h executor.Handle, c *contract.StepsCache, log io.Writer) (repo, tag string, hit bool) {
	if s.CacheRegistry == "" {
		fmt.Fprintln(log, "cache: this worker has no registry (--registry): the job runs without its cache")
		return "", "", false
	}
	repo, tag, err := s.cacheRef(ctx, exec, h, c)
	if err != nil {
		fmt.Fprintf(log, "cache: %v\n", err)
		return "", "", false
	}
	data, err := image.PullCache(ctx, repo, tag, image.MaxArtifacts)
	switch {
	case errors.Is(err, image.ErrNoCache):
		fmt.Fprintf(log, "cache miss (%s, key %s)\n", tag, strings.Join(c.Key, ", "))
		return repo, tag, false
	case err != nil:
		fmt.Fprintf(log, "cache unavailable, running without it: %v\n", err)
		return "", "", false
	}
	if err := exec.Extract(ctx, h, data); err != nil {
		fmt.Fprintf(log, "cache %s not restored, running without it: %v\n", tag, err)
		return "", "", false
	}
	fmt.Fprintf(log, "cache hit (%s): %s restored, %d KiB\n", tag, strings.Join(c.Paths, ", "), len(data)>>10)
	return repo, tag, true
}

// saveCache keeps the job's paths under the key a miss named.
func (s *Steps) saveCache(ctx context.Context, exec executor.Executor, h executor.Handle, c *contract.StepsCache, repo, tag string, log io.Writer) bool {
	data, err := exec.Archive(ctx, h, c.Paths, image.MaxArtifacts)
	switch {
	case errors.Is(err, executor.ErrTooLarge):
		fmt.Fprintf(log, "cache not saved: %s hold over %d MiB\n", strings.Join(c.Paths, ", "), image.MaxArtifacts>>20)
		return false
	case err != nil:
		fmt.Fprintf(log, "cache not saved: %v\n", err)
		return false
	case len(data) == 0:
		fmt.Fprintf(log, "cache not saved: nothing at %s\n", strings.Join(c.Paths, ", "))
		return false
	}
	if _, err := image.PushCache(ctx, repo, tag, data); err != nil {
		fmt.Fprintf(log, "cache not saved: %v\n", err)
		return false
	}
	fmt.Fprintf(log, "cache saved (%s): %s, %d KiB\n", tag, strings.Join(c.Paths, ", "), len(data)>>10)
	return true
}

// startServices starts a cell's services beside its workspace and returns
// the commands' environment with where each one is.
func (s *Steps) startServices(ctx context.Context, exec executor.Executor, h executor.Handle, in contract.StepsInput, log io.Writer) (map[string]string, error) {
	starter, ok := exec.(executor.ServiceStarter)
	if !ok {
		return nil, notConfigured("job %s has services, and its workspace is not a pod that can have them beside it: give the job (or build) a pool", in.Job)
	}
	services := make([]executor.Service, len(in.Services))
	for i, sv := range in.Services {
		services[i] = executor.Service{Name: sv.Name, Image: sv.Image, Ports: sv.Ports, Env: sv.Env}
	}
	where, err := starter.StartServices(ctx, h, services, log)
	if errors.Is(err, pool.ErrServiceCannotStart) {
		// the cell's own failure: its pod goes back, nothing retries it
		return nil, stepFailed("job %s: %v", in.Job, err)
	}
	if err != nil {
		return nil, err
	}
	env := maps.Clone(in.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, where)
	return env, nil
}
