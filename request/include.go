package request

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/pipelines"
)

var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Fragments reads the fragments a spec (data) includes, each at its tag or
// commit, through the bounded fetch specs are read with. An include the
// server cannot read — a repository outside its configuration, a branch
// for a ref, a tag that moved since it was pinned, a missing file — is an
// *Invalid; a repository that cannot be reached is an error.
func Fragments(ctx context.Context, cfg *config.Config, data []byte) ([]pipelines.Fragment, error) {
	return (&fragments{cfg: cfg, read: map[string]pipelines.Fragment{}}).all(ctx, data)
}

// fragments reads includes once per push, whatever pipelines share them.
type fragments struct {
	cfg  *config.Config
	read map[string]pipelines.Fragment
}

func (f *fragments) all(ctx context.Context, data []byte) ([]pipelines.Fragment, error) {
	ins := pipelines.Includes(data)
	if len(ins) > pipelines.MaxIncludes {
		return nil, nil // the spec's validation says so, at its line
	}
	var out []pipelines.Fragment
	for _, in := range ins {
		if in.Repo == "" || in.Ref == "" || in.File == "" {
			continue // the spec's validation says what is missing
		}
		frag, ok := f.read[in.String()]
		if !ok {
			var err error
			if frag, err = f.one(ctx, in); err != nil {
				return nil, err
			}
			f.read[in.String()] = frag
		}
		out = append(out, frag)
	}
	return out, nil
}

func (f *fragments) one(ctx context.Context, in pipelines.Include) (pipelines.Fragment, error) {
	refused := func(format string, args ...any) error {
		return &Invalid{Err: fmt.Errorf("include %s: "+format, append([]any{in}, args...)...)}
	}
	url, err := includeURL(f.cfg, in.Repo)
	if err != nil {
		return pipelines.Fragment{}, refused("%w", err)
	}
	commit, ref := in.Ref, ""
	if !shaPattern.MatchString(in.Ref) {
		commit, err = gitsrc.TagCommit(ctx, url, in.Ref)
		if errors.Is(err, gitsrc.ErrNotFound) {
			return pipelines.Fragment{}, refused("no tag %s in %s: pin a tag or a full commit SHA (a branch moves under every run)", in.Ref, in.Repo)
		}
		if err != nil {
			return pipelines.Fragment{}, fmt.Errorf("include %s: %w", in, err)
		}
		if in.Commit != "" && commit != in.Commit {
			return pipelines.Fragment{}, refused("tag %s has moved: it names %s, not the pinned %s; check what changed, then pin the new commit", in.Ref, short(commit), short(in.Commit))
		}
		ref = pipelines.TagRef(in.Ref)
	}
	b, _, err := gitsrc.ReadFile(ctx, url, ref, commit, in.File)
	if errors.Is(err, gitsrc.ErrNotFound) || errors.Is(err, gitsrc.ErrTooLarge) {
		// no retry reads it: refused, not a failure to try again
		return pipelines.Fragment{}, refused("%w", err)
	}
	if err != nil {
		return pipelines.Fragment{}, fmt.Errorf("include %s: %w", in, err)
	}
	return pipelines.Fragment{Name: in.String(), Data: b}, nil
}

// includeURL is where an included repository is read: a repository of the
// server's configuration by name; on a server without repositories or
// projects (a CLI's view, `sluice dev`), a path or URL.
func includeURL(cfg *config.Config, repo string) (string, error) {
	for _, r := range cfg.Repositories {
		if strings.EqualFold(r.Name, repo) {
			return r.CloneURL, nil
		}
	}
	if len(cfg.Repositories) > 0 || len(cfg.Projects) > 0 {
		return "", fmt.Errorf("%s is not a repository of this server's configuration: an administrator adds it under repositories", repo)
	}
	if !gitsrc.IsRemote(repo) && !filepath.IsAbs(strings.TrimPrefix(repo, "file://")) {
		// a name means the configuration's repositories (never a path
		// relative to wherever the server runs)
		return "", fmt.Errorf("%s names no repository: without a configuration of repositories, give an absolute path or a URL (sluice lint: pass the server's --config to read repositories by name)", repo)
	}
	return CloneURL(repo)
}
