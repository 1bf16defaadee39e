package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/pool"
)

// What a job cell needs beside its commands: its services, the artifacts
// of the jobs it needs, and a place to keep its own.

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

// startServices starts a cell's services beside its workspace and returns
// the commands' environment with where each one is.
func (s *Steps) startServices(ctx context.Context, exec executor.Executor, h executor.Handle, in contract.StepsInput, log io.Writer) (map[string]string, error) {
	starter, ok := exec.(executor.ServiceStarter)
	if !ok {
		return nil, notConfigured("job %s has services, and its workspace is not a pod that can have them beside it: give the job (or build) a pool", in.Job)
	}
	where, err := starter.StartServices(ctx, h, in.Services, log)
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
