// Package gitsrc reads and checks out commits with go-git: from a local
// repository path, a file:// URL, or an http(s) URL. No git binary is needed.
package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// ErrNotFound is returned (wrapped) when a branch, commit or file does not exist.
var ErrNotFound = errors.New("not found")

// ErrBadCommit is returned (wrapped) for a commit that is not a full SHA.
var ErrBadCommit = errors.New("commit must be a full 40-character SHA")

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// IsRemote reports whether url needs the network (http, https, ssh, git).
func IsRemote(url string) bool {
	return strings.Contains(url, "://") && !strings.HasPrefix(url, "file://")
}

func localPath(url string) string { return strings.TrimPrefix(url, "file://") }

// open returns the repository at url: opened in place when local, or
// fetched into bounded memory when remote — the branch only, and only its
// newest depth commits when depth > 0.
func open(ctx context.Context, url, branch string, depth int) (*git.Repository, error) {
	if !IsRemote(url) {
		r, err := git.PlainOpenWithOptions(localPath(url), &git.PlainOpenOptions{DetectDotGit: false})
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", url, err)
		}
		return r, nil
	}
	opts := &git.CloneOptions{URL: url, NoCheckout: true, Tags: git.NoTags}
	if branch != "" {
		opts.ReferenceName = refName(branch)
		opts.SingleBranch = true
		opts.Depth = depth
	}
	r, err := git.CloneContext(ctx, newBoundedStorage(), nil, opts)
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return nil, fmt.Errorf("ref %q in %s: %w", branch, url, ErrNotFound)
		}
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	return r, nil
}

// Resolve returns the full commit SHA a branch, tag or SHA names.
func Resolve(ctx context.Context, url, ref string) (string, error) {
	sha, err := resolve(ctx, url, ref)
	return sha, scrub(err, url)
}

func resolve(ctx context.Context, url, ref string) (string, error) {
	if IsRemote(url) {
		rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
		refs, err := rem.ListContext(ctx, &git.ListOptions{})
		if err != nil {
			return "", fmt.Errorf("list refs of %s: %w", url, err)
		}
		// a full ref name ("refs/tags/v1") matches only itself: a branch
		// called "refs/tags/v1" must not stand in for the tag
		full := strings.HasPrefix(ref, "refs/")
		for _, r := range refs {
			if r.Name().String() == ref || !full && (r.Name() == plumbing.NewBranchReferenceName(ref) || r.Name() == plumbing.NewTagReferenceName(ref)) {
				return r.Hash().String(), nil
			}
		}
		if fullSHA.MatchString(ref) {
			return ref, nil
		}
		return "", fmt.Errorf("ref %q in %s: %w", ref, url, ErrNotFound)
	}
	r, err := open(ctx, url, "", 0)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(ref, "refs/") {
		// exactly this ref: a revision would also find refs/heads/<ref>
		if h, err := r.Reference(plumbing.ReferenceName(ref), true); err == nil {
			return h.Hash().String(), nil
		}
		return "", fmt.Errorf("ref %q in %s: %w", ref, url, ErrNotFound)
	}
	for _, rev := range []string{"refs/heads/" + ref, "refs/tags/" + ref, ref} {
		if h, err := r.ResolveRevision(plumbing.Revision(rev)); err == nil {
			return h.String(), nil
		}
	}
	return "", fmt.Errorf("ref %q in %s: %w", ref, url, ErrNotFound)
}

// TagCommit returns the commit a tag names, through its annotated object.
func TagCommit(ctx context.Context, url, tag string) (string, error) {
	sha, err := tagCommit(ctx, url, tag)
	return sha, scrub(err, url)
}

func tagCommit(ctx context.Context, url, tag string) (string, error) {
	ref := plumbing.NewTagReferenceName(tag)
	if IsRemote(url) {
		rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
		refs, err := rem.ListContext(ctx, &git.ListOptions{PeelingOption: git.AppendPeeled})
		if err != nil {
			return "", fmt.Errorf("list refs of %s: %w", url, err)
		}
		var sha string
		for _, r := range refs {
			switch r.Name().String() {
			case ref.String() + "^{}": // the commit an annotated tag names
				return r.Hash().String(), nil
			case ref.String():
				sha = r.Hash().String()
			}
		}
		if sha == "" {
			return "", fmt.Errorf("tag %q in %s: %w", tag, url, ErrNotFound)
		}
		return sha, nil
	}
	r, err := open(ctx, url, "", 0)
	if err != nil {
		return "", err
	}
	h, err := r.Reference(ref, true)
	if err != nil {
		return "", fmt.Errorf("tag %q in %s: %w", tag, url, ErrNotFound)
	}
	c, err := commitObject(r, h.Hash().String())
	if err != nil {
		return "", fmt.Errorf("tag %q in %s names no commit: %w", tag, url, err)
	}
	return c.Hash.String(), nil
}

// CommitInfo describes a commit.
type CommitInfo struct {
	SHA         string
	AuthorName  string
	AuthorEmail string
	Message     string
	// Committed is when the commit was made (its committer's time).
	Committed time.Time
}

// ReadFile returns a file's content at a commit, and the commit's metadata.
// branch helps a remote fetch; it may be empty for local repositories.
func ReadFile(ctx context.Context, url, branch, commit, path string) ([]byte, CommitInfo, error) {
	b, info, err := readFile(ctx, url, branch, commit, path)
	return b, info, scrub(err, url)
}

// shallowDepths are the histories ReadFile fetches of a remote branch, in
// turn: the pushed commit is nearly always the tip; a newer push may have
// moved the branch on by a few commits.
var shallowDepths = []int{1, 32}

