package pipelines

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// validator checks the meaning of a decoded, defaulted spec.
type validator struct{ d *decoder }

// at finds the node for a key path: the value when it was written, else
// the key of the nearest written parent, so a missing key is reported where
// its parent is.
func (v *validator) at(p string) *yaml.Node {
	if n, ok := v.d.pos[p]; ok && n.Kind != yaml.MappingNode {
		return n
	}
	for {
		if n, ok := v.d.pos[p+"#key"]; ok {
			return n
		}
		if n, ok := v.d.pos[p]; ok && strings.HasSuffix(p, "]") {
			return n // an item of a list: where the item starts
		}
		if p == "" {
			return nil
		}
		if i := strings.LastIndexAny(p, ".["); i >= 0 {
			p = p[:i]
		} else {
			p = ""
		}
	}
}

func (v *validator) errf(p, hint, format string, args ...any) {
	v.d.add(v.at(p), p, fmt.Sprintf(format, args...), hint)
}

var (
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	registryRef = regexp.MustCompile(`^[a-z0-9]+([.-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	imageRef    = regexp.MustCompile(`^[a-z0-9]+([._:/-][a-zA-Z0-9]+)*(@sha256:[a-f0-9]{64})?$`)
	quantity    = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)
	tagSyntax   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

func (v *validator) spec(s *Spec) {
	if b := s.Build; b != nil {
		for i, a := range b.Artifacts {
			v.relative(fmt.Sprintf("build.artifacts[%d]", i), a)
		}
		if len(b.Artifacts) > 0 && s.Bake == nil {
			v.errf("build.artifacts", "add a bake phase, or drop build.artifacts", "build artifacts go to bake, and there is no bake phase")
		}
	}
	if s.Version == 0 {
		v.errf("version", "add `version: 1` at the top of the file", "missing version")
	} else if s.Version != 1 {
		v.errf("version", "this Sluice understands version 1", "unsupported version %d", s.Version)
	}
	v.oneOf("concurrency", s.Concurrency, CancelPrevious, Queue)
	v.inputs(s)
	v.includes(s)
	v.templates(s)
	v.rule("on", &Rule{Branches: s.On.Branches, Tags: s.On.Tags, Events: s.On.Events, Paths: s.On.Paths}, []string{EventPush, EventTag, EventMergeRequest})
	enabled := 0
	for _, p := range Phases {
		if p.Enabled(s) {
			enabled++
			v.needs(s, p)
			v.rule(p.Name+".when", p.When(s), Events)
		}
	}
	if enabled == 0 {
		v.errf("", "add at least one phase, for example `build:` with `commands:`", "no phases defined")
	}
	v.environments(s)
	if b := s.Build; b != nil {
		v.jobs(PhaseBuild, b.Commands, b.Jobs, b.FailFast)
		if len(b.Jobs) > 0 && len(b.Artifacts) > 0 {
			v.errf("build.artifacts", "name them in the job that makes them (jobs.<job>.artifacts)", "with jobs, artifacts belong to a job")
		}
		v.env("build.env", b.Env)
		v.secrets("build.secrets", b.Secrets, b.Env)
		v.positive("build.timeout", b.Timeout)
		if b.Image != "" {
			v.image("build.image", b.Image)
		}
	}
	for _, phase := range []string{PhaseBuild, PhaseTest} {
		jobs := s.JobsOf(phase)
		for _, name := range jobs.Names() {
			if j := jobs[name]; j != nil && len(j.Services) > 0 && j.Pool == "" && s.Pool() == "" {
				v.errf(phase+".jobs."+name+".services", "give the job (or build) a pool: its services start beside its pod in the cluster",
					"job %s has services and no pool", name)
			}
		}
	}
	if t := s.Test; t != nil {
		v.jobs(PhaseTest, t.Commands, t.Jobs, t.FailFast)
		if len(t.Jobs) > 0 && t.JUnit != "" {
			v.errf("test.junit", "give junit to the job that writes the report", "with jobs, junit belongs to a job")
		}
		v.env("test.env", t.Env)
		v.secrets("test.secrets", t.Secrets, t.Env)
		v.positive("test.timeout", t.Timeout)
	}
	if b := s.Bake; b != nil {
		if b.Image == "" {
			v.errf("bake.image", "name the repository to push to, like 127.0.0.1:5000/team/app", "bake needs an image")
		} else {
			v.image("bake.image", b.Image)
			if strings.Contains(b.Image, "@") || tagAfterSlash(b.Image) {
				v.errf("bake.image", "write the repository only; Sluice tags by commit and records the digest", "bake.image must not carry a tag or digest")
			}
		}
		v.relative("bake.context", b.Context)
		v.relative("bake.dockerfile", b.Dockerfile)
		v.positive("bake.timeout", b.Timeout)
	}
	if d := s.Deploy; d != nil {
		v.oneOf("deploy.environment", d.Environment, "test", "staging")
		if d.Manifests == "" {
			v.errf("deploy.manifests", "point it at a directory of Kubernetes YAML, like deploy/k8s", "deploy needs manifests")
		}
		v.relative("deploy.manifests", d.Manifests)
		v.secrets("deploy.secrets", d.Secrets, nil)
		if d.Environment == "staging" && s.Environments.Staging == nil {
			v.errf("deploy.environment", "define environments.staging.namespace", "deploy targets staging, which is not defined")
		}
		v.positive("deploy.timeout", d.Timeout)
	}
	if c := s.Chaos; c != nil {
		if len(c.Experiments) == 0 {
			v.errf("chaos.experiments", "list the experiment files, e.g. `experiments: [chaos/pod-kill.yml]`", "chaos needs at least one experiment")
		}
		for i, e := range c.Experiments {
			v.relative(fmt.Sprintf("chaos.experiments[%d]", i), e)
		}
	}
	if i := s.Integration; i != nil {
		if i.Image == "" {
			v.errf("integration.image", "the integration job needs an image that holds the test suite", "integration needs an image")
		} else {
			v.image("integration.image", i.Image)
		}
		v.commands("integration.commands", i.Commands)
		v.env("integration.env", i.Env)
		v.secrets("integration.secrets", i.Secrets, i.Env)
		v.positive("integration.timeout", i.Timeout)
	}
	if p := s.Promote; p != nil {
		if !tagSyntax.MatchString(strings.ReplaceAll(p.Tag, TagVar, "v")) {
			v.errf("promote.tag", "tags are letters, digits, '_', '.', '-', up to 128; "+TagVar+" is the pushed tag of a tag's run", "bad tag %q", p.Tag)
		}
		v.positive("promote.timeout", p.Timeout)
		if g := p.Scan; g != nil {
			if !slices.Contains(Severities, g.MaxSeverity) {
				v.errf("promote.scan.max-severity", "one of "+strings.Join(Severities, ", "), "unknown severity %q", g.MaxSeverity)
			}
			for i, id := range g.Allow {
				if strings.TrimSpace(id) == "" || strings.ContainsAny(id, " \t\n") {
					v.errf(fmt.Sprintf("promote.scan.allow[%d]", i), "a vulnerability ID or alias such as CVE-2024-1234", "bad vulnerability ID %q", id)
				}
			}
		}
	}
	if a := s.Approval; a != nil {
		v.approval(a)
	}
	if p := s.Production; p != nil {
		if p.Manifests == "" {
			v.errf("production.manifests", "point it at a directory of Kubernetes YAML", "production needs manifests")
		}
		v.relative("production.manifests", p.Manifests)
		if s.Environments.Production == nil {
			v.errf("production", "define environments.production.namespace", "production needs environments.production")
		}
		v.secrets("production.secrets", p.Secrets, nil)
		if p.Verify != nil {
			v.commands("production.verify.commands", p.Verify.Commands)
			v.positive("production.verify.timeout", p.Verify.Timeout)
			if p.Verify.Image == "" {
				v.errf("production.verify.image", "name the image whose shell runs the checks (or define integration.image, the default)", "production.verify needs an image")
			} else {
				v.image("production.verify.image", p.Verify.Image)
			}
		}
		v.positive("production.grace", p.Grace)
		v.canary(s, p)
		if a := p.Analysis; a != nil {
			v.analysis("production.analysis", a)
			if p.Timeout > 0 && a.Duration() >= p.Timeout {
				v.errf("production.timeout", "raise production.timeout, or take fewer or shorter rounds: the release and its analysis must fit in it", "production.timeout %s is not longer than the analysis (%s)", p.Timeout, a.Duration())
			}
		}
		v.positive("production.timeout", p.Timeout)
	}
}

// needs reports each earlier phase p depends on that the spec leaves out.
func (v *validator) needs(s *Spec, p Phase) {
	for _, n := range p.Needs {
		if dep := PhaseNamed(n.Phase); dep == nil || !dep.Enabled(s) {
			v.errf(p.Name, fmt.Sprintf("add a %s phase: %s", n.Phase, n.Why), "%s needs a %s phase", p.Name, n.Phase)
		}
	}
}

func (v *validator) approval(a *ApprovalPhase) {
	if len(a.Approvers.Users) == 0 && len(a.Approvers.Groups) == 0 {
		v.errf("approval.approvers", "list approvers.users or approvers.groups: an approval nobody may give can only time out", "approval without approvers")
	}
	seen := map[string]bool{}
	for i, u := range a.Approvers.Users {
		p := fmt.Sprintf("approval.approvers.users[%d]", i)
		if strings.TrimSpace(u) == "" {
			v.errf(p, "", "empty approver")
		} else if seen[u] {
			v.errf(p, "remove the duplicate", "approver %q listed twice", u)
		}
		seen[u] = true
	}
	if n, ok := v.d.pos["approval.required"]; ok && (n.Value == "0" || strings.HasPrefix(n.Value, "-")) {
		v.errf("approval.required", "at least one approval is required", "required must be 1 or more, found %s", n.Value)
	} else if a.Required < 1 {
		v.errf("approval.required", "at least one approval is required", "required must be 1 or more, found %d", a.Required)
	} else if len(a.Approvers.Groups) == 0 && len(a.Approvers.Users) > 0 && a.Required > len(a.Approvers.Users) {
		v.errf("approval.required", "list more approvers or lower required", "required is %d but only %d approvers are listed", a.Required, len(a.Approvers.Users))
	}
	v.positive("approval.timeout", a.Timeout)
	v.positive("approval.reminder", a.Reminder)
	if a.Reminder >= a.Timeout && a.Timeout > 0 {
		v.errf("approval.reminder", "a reminder must come before the timeout", "reminder %s is not shorter than timeout %s", a.Reminder, a.Timeout)
	}
	if a.MaxReminders < 0 || a.MaxReminders > 50 {
		v.errf("approval.max-reminders", "use 0 to 50", "max-reminders %d out of range", a.MaxReminders)
	}
}

// services checks a list of services (a test environment's, a job's).
func (v *validator) services(at string, services []Service) {
	names := map[string]bool{}
	for i, svc := range services {
		p := fmt.Sprintf("%s[%d]", at, i)
		if !dnsLabel.MatchString(svc.Name) {
			v.errf(p+".name", "lowercase letters, digits and '-', like postgres", "bad service name %q", svc.Name)
		} else if names[svc.Name] {
			v.errf(p+".name", "service names must be unique", "service %q defined twice", svc.Name)
		}
		names[svc.Name] = true
		if svc.Image == "" {
			v.errf(p+".image", "", "service %q needs an image", svc.Name)
		} else {
			v.image(p+".image", svc.Image)
		}
		for j, port := range svc.Ports {
			if port < 1 || port > 65535 {
				v.errf(fmt.Sprintf("%s.ports[%d]", p, j), "", "port %d out of range 1-65535", port)
			}
		}
		v.env(p+".env", svc.Env)
	}
}

func (v *validator) environments(s *Spec) {
	if t := s.Environments.Test; t != nil {
		v.services("environments.test.services", t.Services)
		for _, q := range []struct{ p, val string }{{"environments.test.quota.cpu", t.Quota.CPU}, {"environments.test.quota.memory", t.Quota.Memory}} {
			if q.val != "" && !quantity.MatchString(q.val) {
				v.errf(q.p, "use a Kubernetes quantity like 2, 500m or 4Gi", "bad quantity %q", q.val)
			}
		}
		v.positive("environments.test.ttl", t.TTL)
	}
	for name, e := range map[string]*Environment{"staging": s.Environments.Staging, "production": s.Environments.Production} {
		if e == nil {
			continue
		}
		p := "environments." + name
		if !dnsLabel.MatchString(e.Namespace) {
			v.errf(p+".namespace", "a Kubernetes namespace: lowercase letters, digits and '-'", "bad or missing namespace %q", e.Namespace)
		}
		if name == "production" {
			v.oneOf(p+".strategy", e.Strategy, Rolling, BlueGreen, Canary)
		} else {
			v.oneOf(p+".strategy", e.Strategy, Rolling, BlueGreen)
		}
		if e.Registry != "" {
			if name != "production" {
				v.errf(p+".registry", "only environments.production has a registry of its own", "registry is not used for %s", name)
			} else if !registryRef.MatchString(e.Registry) {
				v.errf(p+".registry", "a registry host with an optional path, like harbor.prod.example.com/releases (no scheme, no tag)", "bad registry %q", e.Registry)
			}
		}
	}
}

func (v *validator) oneOf(p, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	hint := "one of: " + strings.Join(allowed, ", ")
	if s := suggest(val, allowed); s != "" {
		hint = fmt.Sprintf("did you mean %q?", s)
	}
	v.errf(p, hint, "unknown value %q", val)
}

func (v *validator) commands(p string, cmds []string) {
	if len(cmds) == 0 {
		v.errf(p, "list the shell commands to run, one per item", "no commands")
	}
	for i, c := range cmds {
		if strings.TrimSpace(c) == "" {
			v.errf(fmt.Sprintf("%s[%d]", p, i), "remove the empty item", "empty command")
		}
	}
}

func (v *validator) env(p string, env map[string]string) {
	for k := range env {
		if !envName.MatchString(k) {
			v.d.add(v.d.pos[join(p, k)+"#key"], join(p, k), fmt.Sprintf("bad environment variable name %q", k), "letters, digits and '_', not starting with a digit")
		}
	}
}

// secrets checks a phase's secret names: each an environment variable
// name once, none shadowing one of env.
func (v *validator) secrets(p string, names []string, env map[string]string) {
	seen := map[string]bool{}
	for i, n := range names {
		at := fmt.Sprintf("%s[%d]", p, i)
		up := strings.ToUpper(n)
		switch {
		case !envName.MatchString(n):
			v.errf(at, "a secret's name as the server defines it: letters, digits and '_', not starting with a digit", "bad secret name %q", n)
		case seen[up]:
			v.errf(at, "list each secret once", "secret %s listed twice", n)
		case env[up] != "":
			v.errf(at, "rename or drop the env entry: the secret's value would be replaced", "secret %s is delivered as %s, which env sets too", n, up)
		}
		seen[up] = true
	}
}

// SecretRef is a secret a spec names for a phase.
type SecretRef struct {
	// Path is the spec's key ("build.secrets[0]").
	Path  string
	Phase string
	Name  string
}

// SecretRefs are the secrets the spec's phases name, in pipeline order.
func (s *Spec) SecretRefs() []SecretRef {
	var out []SecretRef
	add := func(phase string, names []string) {
		for i, n := range names {
			out = append(out, SecretRef{Path: fmt.Sprintf("%s.secrets[%d]", phase, i), Phase: phase, Name: n})
		}
	}
	if s.Build != nil {
		add(PhaseBuild, s.Build.Secrets)
	}
	if s.Test != nil {
		add(PhaseTest, s.Test.Secrets)
	}
	if s.Deploy != nil {
		add(PhaseDeploy, s.Deploy.Secrets)
	}
	if s.Integration != nil {
		add(PhaseIntegration, s.Integration.Secrets)
	}
	if s.Production != nil {
		add(PhaseProduction, s.Production.Secrets)
	}
	return out
}

func (v *validator) positive(p string, d Duration) {
	if d < 0 {
		v.errf(p, "durations must be positive", "negative duration %s", d)
	}
}

func (v *validator) image(p, ref string) {
	if !imageRef.MatchString(ref) {
		v.errf(p, "an image reference like 127.0.0.1:5000/team/app:1.0", "bad image reference %q", ref)
	}
}

func (v *validator) relative(p, rel string) {
	if rel == "" {
		return
	}
	clean := path.Clean(rel)
	if path.IsAbs(rel) || clean == ".." || strings.HasPrefix(clean, "../") {
		v.errf(p, "paths are relative to the repository root and stay inside it", "path %q leaves the repository", rel)
	}
}

// tagAfterSlash reports whether the last path element of ref has a :tag
// (a colon in an earlier element is a registry port, not a tag).
func tagAfterSlash(ref string) bool {
	last := ref[strings.LastIndex(ref, "/")+1:]
	return strings.Contains(last, ":")
}
