// Package request turns a push — from a webhook, the CLI, the API, a retry
// or a schedule — into the one Request a run starts from: the commit
// resolved, the spec read from it and checked against the server's
// configuration, the author's and pusher's identities gathered. Every door
// builds its request here, so every door follows the same rules. Nothing
// here knows Temporal or HTTP; the doors map the errors to their answers.
package request

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/policy"
)

// Source is what asks for a run.
type Source struct {
	// Repo is the repository's name as Sluice shows it ("acme/hello");
	// empty: derived from CloneURL.
	Repo string
	// CloneURL is a local path, file:// or http(s) URL.
	CloneURL string
	Branch   string
	// Commit is a full or abbreviated SHA; empty: the branch's head.
	Commit string
	// The commit's author as the door knows it; empty: read from the commit.
	AuthorName, AuthorEmail, AuthorUsername string
	// The account that pushed, when the door knows it.
	Pusher, PusherEmail string
	// DeliveryID identifies the delivery or request, for deduplication.
	DeliveryID string
	// Message is the commit message; empty: read from the commit.
	Message string
	// Manual is a run asked for by a person (`sluice run`) or a retry:
	// the spec's `on` does not apply.
	Manual bool
	// Pipeline names the pipeline Build reads (.sluice/<pipeline>.yml);
	// empty: .sluice.yml. BuildAll reads every one.
	Pipeline string
	// Inputs are values of the spec's inputs (`sluice run --input`),
	// checked against their declarations.
	Inputs map[string]string
	// Event is what happened at the Git host (pipelines.Event*); empty:
	// manual for a Manual source, tag for a tag's ref, else push.
	Event string
	// Base is what the push's changes are compared with (webhooks.Push's
	// Base); empty: unknown, and path rules hold.
	Base string
	// Merge is a merge request's target commit, when a retry already
	// knows it; else a merge request's Base (a commit or the target
	// branch) is resolved to it.
	Merge string
}

// event is the source's event, as rules see it: a retry keeps its run's.
func (s Source) event() string {
	switch {
	case s.Event != "":
		return s.Event
	case s.Manual:
		return pipelines.EventManual
	}
	if _, ok := pipelines.TagOf(s.Branch); ok {
		return pipelines.EventTag
	}
	return pipelines.EventPush
}

// Invalid is a push whose spec cannot run: missing, malformed, or asking
// for what the server does not have. Nothing was started.
type Invalid struct {
	// File is the spec's path; empty: .sluice.yml.
	File   string
	Commit string
	Err    error
}

func (e *Invalid) Error() string {
	return fmt.Sprintf("%s at %s is invalid; nothing was started:\n%v", cmp.Or(e.File, pipelines.FileName), short(e.Commit), e.Err)
}

func (e *Invalid) Unwrap() error { return e.Err }

// Ignored is a push the spec does not run (its `on` refuses it, or its
// rules skip every phase); the text is the reason.
type Ignored string

func (i Ignored) Error() string { return string(i) }

// Builder builds requests. The zero value reads specs without a time
// limit and knows no server configuration (a CLI's view).
type Builder struct {
	// Config is the server's configuration: pools a spec may name,
	// identities linked to a Git author, projects and their policy. Nil (a
	// CLI's view): no pools checked, no identities linked, no policy.
	Config *config.Config
	// ReadTimeout bounds resolving the commit and reading the spec (a Git
	// host gives up on a webhook after 10 s); zero: no bound beyond ctx.
	ReadTimeout time.Duration
}

// Build resolves the commit, reads and checks the spec at that commit and
// describes the push: the spec of src.Pipeline (.sluice.yml when empty).
// A bad spec is an *Invalid; a push the spec does not run is an Ignored;
// anything else is the repository's failure.
func (b *Builder) Build(ctx context.Context, src Source) (contract.Request, error) {
	built, err := b.build(ctx, src, false)
	if err != nil {
		return contract.Request{}, err
	}
	return built[0].Request, built[0].Err
}

// Built is one pipeline's request for a push, or (Err) why it has none:
// an *Invalid or an Ignored.
type Built struct {
	Pipeline string
	Request  contract.Request
	Err      error
}