func readFile(ctx context.Context, url, branch, commit, path string) ([]byte, CommitInfo, error) {
	c, info, err := findCommit(ctx, url, branch, commit)
	if err != nil {
		return nil, info, err
	}
	b, err := fileAt(c, path)
	return b, info, err
}

// findCommit fetches (remote) or opens (local) what holds commit.
func findCommit(ctx context.Context, url, branch, commit string) (*object.Commit, CommitInfo, error) {
	depths := shallowDepths
	if branch == "" || !IsRemote(url) {
		depths = []int{0}
	}
	var c *object.Commit
	for _, depth := range depths {
		r, err := open(ctx, url, branch, depth)
		if err != nil {
			return nil, CommitInfo{}, err
		}
		if c, err = commitObject(r, commit); err == nil {
			break
		}
	}
	if c == nil {
		if depths[0] != 0 {
			return nil, CommitInfo{}, fmt.Errorf("commit %s is not among the newest %d commits of branch %s in %s: %w", short(commit), depths[len(depths)-1], branch, url, ErrNotFound)
		}
		return nil, CommitInfo{}, fmt.Errorf("commit %s in %s: %w", commit, url, ErrNotFound)
	}
	return c, CommitInfo{SHA: c.Hash.String(), AuthorName: c.Author.Name, AuthorEmail: c.Author.Email, Message: strings.TrimSpace(c.Message), Committed: c.Committer.When.UTC()}, nil
}

// maxSpecBytes bounds one file read at a commit.
const maxSpecBytes = 4 << 20

func fileAt(c *object.Commit, path string) ([]byte, error) {
	f, err := c.File(path)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", path, short(c.Hash.String()), ErrNotFound)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(io.LimitReader(rd, maxSpecBytes))
}

// MaxSpecFiles bounds the pipelines one commit may define in a directory.
const MaxSpecFiles = 32

// ReadSpecs returns, from one fetch, the content of file and of every
// .yml file directly in dir at a commit, by path; either may be absent. A
// directory of more than MaxSpecFiles such files is refused.
func ReadSpecs(ctx context.Context, url, branch, commit, file, dir string) (map[string][]byte, CommitInfo, error) {
	out, info, err := readSpecs(ctx, url, branch, commit, file, dir)
	return out, info, scrub(err, url)
}

func readSpecs(ctx context.Context, url, branch, commit, file, dir string) (map[string][]byte, CommitInfo, error) {
	c, info, err := findCommit(ctx, url, branch, commit)
	if err != nil {
		return nil, info, err
	}
	out := map[string][]byte{}
	if b, err := fileAt(c, file); err == nil {
		out[file] = b
	} else if !errors.Is(err, ErrNotFound) {
		return nil, info, err
	}
	root, err := c.Tree()
	if err != nil {
		return nil, info, err
	}
	sub, err := root.Tree(dir)
	if err != nil {
		return out, info, nil // no directory
	}
	var names []string
	for _, e := range sub.Entries {
		if e.Mode.IsFile() && strings.HasSuffix(e.Name, ".yml") {
			names = append(names, e.Name)
		}
	}
	if len(names) > MaxSpecFiles {
		return nil, info, fmt.Errorf("%w: %s holds %d pipelines; at most %d are read", ErrTooLarge, dir, len(names), MaxSpecFiles)
	}
	for _, n := range names {
		b, err := fileAt(c, dir+"/"+n)
		if err != nil {
			return nil, info, err
		}
		out[dir+"/"+n] = b
	}
	return out, info, nil
}

// refName is the reference a branch name, or a full ref name
// ("refs/tags/v1"), stands for.
func refName(branch string) plumbing.ReferenceName {
	if strings.HasPrefix(branch, "refs/") {
		return plumbing.ReferenceName(branch)
	}
	return plumbing.NewBranchReferenceName(branch)
}

// commitObject is the commit sha names, through an annotated tag's object
// when sha is one (a tag push may name the tag rather than its commit).
func commitObject(r *git.Repository, sha string) (*object.Commit, error) {
	h := plumbing.NewHash(sha)
	c, err := r.CommitObject(h)
	if err == nil {
		return c, nil
	}
	if t, terr := r.TagObject(h); terr == nil {
		return t.Commit()
	}
	return nil, err
}

// Checkout clones url into dir and checks out commit (detached). dir must
// not exist or be empty. Submodules are not fetched.
func Checkout(ctx context.Context, url, commit, dir string) error {
	return scrub(checkout(ctx, url, commit, dir), url)
}

func checkout(ctx context.Context, url, commit, dir string) error {
	if !fullSHA.MatchString(commit) {
		return fmt.Errorf("%w: %q", ErrBadCommit, commit)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	r, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: url, NoCheckout: true, Tags: git.NoTags})
	if err != nil {
		if errors.Is(err, transport.ErrRepositoryNotFound) {
			return fmt.Errorf("clone %s: repository %w", url, ErrNotFound)
		}
		return fmt.Errorf("clone %s: %w", url, err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: plumbing.NewHash(commit), Force: true}); err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return fmt.Errorf("commit %s in %s: %w", short(commit), url, ErrNotFound)
		}
		return fmt.Errorf("check out %s: %w", short(commit), err)
	}
	return nil
}

// Head returns the commit checked out in dir.
func Head(dir string) (string, error) {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return "", err
	}
	h, err := r.Head()
	if err != nil {
		return "", err
	}
	return h.Hash().String(), nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
