// Package policy is the server's word on what a push may do: the projects
// of the server configuration, each naming its repositories and, for each
// environment (test, staging, production), the branches that may reach it,
// its namespaces, contexts and registries, the approval its releases need
// and what its manifests may ask for (contract.Guard).
//
// The effective rule of a run is the policy tightened by the spec: a spec
// may ask for more approvals, fewer approvers, a shorter timeout, fewer
// environments — never fewer approvals, another namespace or context, a
// registry or a branch the policy does not allow. Evaluate is a pure
// function; the request builder calls it for every door.
package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// Environment names, as the spec and the policy use them.
const (
	Test       = "test"
	Staging    = "staging"
	Production = "production"
)

// Project is a group of repositories governed alike.
type Project struct {
	Name string `yaml:"name"`
	// Repositories are the repositories' names as their provider spells
	// them ("acme/hello"), matched whatever their case.
	Repositories []string     `yaml:"repositories"`
	Environments Environments `yaml:"environments"`
	// Secrets are the project's pipeline secrets (secrets.go).
	Secrets []Secret `yaml:"secrets"`
	// Quota is what the project's runs may hold at once.
	Quota *Quota `yaml:"quota"`
}

// Quota limits a project's share of the installation.
type Quota struct {
	// Runs is the most runs of the project at once; the others wait, in
	// arrival order, and say so. Absent: no limit.
	Runs *int `yaml:"runs"`
	// PoolPods is the most pods of each pool (by name) the project's runs
	// hold at once; a claim beyond it waits, and says so.
	PoolPods map[string]int `yaml:"pool_pods"`
	// TestEnvironments bounds the project's test environments.
	TestEnvironments *TestEnvironmentsQuota `yaml:"test_environments"`
}

// TestEnvironmentsQuota bounds a project's test environments: how many
// exist at once (a run's deploy waits for one, and says so) and what they
// may use together, shared equally (each namespace's ResourceQuota is at
// most the total over the count; a spec may ask for less).
type TestEnvironmentsQuota struct {
	Count int `yaml:"count"`
	// CPU and Memory are Kubernetes quantities ("8", "16Gi"); "" none.
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
}

// Each is what one test environment may use: the totals over the count.
func (t *TestEnvironmentsQuota) Each() (cpu, memory string) {
	share := func(total string) string {
		q, err := resource.ParseQuantity(total)
		if err != nil || total == "" || t.Count < 1 {
			return ""
		}
		if q.Format == resource.BinarySI && q.Value()%int64(t.Count) == 0 {
			return resource.NewQuantity(q.Value()/int64(t.Count), resource.BinarySI).String()
		}
		return resource.NewMilliQuantity(q.MilliValue()/int64(t.Count), resource.DecimalSI).String()
	}
	return share(t.CPU), share(t.Memory)
}

// validate says what is wrong with the quota.
func (t *TestEnvironmentsQuota) validate(bad func(format string, a ...any)) {
	if t.Count < 1 {
		bad("quota.test_environments.count: %d: at least 1 (how many of the project's test environments may exist at once)", t.Count)
	}
	for _, q := range []struct{ field, val string }{{"cpu", t.CPU}, {"memory", t.Memory}} {
		if q.val == "" {
			continue
		}
		if v, err := resource.ParseQuantity(q.val); err != nil || v.Sign() <= 0 {
			bad("quota.test_environments.%s: %q: a positive Kubernetes quantity, like 8 or 16Gi (what all the test environments may use together)", q.field, q.val)
		}
	}
}

// Environments are a project's rules per environment. A test environment
// the policy does not describe is open to every branch under the default
// guard; a staging or production environment it does not describe is
// closed: no spec of the project may reach it.
type Environments struct {
	Test       *Environment `yaml:"test"`
	Staging    *Environment `yaml:"staging"`
	Production *Environment `yaml:"production"`
}

