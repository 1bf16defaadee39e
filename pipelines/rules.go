package pipelines

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Events a run starts from: what `on.events` and `when.events` name.
const (
	// EventPush is a push to a branch.
	EventPush = "push"
	// EventTag is a pushed tag: a release.
	EventTag = "tag"
	// EventMergeRequest is a merge (pull) request opened or updated.
	EventMergeRequest = "merge-request"
	// EventManual is a run a person asked for (`sluice run`).
	EventManual = "manual"
	// EventSchedule is a run a schedule started (`sluice schedule`).
	EventSchedule = "schedule"
)

// Events lists every event a rule may name.
var Events = []string{EventPush, EventTag, EventMergeRequest, EventManual, EventSchedule}

// tagRefPrefix starts the ref key of a tag run (see TagRef).
const tagRefPrefix = "refs/tags/"

// TagRef is the ref a run of tag is known by where a branch name would
// be (its workflow, its concurrency, the server's protected branches):
// "refs/tags/<tag>". Branch names given to Sluice never start with
// "refs/" (the doors refuse them), so a branch cannot pose as a tag.
func TagRef(tag string) string { return tagRefPrefix + tag }

// TagOf returns the tag of a ref made by TagRef.
func TagOf(ref string) (string, bool) {
	tag, ok := strings.CutPrefix(ref, tagRefPrefix)
	if !ok {
		return "", false
	}
	return tag, true
}

// ValidBranchName reports whether a branch name may start a run: Git
// allows a branch called "refs/tags/v1", which would pose as a tag.
func ValidBranchName(branch string) error {
	if branch == "" {
		return fmt.Errorf("no branch")
	}
	if strings.HasPrefix(branch, "refs/") {
		return fmt.Errorf("branch %q starts with refs/: name the branch without it, or a tag as refs/tags/NAME", branch)
	}
	return nil
}

// TagVar in promote.tag is replaced by the pushed tag of a tag's run
// (promote: {tag: "${SLUICE_TAG}"}): the release's image is tagged as
// its Git tag.
const TagVar = "${SLUICE_TAG}"

// ExpandTag replaces TagVar in promote.tag with the run's tag. A branch's
// run has none: the tag would be empty, which is an error saying to
// promote only tags.
func (s *Spec) ExpandTag(tag string) error {
	p := s.Promote
	if p == nil || !strings.Contains(p.Tag, TagVar) {
		return nil
	}
	if tag == "" {
		return fmt.Errorf("promote.tag %q names the pushed tag, and this run is of a branch: give promote `when: {tags: [\"v*\"]}`, or a fixed tag", p.Tag)
	}
	expanded := strings.ReplaceAll(p.Tag, TagVar, tag)
	if !tagSyntax.MatchString(expanded) {
		return fmt.Errorf("promote.tag %q: tag %s makes %q, which is not an image tag (letters, digits, '_', '.', '-', up to 128)", p.Tag, tag, expanded)
	}
	p.Tag = expanded
	return nil
}

// Rule selects runs by the facts of their push. Every condition written
// must hold; an empty rule holds for every run.
type Rule struct {
	Branches []string `yaml:"branches" json:"branches,omitempty" doc:"Branch names or glob patterns (release/*). With tags: the run's branch matches one, or its tag matches one of tags; alone: tag runs do not match."`
	Tags     []string `yaml:"tags" json:"tags,omitempty" doc:"Tag names or glob patterns (v*). With branches: either matches; alone: branch runs do not match."`
	Events   []string `yaml:"events" json:"events,omitempty" doc:"What started the run: push (a branch), tag, merge-request, manual (sluice run) or schedule (sluice schedule)."`
	Paths    []string `yaml:"paths" json:"paths,omitempty" doc:"Files the push changed must match one of these globs (** matches any number of directories: services/api/**). Compared with the branch's previous commit, a new branch with the default branch's head, a merge request with its target; where the change is not known (a tag, a manual run) the condition holds."`
}

