package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/image"
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