// Environment is what a project's runs may do in one environment.
type Environment struct {
	// Branches that may reach the environment (glob patterns, as in
	// on.branches); empty: every branch. A push from another branch runs
	// the phases before it and is withheld from the rest.
	Branches []string `yaml:"branches"`
	// Namespaces the environment may be in (staging and production; a test
	// environment's namespace is made per run).
	Namespaces []string `yaml:"namespaces"`
	// Contexts are the kubeconfig contexts it may use; empty: only the
	// worker's current context.
	Contexts []string `yaml:"contexts"`
	// Registries images may come from (host[:port][/path]); empty: any.
	Registries []string `yaml:"registries"`
	// PinnedImages: every image the environment runs that Sluice did not
	// bake (services, integration.image, production.verify.image and the
	// manifests' other containers) names its digest (@sha256:…), so what
	// runs is what was reviewed, whoever pushed a tag since.
	PinnedImages bool `yaml:"pinned_images"`
	// PodSecurity is the most a pod may ask for: restricted, baseline
	// (default) or privileged.
	PodSecurity string `yaml:"pod_security"`
	// ClusterRoles a RoleBinding in the environment may grant.
	ClusterRoles []string `yaml:"cluster_roles"`
	// ServiceAccountTokens lets pods mount a service account token.
	ServiceAccountTokens bool `yaml:"service_account_tokens"`
	// Approval is the rule of a release to production.
	Approval *Approval `yaml:"approval"`
	// Rollback is the rule of a rollback in production.
	Rollback Rollback `yaml:"rollback"`
	// Freeze is when releases to production may happen.
	Freeze *Freeze `yaml:"freeze"`
	// Analysis is the release analysis production always runs
	// (production.analysis's form): a spec without one gets it; a spec
	// with its own keeps its metrics and gets the policy's (a metric of
	// the same name is the policy's), at the policy's limits or tighter;
	// a canary without an analysing step is judged at its first.
	Analysis *pipelines.Analysis `yaml:"analysis"`
	// Attestations are what a digest must carry, signed by this
	// installation, to run in the environment (production, its releases
	// and rollbacks): test-result, that its integration suite passed.
	Attestations []string `yaml:"attestations"`
}

// Freeze is when a production release may happen: never in a deny
// window; when allow windows are given, only in one of them. A release
// that meets a closed window waits until it opens (or, on_freeze: fail,
// fails). Rollbacks are never frozen: undoing a bad release cannot wait.
type Freeze struct {
	// TimeZone is the IANA zone the cron windows are read in; default UTC.
	TimeZone string   `yaml:"timezone"`
	Deny     []Window `yaml:"deny"`
	Allow    []Window `yaml:"allow"`
	// OnFreeze is wait (default) or fail.
	OnFreeze string `yaml:"on_freeze"`
}

// Window is a recurring span (from each time cron names, for duration)
// or a single one (from, until; RFC 3339 times).
type Window struct {
	Name     string             `yaml:"name"`
	Cron     string             `yaml:"cron"`
	Duration pipelines.Duration `yaml:"duration"`
	From     time.Time          `yaml:"from"`
	Until    time.Time          `yaml:"until"`
}

// Freeze values of on_freeze.
const (
	FreezeWait = "wait"
	FreezeFail = "fail"
)

// rule is the freeze as a run carries it; nil without one.
func (f *Freeze) rule() *contract.Freeze {
	if f == nil {
		return nil
	}
	windows := func(ws []Window) []contract.Window {
		out := make([]contract.Window, len(ws))
		for i, w := range ws {
			out[i] = contract.Window{Name: w.Name, Cron: w.Cron, Duration: w.Duration.D(), From: w.From, Until: w.Until}
		}
		return out
	}
	return &contract.Freeze{TimeZone: f.TimeZone, Deny: windows(f.Deny), Allow: windows(f.Allow), Fail: f.OnFreeze == FreezeFail}
}

// check says what is wrong with the freeze at at.
func (f *Freeze) check(at string, bad func(string, ...any)) {
	if f.TimeZone != "" {
		if _, err := time.LoadLocation(f.TimeZone); err != nil {
			bad("%s.timezone: %q is not a time zone of the IANA database (like Europe/Berlin)", at, f.TimeZone)
		}
	}
	if f.OnFreeze != "" && f.OnFreeze != FreezeWait && f.OnFreeze != FreezeFail {
		bad("%s.on_freeze: %q is not one of wait (the default) or fail", at, f.OnFreeze)
	}
	if len(f.Deny)+len(f.Allow) == 0 {
		bad("%s: give deny or allow windows", at)
	}
	for kind, ws := range map[string][]Window{"deny": f.Deny, "allow": f.Allow} {
		for i, w := range ws {
			cw := contract.Window{Name: w.Name, Cron: w.Cron, Duration: w.Duration.D(), From: w.From, Until: w.Until}
			if err := cw.Check(); err != nil {
				bad("%s.%s[%d]: %v", at, kind, i, err)
			}
		}
	}
}

