package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// MaxChangedFiles bounds the files Changed lists: a push changing more is
// taken as changing everything (Known false), so a path rule holds.
const MaxChangedFiles = 10000

// changesDepth is how much of a remote branch's history Changed fetches
// to find the push's previous commit.
const changesDepth = 64

// Changes are the files a push changed, compared with its base.
type Changes struct {
	// Files are the changed paths (old and new names of a rename), sorted.
	Files []string
	// Known is false when the base could not be compared (Why says why):
	// path rules then hold, so a run is never lost to an unknown change.
	Known bool
	Why   string
}

// Changed lists the files that differ between base and commit. base is a
// full SHA (the push's previous commit, a merge request's target) or a
// branch name (the default branch a new branch is compared with); branch
// is the pushed branch or full ref, which a remote fetch follows.
func Changed(ctx context.Context, url, branch, commit, base string) (Changes, error) {
	c, err := changed(ctx, url, branch, commit, base)
	return c, scrub(err, url)
}

func changed(ctx context.Context, url, branch, commit, base string) (Changes, error) {
	if base == "" {
		return Changes{Why: "nothing to compare with"}, nil
	}
	r, err := open(ctx, url, branch, changesDepth)
	if errors.Is(err, ErrTooLarge) {
		// the commit was read; its history is the problem: compare nothing
		return Changes{Why: fmt.Sprintf("the branch's newest %d commits are too large to compare in memory", changesDepth)}, nil
	}
	if err != nil {
		return Changes{}, err
	}
	to, err := commitObject(r, commit)
	if err != nil {
		return Changes{}, fmt.Errorf("commit %s in %s: %w", short(commit), url, ErrNotFound)
	}
	from, why := baseCommit(ctx, r, url, base)
	if from == nil {
		return Changes{Why: why}, nil
	}
	fromTree, err := from.Tree()
	if err != nil {
		return Changes{}, err
	}
	toTree, err := to.Tree()
	if err != nil {
		return Changes{}, err
	}
	diff, err := object.DiffTreeWithOptions(ctx, fromTree, toTree, nil)
	if err != nil {
		return Changes{}, fmt.Errorf("compare %s with %s: %w", short(base), short(commit), err)
	}
	seen := map[string]bool{}
	for _, ch := range diff {
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			if name != "" {
				seen[name] = true
			}
		}
		if len(seen) > MaxChangedFiles {
			return Changes{Why: fmt.Sprintf("more than %d files changed", MaxChangedFiles)}, nil
		}
	}
	files := make([]string, 0, len(seen))
	for f := range seen {
		files = append(files, f)
	}
	slices.Sort(files)
	return Changes{Files: files, Known: true}, nil
}

// baseCommit finds base in r, fetching a base branch of a remote
// repository; nil and the reason when it cannot.
func baseCommit(ctx context.Context, r *git.Repository, url, base string) (*object.Commit, string) {
	if fullSHA.MatchString(base) {
		c, err := commitObject(r, base)
		if err != nil {
			return nil, fmt.Sprintf("base %s is not among the branch's newest %d commits", short(base), changesDepth)
		}
		return c, ""
	}
	ref := plumbing.NewBranchReferenceName(base)
	if IsRemote(url) {
		local := plumbing.NewRemoteReferenceName("origin", base)
		err := r.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{config.RefSpec("+" + ref.String() + ":" + local.String())}, Depth: 1, Tags: git.NoTags})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fmt.Sprintf("branch %s could not be fetched", base)
		}
		ref = local
	}
	h, err := r.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		return nil, fmt.Sprintf("branch %s not found", base)
	}
	c, err := r.CommitObject(*h)
	if err != nil {
		return nil, fmt.Sprintf("branch %s not found", base)
	}
	return c, ""
}