// Empty reports whether the rule has no condition.
func (r *Rule) Empty() bool {
	return r == nil || len(r.Branches)+len(r.Tags)+len(r.Events)+len(r.Paths) == 0
}

// Facts are what rules are evaluated against, all known when the run's
// request is built: evaluated once, there, and never again on replay.
type Facts struct {
	Event string
	// Branch is the branch pushed, "" for a tag.
	Branch string
	// Tag is the tag pushed, "" for a branch.
	Tag string
	// Changed are the files the push changed, when ChangesKnown.
	Changed      []string
	ChangesKnown bool
}

// Match reports whether every condition of the rule holds for f; when not,
// why is the first that does not, as the status shows it.
func (r *Rule) Match(f Facts) (ok bool, why string) {
	if r.Empty() {
		return true, ""
	}
	if len(r.Branches)+len(r.Tags) > 0 {
		switch {
		case f.Tag != "" && !matchAny(r.Tags, f.Tag):
			return false, fmt.Sprintf("tag %s not in tags %v", f.Tag, r.Tags)
		case f.Tag == "" && !matchAny(r.Branches, f.Branch):
			return false, fmt.Sprintf("branch %s not in branches %v", f.Branch, r.Branches)
		}
	}
	if len(r.Events) > 0 && !slices.Contains(r.Events, f.Event) {
		return false, fmt.Sprintf("event %s not in events %v", f.Event, r.Events)
	}
	if len(r.Paths) > 0 && f.ChangesKnown && !slices.ContainsFunc(f.Changed, func(c string) bool { return MatchPath(r.Paths, c) }) {
		return false, fmt.Sprintf("no changed file under paths %v", r.Paths)
	}
	return true, ""
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// MatchPath reports whether name (a slash-separated path in the
// repository) matches one of the patterns: path.Match per segment, and a
// "**" segment matching any number of segments, none included.
func MatchPath(patterns []string, name string) bool {
	for _, p := range patterns {
		if matchSegments(strings.Split(p, "/"), strings.Split(name, "/")) {
			return true
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// NeedsChanges reports whether a rule of the spec asks which files changed.
func (s *Spec) NeedsChanges() bool {
	if len(s.On.Paths) > 0 {
		return true
	}
	for _, p := range Phases {
		if p.Enabled(s) && len(p.When(s).paths()) > 0 {
			return true
		}
	}
	return false
}

func (r *Rule) paths() []string {
	if r == nil {
		return nil
	}
	return r.Paths
}

// Starts reports whether a push with facts f starts a run of the spec
// (`on`), and if not, why. A manual or scheduled run is a person's
// request: `on` does not apply to it. Tag pushes start runs only where
// on.tags names them.
func (s *Spec) Starts(f Facts) (bool, string) {
	if f.Event == EventManual || f.Event == EventSchedule {
		return true, ""
	}
	if len(s.On.Events) > 0 && !slices.Contains(s.On.Events, f.Event) {
		return false, fmt.Sprintf("event %s is not in on.events %v", f.Event, s.On.Events)
	}
	if f.Tag != "" {
		if !matchAny(s.On.Tags, f.Tag) {
			return false, "tag " + f.Tag + " is not in on.tags"
		}
	} else if !MatchBranch(s.On.Branches, f.Branch) {
		return false, "branch " + f.Branch + " is not in on.branches"
	}
	if len(s.On.Paths) > 0 && f.ChangesKnown && !slices.ContainsFunc(f.Changed, func(c string) bool { return MatchPath(s.On.Paths, c) }) {
		return false, fmt.Sprintf("no changed file is under on.paths %v", s.On.Paths)
	}
	return true, ""
}

// Skip is a phase of the spec a run does not run, and the rule why.
type Skip struct {
	Phase string `json:"phase"`
	// Job, when set, is the job of the phase that is skipped (the phase
	// runs its other jobs).
	Job  string `json:"job,omitempty"`
	Rule string `json:"rule"`
}

// What names the phase, or the job of the phase, a Skip is of.
func (k Skip) What() string {
	if k.Job != "" {
		return k.Phase + " job " + k.Job
	}
	return k.Phase
}

// ApplyRules removes from the spec every phase whose `when` does not hold
// for f, and every phase that needs a removed one, and says why for each,
// in run order.
func (s *Spec) ApplyRules(f Facts) []Skip {
	var out []Skip
	skipped := map[string]bool{}
	for _, p := range Phases {
		if !p.Enabled(s) {
			continue
		}
		if ok, why := p.When(s).Match(f); !ok {
			out = append(out, Skip{Phase: p.Name, Rule: p.Name + ".when: " + why})
			skipped[p.Name] = true
			continue
		}
		for _, n := range p.Needs {
			if skipped[n.Phase] {
				out = append(out, Skip{Phase: p.Name, Rule: "needs " + n.Phase + ", which its rule skips"})
				skipped[p.Name] = true
				break
			}
		}
		if jobs := s.JobsOf(p.Name); !skipped[p.Name] && len(jobs) > 0 {
			out = append(out, jobs.applyRules(p.Name, f)...)
			if len(jobs) == 0 {
				out = append(out, Skip{Phase: p.Name, Rule: "the rules of all its jobs skip them"})
				skipped[p.Name] = true
			}
		}
	}
	for _, k := range out {
		if k.Job == "" {
			s.Disable(k.Phase)
		}
	}
	return out
}

// validRule checks the patterns and events of a rule at p.
func (v *validator) rule(p string, r *Rule, events []string) {
	if r == nil {
		return
	}
	for i, b := range r.Branches {
		if _, err := path.Match(b, ""); err != nil || b == "" {
			v.errf(fmt.Sprintf("%s.branches[%d]", p, i), "use a branch name or a glob like release/*", "bad branch pattern %q", b)
		}
	}
	for i, t := range r.Tags {
		if _, err := path.Match(t, ""); err != nil || t == "" {
			v.errf(fmt.Sprintf("%s.tags[%d]", p, i), "use a tag name or a glob like v*", "bad tag pattern %q", t)
		}
	}
	for i, e := range r.Events {
		if !slices.Contains(events, e) {
			v.errf(fmt.Sprintf("%s.events[%d]", p, i), "events are "+strings.Join(events, ", "), "unknown event %q", e)
		}
	}
	for i, g := range r.Paths {
		bad := g == "" || strings.HasPrefix(g, "/") || strings.Contains(g, "\\")
		for _, seg := range strings.Split(g, "/") {
			if _, err := path.Match(seg, ""); err != nil || seg == ".." || seg == "." {
				bad = true
			}
		}
		if bad {
			v.errf(fmt.Sprintf("%s.paths[%d]", p, i), "a path relative to the repository root, like services/api/** or go.mod", "bad path pattern %q", g)
		}
	}
}

// Unused lists, at their lines, the keys of the spec this Sluice accepts
// but does not act on, so a user who writes them is told rather than
// silently ignored: `sluice lint` prints them as warnings.
func Unused(file string, data []byte, s *Spec) Problems {
	var ps Problems
	if b := s.Build; b != nil {
		if b.Image != "" {
			ps = append(ps, Problem{Path: "build.image", Message: "build.image does not choose the build pod's image: the pool's (the server's configuration, `pools[].image`) does",
				Hint: "name a pool of that image in build.pool, or drop build.image"})
		}
		if len(b.Cache) > 0 {
			ps = append(ps, Problem{Path: "build.cache", Message: "build.cache is not kept between runs by this Sluice",
				Hint: "a pool's cache volume (the server's `pools[].cache`) keeps a directory between claims; drop build.cache"})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return Locate(file, data, ps)
}