// Rollback is how a rollback is approved: by production's approval rule
// (the default), or by nobody ("waived": a releaser rolls back alone).
// Either way the rollback is recorded with who asked, as verified.
type Rollback struct {
	Approval string `yaml:"approval"`
}

// Rollback approval rules.
const (
	RollbackApprovalRequired = "required"
	RollbackApprovalWaived   = "waived"
)

// RollbackApprovers are the people who must approve a rollback in the
// environment (groups expanded with the server's approver_groups) and how
// many of them, or nil when a rollback needs no approval.
func (e *Environment) RollbackApprovers(groups map[string][]string) (users []string, required int, timeout pipelines.Duration) {
	if e == nil || e.Approval == nil || e.Rollback.Approval == RollbackApprovalWaived {
		return nil, 0, 0
	}
	return expand(e.Approval.Users, e.Approval.Groups, groups), e.Approval.Required, e.Approval.Timeout
}

// Approval is the approval a production release needs at least.
type Approval struct {
	// Required distinct approvals (at least 1).
	Required int `yaml:"required"`
	// Users and Groups (the server's approver_groups) who may approve; a
	// spec may name fewer of them, never others. The author and the pusher
	// of the change never count.
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
	// Timeout is the longest an approval waits: a spec asking for longer
	// gets this. Empty: the spec's (72h by default).
	Timeout pipelines.Duration `yaml:"timeout"`
}

// AllowsContext tells whether the environment may use kubeconfig context
// ctx ("": the worker's current one, the only one when Contexts is empty).
func (e *Environment) AllowsContext(ctx string) bool {
	if len(e.Contexts) == 0 {
		return ctx == ""
	}
	return slices.Contains(e.Contexts, ctx)
}

// Guard is the environment's guard for its manifests.
func (e *Environment) Guard() contract.Guard {
	if e == nil {
		return contract.Guard{}
	}
	return contract.Guard{Namespaces: e.Namespaces, PodSecurity: e.PodSecurity, ClusterRoles: e.ClusterRoles,
		ServiceAccountTokens: e.ServiceAccountTokens, Registries: e.Registries, PinnedImages: e.PinnedImages,
		Attestations: e.Attestations}
}