// BuildAll builds a request for every pipeline of the pushed commit —
// .sluice.yml and each .sluice/*.yml, from one read of the repository —
// each decided on its own: one pipeline's broken spec or `on` does not
// hold back another's run. The error is the repository's failure, or an
// *Invalid when the commit defines no pipeline.
func (b *Builder) BuildAll(ctx context.Context, src Source) ([]Built, error) {
	return b.build(ctx, src, true)
}

func (b *Builder) build(ctx context.Context, src Source, all bool) ([]Built, error) {
	cfg := b.Config
	if cfg == nil {
		cfg = &config.Config{}
	}
	if b.ReadTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.ReadTimeout)
		defer cancel()
	}
	cloneURL, err := CloneURL(src.CloneURL)
	if err != nil {
		return nil, err
	}
	p := push{src: src, cfg: cfg, cloneURL: cloneURL, name: src.Repo, fragments: &fragments{cfg: cfg, read: map[string]pipelines.Fragment{}}}
	p.tag, p.isTag = pipelines.TagOf(src.Branch)
	if !p.isTag {
		if err := pipelines.ValidBranchName(src.Branch); err != nil {
			return nil, err
		}
	}
	if p.name == "" {
		p.name = RepoName(cloneURL)
	}
	commit, err := resolve(ctx, cloneURL, src.Branch, src.Commit)
	if err != nil {
		return nil, err
	}
	files, info, err := gitsrc.ReadSpecs(ctx, cloneURL, src.Branch, commit, pipelines.FileName, pipelines.Dir)
	if errors.Is(err, gitsrc.ErrNotFound) || errors.Is(err, gitsrc.ErrTooLarge) {
		// no redelivery can read it: the push is refused, not retried
		return nil, &Invalid{Commit: commit, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", pipelines.FileName, err)
	}
	// an annotated tag's object names its commit
	p.commit, p.info = info.SHA, info
	if p.isTag {
		// a tag's run is of the commit the tag names, nothing else
		tagged, err := gitsrc.TagCommit(ctx, cloneURL, p.tag)
		if err != nil {
			return nil, fmt.Errorf("resolve tag %s: %w", p.tag, err)
		}
		if tagged != p.commit {
			return nil, &Invalid{Commit: p.commit, Err: fmt.Errorf("tag %s names commit %s, not %s: push the tag again, or run the commit by its branch", p.tag, short(tagged), short(p.commit))}
		}
	}
	paths := slices.Sorted(maps.Keys(files)) // .sluice.yml sorts before .sluice/
	if len(paths) == 0 {
		return nil, &Invalid{Commit: p.commit, Err: fmt.Errorf("%w: add a %s (or pipelines in %s/) to the repository (see `sluice lint --help`)", gitsrc.ErrNotFound, pipelines.FileName, pipelines.Dir)}
	}
	if !all {
		want := pipelines.SpecFile(src.Pipeline)
		if _, ok := files[want]; !ok {
			var names []string
			for _, f := range paths {
				if n, err := pipelines.PipelineOf(f); err == nil && n != "" {
					names = append(names, n)
				}
			}
			hint := "add it"
			if len(names) > 0 {
				hint = "this commit's pipelines are " + strings.Join(names, ", ") + ": name one (--pipeline)"
			}
			return nil, &Invalid{File: want, Commit: p.commit, Err: fmt.Errorf("%w: %s at %s: %s", gitsrc.ErrNotFound, want, short(p.commit), hint)}
		}
		paths = []string{want}
	}
	out := make([]Built, 0, len(paths))
	for _, f := range paths {
		req, err := p.one(ctx, f, files[f])
		out = append(out, Built{Pipeline: req.Push.Pipeline, Request: req, Err: err})
		if err != nil && !isRefusal(err) {
			return nil, err
		}
	}
	return out, nil
}

// isRefusal tells a pipeline's own refusal (invalid, ignored) from the
// repository's failure.
func isRefusal(err error) bool {
	var invalid *Invalid
	var ignored Ignored
	return errors.As(err, &invalid) || errors.As(err, &ignored)
}

// push is one push being built into its pipelines' requests.
type push struct {
	src            Source
	cfg            *config.Config
	cloneURL, name string
	tag            string
	isTag          bool
	commit         string
	info           gitsrc.CommitInfo
	// changes are read once, for the first pipeline that asks
	changes *gitsrc.Changes
	// fragments are the included files read so far
	fragments *fragments
}

