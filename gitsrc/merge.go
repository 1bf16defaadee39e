package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/go-git/go-git/v5"
)

// ErrMergeConflict is a merge request whose changes conflict with its
// target: nothing can be built until its author resolves them.
var ErrMergeConflict = errors.New("the merge request conflicts with its target branch")

// ErrNoGit is a worker without the git binary asked to merge: go-git,
// which does everything else, does not merge.
var ErrNoGit = errors.New("merging a merge request with its target needs git on the worker's PATH")

// mergeIdentity makes the merge commit the same on every checkout (every
// phase, every worker, every retry): a fixed author, committer and date.
var mergeIdentity = []string{
	"GIT_AUTHOR_NAME=Sluice", "GIT_AUTHOR_EMAIL=sluice@localhost", "GIT_AUTHOR_DATE=1970-01-01T00:00:00Z",
	"GIT_COMMITTER_NAME=Sluice", "GIT_COMMITTER_EMAIL=sluice@localhost", "GIT_COMMITTER_DATE=1970-01-01T00:00:00Z",
}

// CheckoutMerged checks commit out into dir and, when merge is set, merges
// that commit (a merge request's target) into it, as the host would merge
// the request: the tree is the merge result, HEAD a merge commit whose
// parents are commit and merge and whose id is the same on every checkout.
// A conflict is ErrMergeConflict naming the files.
func CheckoutMerged(ctx context.Context, url, commit, merge, dir string) error {
	if err := checkout(ctx, url, commit, dir); err != nil {
		return scrub(err, url)
	}
	if merge == "" {
		return nil
	}
	return scrub(mergeInto(ctx, dir, commit, merge), url)
}

func mergeInto(ctx context.Context, dir, commit, merge string) error {
	if !fullSHA.MatchString(merge) {
		return fmt.Errorf("%w: %q", ErrBadCommit, merge)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Errorf("%w (install it, or run merge requests on a worker that has it)", ErrNoGit)
	}
	r, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	if _, err := commitObject(r, merge); err != nil {
		return fmt.Errorf("the merge request's target %s: %w", short(merge), ErrNotFound)
	}
	out, err := gitCmd(ctx, dir, "merge", "--no-ff", "--no-edit", "-m", fmt.Sprintf("Merge %s into %s", short(merge), short(commit)), merge)
	if err == nil {
		return nil
	}
	conflicts, _ := gitCmd(ctx, dir, "diff", "--name-only", "--diff-filter=U")
	if files := strings.Fields(conflicts); len(files) > 0 {
		return fmt.Errorf("%w (%s): merge %s into the branch and push", ErrMergeConflict, strings.Join(files, ", "), short(merge))
	}
	return fmt.Errorf("merge %s into %s: %w: %s", short(merge), short(commit), err, strings.TrimSpace(out))
}

// gitCmd runs the git binary in dir without the machine's or user's
// configuration, hooks or prompts.
func gitCmd(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}, mergeIdentity...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MergedAt tells whether dir holds the checkout CheckoutMerged made of
// commit and merge (merge empty: commit itself).
func MergedAt(dir, commit, merge string) bool {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return false
	}
	h, err := r.Head()
	if err != nil {
		return false
	}
	if merge == "" {
		return h.Hash().String() == commit
	}
	c, err := r.CommitObject(h.Hash())
	if err != nil || len(c.ParentHashes) != 2 {
		return false
	}
	return c.ParentHashes[0].String() == commit && c.ParentHashes[1].String() == merge
}