// Validate says what is wrong with a project: each error names its field
// under key ("projects[0]"). groups are the server's approver groups.
func (p *Project) Validate(key string, groups map[string][]string) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(key+"."+format, a...)) }
	if p.Name == "" || strings.ContainsAny(p.Name, " /*") {
		bad("name: required, without spaces, slashes or *, got %q", p.Name)
	}
	if len(p.Repositories) == 0 {
		bad("repositories: list the repositories (owner/name) the project governs")
	}
	p.validateSecrets(bad)
	if q := p.Quota; q != nil && q.Runs != nil && *q.Runs < 1 {
		bad("quota.runs: %d: at least 1 (leave it out for no limit)", *q.Runs)
	}
	if q := p.Quota; q != nil && q.TestEnvironments != nil {
		q.TestEnvironments.validate(bad)
	}
	if q := p.Quota; q != nil {
		for pool, n := range q.PoolPods {
			if n < 1 {
				bad("quota.pool_pods.%s: %d: at least 1 (leave the pool out for no share)", pool, n)
			}
		}
	}
	for name, e := range map[string]*Environment{Test: p.Environments.Test, Staging: p.Environments.Staging, Production: p.Environments.Production} {
		if e == nil {
			continue
		}
		at := "environments." + name
		for _, b := range e.Branches {
			if _, err := path.Match(b, ""); err != nil {
				bad("%s.branches: bad pattern %q", at, b)
			}
		}
		if name == Test && len(e.Namespaces) > 0 {
			bad("%s.namespaces: a test environment's namespace is made per run; remove the list", at)
		}
		if name != Test && len(e.Namespaces) == 0 {
			bad("%s.namespaces: list the namespaces the %s environment may be in", at, name)
		}
		for _, ns := range e.Namespaces {
			if strings.HasPrefix(ns, "kube-") {
				bad("%s.namespaces: %s belongs to the cluster; no environment may be there", at, ns)
			}
		}
		if e.PodSecurity != "" && !slices.Contains([]string{contract.PodRestricted, contract.PodBaseline, contract.PodPrivileged}, e.PodSecurity) {
			bad("%s.pod_security: %q is not one of restricted, baseline, privileged", at, e.PodSecurity)
		}
		for _, a := range e.Attestations {
			switch {
			case a != contract.AttestationTestResult:
				bad("%s.attestations: %q is not one Sluice makes (%s)", at, a, contract.AttestationTestResult)
			case name != Production:
				bad("%s.attestations: only production requires attestations (a test environment runs the digest its integration suite tests)", at)
			}
		}
		if slices.Contains(e.ClusterRoles, "cluster-admin") {
			bad("%s.cluster_roles: cluster-admin would give a namespace's manifests the whole cluster; grant a narrower ClusterRole", at)
		}
		switch r := e.Rollback.Approval; {
		case r != "" && r != RollbackApprovalRequired && r != RollbackApprovalWaived:
			bad("%s.rollback.approval: %q is not one of required (production's approval rule, the default) or waived", at, r)
		case r != "" && name != Production:
			bad("%s.rollback: only production has a rollback rule", at)
		}
		if f := e.Freeze; f != nil {
			if name != Production {
				bad("%s.freeze: only production has freeze windows", at)
			}
			f.check(at+".freeze", bad)
		}
		if a := e.Analysis; a != nil {
			if name != Production {
				bad("%s.analysis: only production has a release analysis", at)
			}
			a.WithDefaults()
			for _, p := range pipelines.CheckAnalysis(at+".analysis", a) {
				bad("%s", p)
			}
		}
		if a := e.Approval; a != nil {
			if name != Production {
				bad("%s.approval: only production has an approval", at)
			}
			if a.Required < 1 {
				bad("%s.approval.required: at least 1", at)
			}
			if len(a.Users) == 0 && len(a.Groups) == 0 {
				bad("%s.approval: name the users or groups who may approve", at)
			}
			for _, g := range a.Groups {
				if _, ok := groups[g]; !ok {
					bad("%s.approval.groups: %q is not one of the server's approver_groups", at, g)
				}
			}
			if n := len(expand(a.Users, a.Groups, groups)); n < a.Required && n > 0 {
				bad("%s.approval.required: %d approvals, but only %d people may approve", at, a.Required, n)
			}
		}
	}
	return errs
}

// testQuota holds the spec's test environment to its share of the
// project's: a quantity above it is a violation; one the spec leaves out
// is the share, when the spec deploys to a test environment.
func (e *evaluation) testQuota(q *TestEnvironmentsQuota, deploys bool) {
	cpu, memory := q.Each()
	var env pipelines.TestEnvironment
	if t := e.d.Spec.Environments.Test; t != nil {
		env = *t
	}
	for _, r := range []struct {
		name, share string
		asked       *string
	}{{"cpu", cpu, &env.Quota.CPU}, {"memory", memory, &env.Quota.Memory}} {
		if r.share == "" {
			continue
		}
		if *r.asked == "" {
			*r.asked = r.share // a copy's: the commit's spec stays as it is
			continue
		}
		asked, err := resource.ParseQuantity(*r.asked)
		share := resource.MustParse(r.share)
		if err == nil && asked.Cmp(share) > 0 {
			e.d.Violations = append(e.d.Violations, Violation{Path: "environments.test.quota." + r.name,
				Field:   fmt.Sprintf("projects[%s].quota.test_environments.%s", e.p.Name, r.name),
				Message: fmt.Sprintf("%s asks for more than a test environment's share of project %s: %s (%d environments share %s); ask for %s or less", *r.asked, e.p.Name, r.share, q.Count, map[string]string{"cpu": q.CPU, "memory": q.Memory}[r.name], r.share)})
		}
	}
	if deploys {
		e.d.Spec.Environments.Test = &env
	}
}

// Violation is a spec asking beyond its project's policy.
type Violation struct {
	// Path is the spec's key ("environments.production.namespace").
	Path string
	// Field is the policy's ("projects[payments].environments.production.namespaces").
	Field   string
	Message string
}