// one builds the request of the pipeline defined in file (data).
func (p *push) one(ctx context.Context, file string, data []byte) (contract.Request, error) {
	src, cfg := p.src, p.cfg
	invalid := func(err error) error { return &Invalid{File: file, Commit: p.commit, Err: err} }
	pipeline, err := pipelines.PipelineOf(file)
	if err != nil {
		return contract.Request{Push: contract.Push{Pipeline: strings.TrimSuffix(path.Base(file), ".yml")}}, invalid(err)
	}
	failed := contract.Request{Push: contract.Push{Pipeline: pipeline}}
	defaultName := path.Base(p.name)
	if pipeline != "" {
		defaultName += "-" + pipeline
	}
	frags, err := p.fragments.all(ctx, data)
	var bad *Invalid
	if errors.As(err, &bad) {
		return failed, invalid(bad.Err)
	}
	if err != nil {
		return failed, err
	}
	spec, err := pipelines.ParseWith(file, data, frags, defaultName)
	if err != nil {
		return failed, invalid(err)
	}
	// a server that declares pools refuses a spec naming another; one
	// without (its workers have them, or a CLI's view) leaves it to the
	// worker that runs the phase
	if len(cfg.Pools) > 0 {
		for _, ref := range spec.Pools() {
			if err := cfg.CheckPool(ref.Key, ref.Name); err != nil {
				return failed, invalid(err)
			}
		}
	}
	facts := pipelines.Facts{Event: src.event(), Tag: p.tag}
	if !p.isTag {
		facts.Branch = src.Branch
	}
	if spec.NeedsChanges() && facts.Event != pipelines.EventManual && facts.Event != pipelines.EventSchedule {
		if p.changes == nil {
			ch, err := gitsrc.Changed(ctx, p.cloneURL, src.Branch, p.commit, src.Base)
			if err != nil {
				return failed, fmt.Errorf("compare the push with %s: %w", firstOf(short(src.Base), "its base"), err)
			}
			p.changes = &ch
		}
		facts.Changed, facts.ChangesKnown = p.changes.Files, p.changes.Known
	}
	if ok, why := spec.Starts(facts); !ok {
		return failed, Ignored(why)
	}
	inputs, err := spec.Inputs(src.Inputs, facts.Event == pipelines.EventManual)
	if err != nil {
		return failed, invalid(err)
	}
	merge := src.Merge
	if facts.Event == pipelines.EventMergeRequest && merge == "" && src.Base != "" {
		if merge, err = gitsrc.Resolve(ctx, p.cloneURL, src.Base); err != nil {
			return failed, fmt.Errorf("the merge request's target %s: %w", src.Base, err)
		}
	}
	skipped := spec.ApplyRules(facts)
	if err := spec.ExpandTag(p.tag); err != nil {
		return failed, invalid(err)
	}
	if !slices.ContainsFunc(pipelines.PhaseOrder, spec.Enabled) {
		return failed, Ignored("every phase's rule skips it: " + skipped[0].Rule)
	}
	// the server's policy decides; the spec may only tighten it
	decision, err := GovernFile(cfg, file, p.name, src.Branch, *spec, data)
	if err != nil {
		return failed, invalid(err)
	}
	// a phase the policy requires runs whatever the spec's rule said
	skipped = slices.DeleteFunc(skipped, func(k pipelines.Skip) bool { return k.Job == "" && decision.Spec.Enabled(k.Phase) })
	// the door's word for the author, else the commit's own
	info := p.info
	email := src.AuthorEmail
	if email == "" && src.AuthorUsername == "" {
		email = info.AuthorEmail
	}
	return contract.Request{Spec: decision.Spec, Policy: decision.Governance, Skipped: skipped, Push: contract.Push{
		Repo: p.name, CloneURL: p.cloneURL, Branch: src.Branch, Commit: p.commit, Tag: p.tag, Event: facts.Event, Base: src.Base, Merge: merge, Pipeline: pipeline, Inputs: inputs,
		Author:     firstOf(email, src.AuthorUsername),
		AuthorIDs:  cfg.AuthorIDs(email, src.AuthorUsername, firstOf(src.AuthorName, info.AuthorName)),
		PusherIDs:  cfg.AuthorIDs(src.Pusher, src.PusherEmail),
		DeliveryID: src.DeliveryID, Message: firstLine(firstOf(src.Message, info.Message)), Committed: info.Committed,
	}}, nil
}