func (v Violation) Error() string { return v.Path + ": " + v.Message + " (policy: " + v.Field + ")" }

// Decision is the effective rule of one push.
type Decision struct {
	// Spec is the spec to run: the commit's, tightened by the policy,
	// without the withheld phases.
	Spec       pipelines.Spec
	Governance contract.Governance
	// Violations are what the spec asks beyond the policy; with any, the
	// push must not run.
	Violations []Violation
}

// Evaluate decides what a push of spec to branch may do under project p
// (nil: the server has no projects, and the spec runs as written under the
// default guards). groups are the server's approver groups.
func Evaluate(p *Project, spec pipelines.Spec, branch string, groups map[string][]string) Decision {
	d := Decision{Spec: spec}
	if p == nil {
		d.Violations = noSecrets(spec)
		return d
	}
	d.Governance.Project = p.Name
	if q := p.Quota; q != nil && (q.Runs != nil || len(q.PoolPods) > 0 || q.TestEnvironments != nil) {
		d.Governance.Quota = &contract.Quota{PoolPods: q.PoolPods}
		if q.Runs != nil {
			d.Governance.Quota.Runs = *q.Runs
		}
		if q.TestEnvironments != nil {
			d.Governance.Quota.TestEnvironments = q.TestEnvironments.Count
		}
	}
	e := evaluation{p: p, d: &d, groups: groups}
	if q := p.Quota; q != nil && q.TestEnvironments != nil {
		e.testQuota(q.TestEnvironments, spec.Deploy != nil && spec.Deploy.Environment != Staging)
	}
	test := p.Environments.Test
	d.Governance.Test, d.Governance.Staging, d.Governance.Production = test.Guard(), p.Environments.Staging.Guard(), p.Environments.Production.Guard()
	if e := p.Environments.Production; e != nil {
		d.Governance.Freeze = e.Freeze.rule()
	}

	// jobs' services run beside build pods under the test environment's
	// rules of images
	if test != nil {
		for _, phase := range []string{pipelines.PhaseBuild, pipelines.PhaseTest} {
			jobs := spec.JobsOf(phase)
			for _, name := range jobs.Names() {
				for i, s := range jobs[name].Services {
					e.registry(test, Test, fmt.Sprintf("%s.jobs.%s.services[%d].image", phase, name, i), s.Image)
				}
			}
		}
	}
	// the registries of what the test environment runs
	if spec.Deploy != nil && spec.Deploy.Environment != Staging && test != nil {
		e.registry(test, Test, "bake.image", imageOf(spec.Bake))
		if env := spec.Environments.Test; env != nil {
			for i, s := range env.Services {
				e.registry(test, Test, fmt.Sprintf("environments.test.services[%d].image", i), s.Image)
			}
		}
		if spec.Integration != nil {
			e.registry(test, Test, "integration.image", spec.Integration.Image)
		}
	}
	if spec.Deploy != nil && spec.Deploy.Environment == Staging {
		st := p.Environments.Staging
		if st == nil {
			e.closed(Staging, "deploy.environment")
		} else if env := spec.Environments.Staging; env != nil {
			e.place(st, Staging, env)
			e.registry(st, Staging, "bake.image", imageOf(spec.Bake))
			if spec.Integration != nil {
				e.registry(st, Staging, "integration.image", spec.Integration.Image)
			}
		}
	}
	pr := p.Environments.Production
	// promote replicates the image into production's registry, with or
	// without a production phase: that registry is production's
	if env := spec.Environments.Production; env != nil && env.Registry != "" && spec.Promote != nil {
		switch {
		case pr == nil:
			e.closed(Production, "environments.production.registry")
		case len(pr.Registries) > 0 && !slices.Contains(pr.Registries, env.Registry) && !contract.FromRegistry(env.Registry, pr.Registries):
			e.violate("environments.production.registry", Production, "registries",
				"registry %s is not one production may pull from (%s)", env.Registry, strings.Join(pr.Registries, ", "))
		}
	}
	if spec.Production != nil {
		if pr == nil {
			e.closed(Production, "production")
		} else if env := spec.Environments.Production; env != nil {
			e.place(pr, Production, env)
			if env.Registry == "" {
				e.registry(pr, Production, "bake.image", imageOf(spec.Bake))
			}
			if v := spec.Production.Verify; v != nil {
				e.registry(pr, Production, "production.verify.image", v.Image)
			}
			e.approval(pr)
			e.analysis(pr)
		}
	}
	if len(d.Violations) > 0 {
		return d
	}
	// what the branch may not reach is withheld, from the first phase
	// that would reach it to the end
	var reaches []reach
	if spec.Deploy != nil {
		env, name := test, Test
		if spec.Deploy.Environment == Staging {
			env, name = p.Environments.Staging, Staging
		}
		reaches = append(reaches, reach{env, name, pipelines.PhaseDeploy})
	}
	if d.Spec.Production != nil {
		first := pipelines.PhaseProduction
		if d.Spec.Approval != nil {
			first = pipelines.PhaseApproval
		}
		reaches = append(reaches, reach{p.Environments.Production, Production, first})
	}
	for _, r := range reaches {
		if r.env == nil || pipelines.MatchBranch(r.env.Branches, branch) {
			continue
		}
		d.Governance.Withheld = withholdFrom(&d.Spec, r.phase, e.unreachable(branch, r.name, r.env))
		break
	}
	// nor does a branch production does not protect put its image into
	// production's registry
	if env := d.Spec.Environments.Production; env != nil && env.Registry != "" && d.Spec.Promote != nil && pr != nil &&
		!pipelines.MatchBranch(pr.Branches, branch) {
		kept := *env
		kept.Registry = ""
		d.Spec.Environments.Production = &kept
		d.Governance.Withheld = append(d.Governance.Withheld, contract.Withheld{Phase: Replication,
			Reason: "promote does not copy the image to " + env.Registry + ": " + e.unreachable(branch, Production, pr)})
	}
	// the secrets of the phases the push runs (a withheld phase's are
	// never read)
	e.secrets(d.Spec, branch)
	return d
}

// Replication is what a Withheld names when promote does not copy the
// image into production's registry.
const Replication = "replication"

// unreachable says why branch may not reach environment name.
func (e *evaluation) unreachable(branch, name string, env *Environment) string {
	return fmt.Sprintf("branch %s may not reach the %s environment (its branches: %s; policy: projects[%s].environments.%s.branches)",
		branch, name, strings.Join(env.Branches, ", "), e.p.Name, name)
}

// reach is an environment a run reaches, from its first phase there on.
type reach struct {
	env   *Environment
	name  string
	phase string
}

type evaluation struct {
	p      *Project
	d      *Decision
	groups map[string][]string
}

func (e *evaluation) violate(specPath, env, field, format string, a ...any) {
	e.d.Violations = append(e.d.Violations, Violation{
		Path: specPath, Field: fmt.Sprintf("projects[%s].environments.%s.%s", e.p.Name, env, field), Message: fmt.Sprintf(format, a...),
	})
}

func (e *evaluation) closed(env, specPath string) {
	e.d.Violations = append(e.d.Violations, Violation{
		Path: specPath, Field: fmt.Sprintf("projects[%s].environments.%s", e.p.Name, env),
		Message: fmt.Sprintf("project %s has no %s environment; ask an administrator to describe it in the server's policy, or remove it from the spec", e.p.Name, env),
	})
}

// place checks a long-lived environment's namespace and context.
func (e *evaluation) place(pol *Environment, name string, env *pipelines.Environment) {
	at := "environments." + name
	if !slices.Contains(pol.Namespaces, env.Namespace) {
		e.violate(at+".namespace", name, "namespaces", "namespace %s is not one the %s environment may be in (%s)", env.Namespace, name, strings.Join(pol.Namespaces, ", "))
	}
	switch {
	case pol.AllowsContext(env.Context):
	case len(pol.Contexts) == 0:
		e.violate(at+".context", name, "contexts", "context %s: the %s environment uses the worker's current context only; remove context", env.Context, name)
	default:
		e.violate(at+".context", name, "contexts", "context %q is not one the %s environment may use (%s)", env.Context, name, strings.Join(pol.Contexts, ", "))
	}
}