// Governed is a spec under the server's policy.
type Governed struct {
	// Spec is the effective spec: tightened, without withheld phases.
	Spec pipelines.Spec
	// Governance is nil when the server has no projects.
	Governance *contract.Governance
}

// Govern applies the policy of repo's project to a push of spec (read
// from data) to branch. A repository outside every project, or a spec
// asking beyond its project's policy, is an error naming the spec's lines
// and the policy's fields.
func Govern(cfg *config.Config, repo, branch string, spec pipelines.Spec, data []byte) (Governed, error) {
	return GovernFile(cfg, pipelines.FileName, repo, branch, spec, data)
}

// GovernFile is Govern of the spec in file (its refusals name that file).
func GovernFile(cfg *config.Config, file, repo, branch string, spec pipelines.Spec, data []byte) (Governed, error) {
	project, err := cfg.ProjectOf(repo)
	if err != nil {
		return Governed{}, err
	}
	d := policy.Evaluate(project, spec, branch, cfg.ApproverGroups)
	if project == nil {
		d.Violations = append(d.Violations, sharedNamespaces(spec)...)
	}
	if len(d.Violations) > 0 {
		return Governed{}, beyondPolicy(file, data, d.Violations)
	}
	g := Governed{Spec: d.Spec}
	if project != nil {
		g.Governance = &d.Governance
		if q := cfg.Quota; q != nil && q.Runs != nil {
			if g.Governance.Quota == nil {
				g.Governance.Quota = &contract.Quota{}
			}
			g.Governance.Quota.All = *q.Runs
		}
	}
	return g, nil
}

// sharedNamespaces refuses, on a server without projects, a staging or
// production namespace the default guard never allows (the cluster's own,
// default): the run would only fail there, after its first phases.
func sharedNamespaces(spec pipelines.Spec) []policy.Violation {
	var vs []policy.Violation
	for _, e := range []struct {
		path string
		env  *pipelines.Environment
	}{{"environments.staging.namespace", spec.Environments.Staging}, {"environments.production.namespace", spec.Environments.Production}} {
		if e.env == nil {
			continue
		}
		if err := deploy.CheckNamespace(contract.Guard{}, e.env.Namespace); err != nil {
			vs = append(vs, policy.Violation{Path: e.path, Message: strings.TrimPrefix(err.Error(), deploy.ErrRefused.Error()+": "), Field: "projects[].environments"})
		}
	}
	return vs
}

// beyondPolicy is the spec's lines that ask beyond the policy, each with
// the policy's field.
func beyondPolicy(file string, spec []byte, vs []policy.Violation) error {
	ps := make(pipelines.Problems, len(vs))
	for i, v := range vs {
		ps[i] = pipelines.Problem{Path: v.Path, Message: v.Message + " (the server's policy decides: " + v.Field + ")"}
	}
	return pipelines.Locate(file, spec, ps)
}

// CloneURL is repo as a worker clones it: a remote URL unchanged, a local
// path (or file:// URL) made absolute and checked to exist.
func CloneURL(repo string) (string, error) {
	if gitsrc.IsRemote(repo) {
		return repo, nil
	}
	if repo == "" {
		return "", errors.New("no repository: name a local path, file:// or http(s) URL")
	}
	abs, err := filepath.Abs(strings.TrimPrefix(repo, "file://"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("repository %s: %w", repo, err)
	}
	return abs, nil
}

// RepoName derives "acme/hello" from a URL or "hello" from a path.
func RepoName(cloneURL string) string {
	if gitsrc.IsRemote(cloneURL) {
		if u, err := url.Parse(cloneURL); err == nil {
			return strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
		}
	}
	return strings.TrimSuffix(filepath.Base(cloneURL), ".git")
}

// resolve is the full SHA of commit, or of the branch's head when commit
// is empty. A full SHA is taken as it is: a webhook names one, and asking
// the Git host again would only slow its answer.
func resolve(ctx context.Context, cloneURL, branch, commit string) (string, error) {
	if commit == "" {
		sha, err := gitsrc.Resolve(ctx, cloneURL, branch)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", branch, err)
		}
		return sha, nil
	}
	if len(commit) < 40 {
		if full, err := gitsrc.Resolve(ctx, cloneURL, commit); err == nil {
			return full, nil
		}
	}
	return commit, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