func (e *evaluation) registry(pol *Environment, name, specPath, image string) {
	if image != "" && pol.PinnedImages && specPath != "bake.image" && !contract.Pinned(image) {
		e.violate(specPath, name, "pinned_images", "image %s is not pinned by digest, which the %s environment requires: write it as %s@sha256:<digest> (crane digest %s tells it)",
			image, name, image, image)
	}
	if image == "" || len(pol.Registries) == 0 || contract.FromRegistry(image, pol.Registries) {
		return
	}
	e.violate(specPath, name, "registries", "image %s is not from a registry the %s environment allows (%s)", image, name, strings.Join(pol.Registries, ", "))
}

// approval makes the production approval the policy's, tightened by the
// spec's.
func (e *evaluation) approval(pr *Environment) {
	pol := pr.Approval
	if pol == nil {
		return
	}
	s := e.d.Spec.Approval
	if s == nil {
		// the rule lives on the environment: a spec without an approval
		// gets the policy's
		a := &pipelines.ApprovalPhase{Approvers: pipelines.Approvers{Users: pol.Users, Groups: pol.Groups}, Required: pol.Required, Timeout: pol.Timeout}
		a.WithDefaults()
		e.d.Spec.Approval = a
		return
	}
	if s.Required < pol.Required {
		e.violate("approval.required", Production, "approval.required", "%d approval(s) asked, the policy needs at least %d", s.Required, pol.Required)
	}
	allowed := expand(pol.Users, pol.Groups, e.groups)
	for i, u := range s.Approvers.Users {
		if !slices.Contains(allowed, u) {
			e.violate(fmt.Sprintf("approval.approvers.users[%d]", i), Production, "approval", "%s is not one of the approvers the policy allows; name users or groups from projects[%s].environments.production.approval", u, e.p.Name)
		}
	}
	for i, g := range s.Approvers.Groups {
		if !slices.Contains(pol.Groups, g) {
			e.violate(fmt.Sprintf("approval.approvers.groups[%d]", i), Production, "approval.groups", "group %s is not one the policy allows (%s)", g, strings.Join(pol.Groups, ", "))
		}
	}
	if pol.Timeout > 0 && s.Timeout > pol.Timeout {
		// the policy's is the longest an approval waits
		a := *s
		a.Timeout = pol.Timeout
		if a.Reminder >= a.Timeout {
			a.Reminder = a.Timeout / 2
		}
		e.d.Spec.Approval = &a
	}
}

// analysis makes the production analysis at least the policy's.
func (e *evaluation) analysis(pr *Environment) {
	pol, prod := pr.Analysis, e.d.Spec.Production
	if pol == nil || prod == nil {
		return
	}
	a := *pol
	a.Metrics = slices.Clone(pol.Metrics)
	if s := prod.Analysis; s != nil {
		a.Delay, a.Interval, a.Count = max(a.Delay, s.Delay), max(a.Interval, s.Interval), max(a.Count, s.Count)
		a.FailureLimit, a.InconclusiveLimit = min(a.FailureLimit, s.FailureLimit), min(a.InconclusiveLimit, s.InconclusiveLimit)
		for _, m := range s.Metrics {
			if !slices.ContainsFunc(a.Metrics, func(p pipelines.Metric) bool { return p.Name == m.Name }) {
				a.Metrics = append(a.Metrics, m)
			}
		}
	}
	p := *prod
	p.Analysis = &a
	if c := p.Canary; c != nil && !slices.ContainsFunc(c.Steps, func(s pipelines.CanaryStep) bool { return s.Analysis }) && len(c.Steps) > 0 {
		steps := slices.Clone(c.Steps)
		steps[0].Analysis = true
		p.Canary = &pipelines.CanarySteps{Steps: steps}
	}
	e.d.Spec.Production = &p
}

// expand lists users and the members of groups.
func expand(users, groups []string, defs map[string][]string) []string {
	out := slices.Clone(users)
	for _, g := range groups {
		out = append(out, defs[g]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func imageOf(b *pipelines.BakePhase) string {
	if b == nil {
		return ""
	}
	return b.Image
}

// withholdFrom removes phase and every phase after it from spec and says
// why for each.
func withholdFrom(spec *pipelines.Spec, phase, reason string) []contract.Withheld {
	var out []contract.Withheld
	from := false
	for _, p := range pipelines.Phases {
		from = from || p.Name == phase
		if !from || !spec.Enabled(p.Name) {
			continue
		}
		out = append(out, contract.Withheld{Phase: p.Name, Reason: reason})
		spec.Disable(p.Name)
	}
	return out
}
