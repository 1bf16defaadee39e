package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

var groups = map[string][]string{"release-managers": {"rita", "ravi"}, "sre": {"sam"}}

func payments() *Project {
	return &Project{
		Name:         "payments",
		Repositories: []string{"acme/pay"},
		Environments: Environments{
			Test: &Environment{Registries: []string{"registry.acme/pay", "docker.io/library"}},
			Staging: &Environment{Branches: []string{"main", "release/*"}, Namespaces: []string{"pay-staging"},
				Registries: []string{"registry.acme/pay"}},
			Production: &Environment{
				Branches: []string{"main"}, Namespaces: []string{"pay-prod"}, Contexts: []string{"prod"},
				Registries: []string{"registry.acme/pay"}, PodSecurity: contract.PodRestricted, ClusterRoles: []string{"view"},
				Approval: &Approval{Required: 2, Groups: []string{"release-managers"}, Users: []string{"olga"}, Timeout: pipelines.Duration(48 * time.Hour)},
			},
		},
		Secrets: []Secret{
			{Name: "npm_token", Env: "NPM_TOKEN", Phases: []string{pipelines.PhaseBuild, pipelines.PhaseTest}},
			{Name: "db_password", Kubernetes: &SecretKeyRef{Namespace: "sluice", Name: "pay-db", Key: "password"}, Phases: []string{pipelines.PhaseIntegration, pipelines.PhaseProduction}, Protected: true},
		},
	}
}

const base = `
version: 1
build: {commands: [make]}
bake: {image: registry.acme/pay/app}
deploy: {manifests: k8s}
integration: {image: registry.acme/pay/it, commands: [./it]}
promote: {}
environments: {production: {namespace: pay-prod, context: prod}}
production: {manifests: k8s/prod}
`

func spec(t *testing.T, extra string) pipelines.Spec {
	t.Helper()
	// the extra top-level keys replace the base's
	keys := map[string]bool{}
	for _, l := range strings.Split(extra, "\n") {
		if key, _, ok := strings.Cut(l, ":"); ok {
			keys[key] = true
		}
	}
	var lines []string
	for _, l := range strings.Split(base, "\n") {
		if key, _, _ := strings.Cut(l, ":"); !keys[key] {
			lines = append(lines, l)
		}
	}
	// "KEY: drop" removes the base's KEY
	var kept []string
	for _, l := range strings.Split(extra, "\n") {
		if !strings.HasSuffix(l, ": drop") {
			kept = append(kept, l)
		}
	}
	s, err := pipelines.Parse(pipelines.FileName, []byte(strings.Join(lines, "\n")+strings.Join(kept, "\n")), "pay")
	if err != nil {
		t.Fatal(err)
	}
	return *s
}

// TestEvaluate: the effective rule is the policy tightened by the spec.
func TestEvaluate(t *testing.T) {
	cases := []struct {
		name   string
		spec   string
		branch string
		// violations: the spec paths refused, with the policy field
		violations map[string]string
		withheld   []string
		check      func(t *testing.T, d Decision)
		project    func(p *Project)
	}{
		{name: "a spec without approval gets the policy's", branch: "main",
			check: func(t *testing.T, d Decision) {
				a := d.Spec.Approval
				if a == nil || a.Required != 2 || !slices.Equal(a.Approvers.Groups, []string{"release-managers"}) || a.Timeout.D() != 48*time.Hour {
					t.Fatalf("approval %+v", a)
				}
			}},
		{name: "more approvals, fewer approvers, a shorter timeout are tighter", branch: "main",
			spec: "approval: {approvers: {users: [olga], groups: [release-managers]}, required: 3, timeout: 30h}\n",
			check: func(t *testing.T, d Decision) {
				if a := d.Spec.Approval; a.Required != 3 || !slices.Equal(a.Approvers.Users, []string{"olga"}) || a.Timeout.D() != 30*time.Hour {
					t.Fatalf("approval %+v", a)
				}
			}},
		{name: "fewer approvals", branch: "main", spec: "approval: {approvers: {groups: [release-managers]}, required: 1}\n",
			violations: map[string]string{"approval.required": "projects[payments].environments.production.approval.required"}},
		{name: "the author lists themselves", branch: "main", spec: "approval: {approvers: {users: [rita, mallory]}, required: 2}\n",
			violations: map[string]string{"approval.approvers.users[1]": "projects[payments].environments.production.approval"}},
		{name: "another group", branch: "main", spec: "approval: {approvers: {groups: [sre]}, required: 2}\n",
			violations: map[string]string{"approval.approvers.groups[0]": "projects[payments].environments.production.approval.groups"}},
		{name: "a longer wait is cut to the policy's", branch: "main", spec: "approval: {approvers: {groups: [release-managers]}, required: 2, timeout: 30d}\n",
			check: func(t *testing.T, d Decision) {
				if a := d.Spec.Approval; a.Timeout.D() != 48*time.Hour {
					t.Fatalf("timeout %s", a.Timeout)
				}
			}},
		{name: "another production namespace and context", branch: "main",
			spec:       "environments: {production: {namespace: kube-system, context: admin}}\n",
			violations: map[string]string{"environments.production.namespace": "projects[payments].environments.production.namespaces", "environments.production.context": "projects[payments].environments.production.contexts"}},
		{name: "an image from another registry", branch: "main", spec: "bake: {image: evil.example/app}\n",
			violations: map[string]string{"bake.image": "projects[payments].environments.test.registries"}},
		{name: "a verify job from another registry", branch: "main", spec: "production: {manifests: k8s/prod, verify: {image: evil.example/v, commands: [true]}}\n",
			violations: map[string]string{"production.verify.image": "projects[payments].environments.production.registries"}},
		{name: "a tagged verify image where production wants digests", branch: "main",
			project:    func(p *Project) { p.Environments.Production.PinnedImages = true },
			spec:       "production: {manifests: k8s/prod, verify: {image: registry.acme/pay/v:1, commands: [true]}}\n",
			violations: map[string]string{"production.verify.image": "projects[payments].environments.production.pinned_images"}},
		{name: "a tagged integration image where test wants digests", branch: "feature/x",
			project:    func(p *Project) { p.Environments.Test.PinnedImages = true },
			spec:       "integration: {image: registry.acme/pay/it:latest, commands: [./it]}\n",
			violations: map[string]string{"integration.image": "projects[payments].environments.test.pinned_images"}},
		{name: "a pinned integration image where test wants digests", branch: "feature/x", withheld: []string{pipelines.PhaseApproval, pipelines.PhaseProduction},
			project: func(p *Project) { p.Environments.Test.PinnedImages = true },
			spec:    "integration: {image: \"registry.acme/pay/it@sha256:" + strings.Repeat("cd", 32) + "\", commands: [./it]}\n",
			check: func(t *testing.T, d Decision) {
				if !d.Governance.Test.PinnedImages {
					t.Fatal("the test guard does not carry pinned_images")
				}
			}},
		{name: "a production registry the policy does not list", branch: "main",
			spec:       "environments: {production: {namespace: pay-prod, context: prod, registry: evil.example/mirror}}\n",
			violations: map[string]string{"environments.production.registry": "projects[payments].environments.production.registries"}},
		{name: "a staging environment the policy does not describe", branch: "main",
			project:    func(p *Project) { p.Environments.Staging = nil },
			spec:       "deploy: {manifests: k8s, environment: staging}\nenvironments: {staging: {namespace: pay-staging}, production: {namespace: pay-prod, context: prod}}\n",
			violations: map[string]string{"deploy.environment": "projects[payments].environments.staging"}},
		{name: "an unprotected branch that drops the approval reaches no production", branch: "feature/x",
			withheld: []string{pipelines.PhaseApproval, pipelines.PhaseProduction},
			check: func(t *testing.T, d Decision) {
				if d.Spec.Production != nil || d.Spec.Approval != nil || d.Spec.Promote == nil || d.Spec.Integration == nil {
					t.Fatalf("spec %+v", d.Spec)
				}
				if r := d.Governance.Withheld[0].Reason; !strings.Contains(r, "branch feature/x") || !strings.Contains(r, "projects[payments].environments.production.branches") {
					t.Fatalf("reason %q", r)
				}
			}},
		{name: "an unprotected branch is withheld from staging and everything after it", branch: "feature/x",
			spec:     "deploy: {manifests: k8s, environment: staging}\nenvironments: {staging: {namespace: pay-staging}, production: {namespace: pay-prod, context: prod}}\n",
			withheld: []string{pipelines.PhaseDeploy, pipelines.PhaseIntegration, pipelines.PhasePromote, pipelines.PhaseApproval, pipelines.PhaseProduction}},
		{name: "a production registry without a production phase is still production's", branch: "main",
			spec:       "environments: {production: {namespace: pay-prod, context: prod, registry: evil.example/mirror}}\nproduction: drop\n",
			violations: map[string]string{"environments.production.registry": "projects[payments].environments.production.registries"}},
		{name: "an unprotected branch does not copy its image into production's registry", branch: "feature/x",
			spec:     "environments: {production: {namespace: pay-prod, context: prod, registry: registry.acme/pay/mirror}}\nproduction: drop\n",
			withheld: []string{Replication},
			check: func(t *testing.T, d Decision) {
				if env := d.Spec.Environments.Production; env == nil || env.Registry != "" || d.Spec.Promote == nil {
					t.Fatalf("production environment %+v, promote %v", env, d.Spec.Promote)
				}
			}},
		{name: "secrets the project gives the phases", branch: "main",
			spec: "build: {commands: [make], secrets: [npm_token]}\nintegration: {image: registry.acme/pay/it, commands: [./it], secrets: [db_password]}\n"},
		{name: "a secret of no phase the spec names, one given to other phases, one the project lacks", branch: "main",
			spec: "build: {commands: [make], secrets: [db_password, other_projects_key]}\nintegration: {image: registry.acme/pay/it, commands: [./it], secrets: [npm_token]}\n",
			violations: map[string]string{"build.secrets[0]": "projects[payments].secrets[db_password].phases", "build.secrets[1]": "projects[payments].secrets",
				"integration.secrets[0]": "projects[payments].secrets[npm_token].phases"}},
		{name: "a protected secret on a branch production does not protect", branch: "feature/x",
			spec:       "integration: {image: registry.acme/pay/it, commands: [./it], secrets: [db_password]}\n",
			violations: map[string]string{"integration.secrets[0]": "projects[payments].secrets[db_password].protected"},
			withheld:   []string{pipelines.PhaseApproval, pipelines.PhaseProduction}},
		{name: "a withheld phase's protected secret is never read, so it does not refuse the push", branch: "feature/x",
			spec:     "production: {manifests: k8s/prod, verify: {image: registry.acme/pay/it, commands: [true]}, secrets: [db_password]}\n",
			withheld: []string{pipelines.PhaseApproval, pipelines.PhaseProduction}},
		{name: "guards from the policy", branch: "main",
			check: func(t *testing.T, d Decision) {
				g := d.Governance.Production
				if g.Level() != contract.PodRestricted || !slices.Equal(g.Namespaces, []string{"pay-prod"}) || !slices.Equal(g.ClusterRoles, []string{"view"}) {
					t.Fatalf("production guard %+v", g)
				}
				if d.Governance.Test.Level() != contract.PodBaseline || d.Governance.Project != "payments" {
					t.Fatalf("governance %+v", d.Governance)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := payments()
			if tc.project != nil {
				tc.project(p)
			}
			d := Evaluate(p, spec(t, tc.spec), tc.branch, groups)
			got := map[string][]string{}
			for _, v := range d.Violations {
				got[v.Path] = append(got[v.Path], v.Field)
			}
			if len(got) != len(tc.violations) {
				t.Fatalf("violations %v, want %v", d.Violations, tc.violations)
			}
			for p, f := range tc.violations {
				if !slices.Contains(got[p], f) {
					t.Errorf("%s: policy fields %q, want %q (all: %v)", p, got[p], f, d.Violations)
				}
			}
			var withheld []string
			for _, w := range d.Governance.Withheld {
				withheld = append(withheld, w.Phase)
			}
			if !slices.Equal(withheld, tc.withheld) {
				t.Errorf("withheld %v, want %v", withheld, tc.withheld)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

// TestClosedEnvironments: a project without a staging or production
// environment refuses a spec that reaches one.
func TestClosedEnvironments(t *testing.T) {
	p := payments()
	p.Environments.Production = nil
	d := Evaluate(p, spec(t, ""), "main", groups)
	if len(d.Violations) != 1 || d.Violations[0].Path != "production" || d.Violations[0].Field != "projects[payments].environments.production" {
		t.Fatalf("violations %v", d.Violations)
	}
}

// TestNoProjects: a server without projects runs the spec as written.
func TestNoProjects(t *testing.T) {
	s := spec(t, "approval: {approvers: {users: [mallory]}}\n")
	d := Evaluate(nil, s, "feature/x", groups)
	if len(d.Violations) > 0 || len(d.Governance.Withheld) > 0 || d.Spec.Approval.Approvers.Users[0] != "mallory" || d.Spec.Production == nil {
		t.Fatalf("decision %+v", d)
	}
	// without projects there are no secrets: a spec naming one is refused
	d = Evaluate(nil, spec(t, "build: {commands: [make], secrets: [npm_token]}\n"), "main", groups)
	if len(d.Violations) != 1 || d.Violations[0].Path != "build.secrets[0]" || !strings.Contains(d.Violations[0].Message, "this server has no projects, so no secrets") {
		t.Fatalf("violations %v", d.Violations)
	}
}

// TestSecretMessages: a refusal says which secret, which rule and what to
// do.
func TestSecretMessages(t *testing.T) {
	p := payments()
	for _, c := range []struct{ name, phase, branch, want string }{
		{"npm_token", pipelines.PhaseBuild, "feature/x", ""},
		{"npm_token", pipelines.PhaseIntegration, "main", "secret npm_token is not given to the integration phase (its phases: build, test)"},
		{"db_password", pipelines.PhaseProduction, "main", ""},
		{"db_password", pipelines.PhaseIntegration, "feature/x", "secret db_password is protected: only branches that may reach production (main) may use it, not feature/x"},
		{"ssh_key", pipelines.PhaseBuild, "main", "project payments has no secret ssh_key; ask an administrator to define it"},
	} {
		if got, _ := p.Grant(c.name, c.phase, c.branch); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Grant(%s, %s, %s) = %q, want %q", c.name, c.phase, c.branch, got, c.want)
		}
	}
}

// TestValidateSecrets: each secret has a name that can be an environment
// variable, one source, phases that take secrets, and protection only
// where production protects branches.
func TestValidateSecrets(t *testing.T) {
	p := payments()
	p.Environments.Production.Branches = nil
	p.Secrets = append(p.Secrets,
		Secret{Name: "NPM_TOKEN", File: "/x", Phases: []string{pipelines.PhaseBuild}},
		Secret{Name: "9lives", Phases: []string{"bake"}},
		Secret{Name: "two", File: "/x", Env: "Y", Phases: []string{pipelines.PhaseTest}},
		Secret{Name: "half", Kubernetes: &SecretKeyRef{Name: "x"}, Phases: []string{pipelines.PhaseTest}},
		Secret{Name: "kubeconfig", File: "/x", As: "volume", Phases: []string{pipelines.PhaseTest}},
		Secret{Name: "key", File: "/x", As: SecretAsFile, Phases: []string{pipelines.PhaseTest}},
	)
	var msgs []string
	for _, e := range p.Validate("projects[0]", groups) {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"projects[0].secrets[1].protected: a protected secret reaches the branches production protects, and environments.production.branches lists none",
		"projects[0].secrets[2].name: NPM_TOKEN is defined twice",
		`projects[0].secrets[3].name: "9lives"`,
		"projects[0].secrets[3]: give exactly one source",
		`projects[0].secrets[3].phases: "bake" is not one of build, test, deploy, integration, production`,
		"projects[0].secrets[4]: give exactly one source",
		"projects[0].secrets[5].kubernetes: namespace, name and key are all required",
		`projects[0].secrets[6].as: "volume": a secret is handed over as env (its value in the variable) or file (the path of a file holding it)`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "secrets[7]") {
		t.Errorf("a file-type secret refused:\n%s", all)
	}
}

func TestValidate(t *testing.T) {
	p := payments()
	p.Environments.Test.Namespaces = []string{"x"}
	p.Environments.Staging.Namespaces = []string{"kube-system"}
	p.Environments.Production.Approval.Groups = []string{"nobody"}
	p.Environments.Production.PodSecurity = "lax"
	p.Environments.Production.ClusterRoles = []string{"cluster-admin"}
	p.Environments.Production.Rollback.Approval = "never"
	p.Environments.Staging.Rollback.Approval = RollbackApprovalWaived
	p.Environments.Production.Attestations = []string{"test-result", "vibes"}
	p.Environments.Staging.Attestations = []string{"test-result"}
	p.Environments.Production.Analysis = &pipelines.Analysis{Metrics: []pipelines.Metric{{Name: "errors", Query: "x", Success: "fewer"}}}
	p.Environments.Staging.Freeze = &Freeze{Deny: []Window{{Name: "w", Cron: "0 18 * * 5", Duration: pipelines.Duration(time.Hour)}}}
	p.Environments.Production.Freeze = &Freeze{TimeZone: "Mars/Olympus", OnFreeze: "later",
		Deny: []Window{{Name: "weekend", Cron: "0 18 * *", Duration: pipelines.Duration(time.Hour)}}, Allow: []Window{{Name: "x"}}}
	var msgs []string
	for _, e := range p.Validate("projects[0]", groups) {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"projects[0].environments.test.namespaces",
		"projects[0].environments.staging.namespaces: kube-system belongs to the cluster",
		`projects[0].environments.production.approval.groups: "nobody"`,
		`projects[0].environments.production.pod_security: "lax"`,
		"projects[0].environments.production.cluster_roles: cluster-admin",
		`projects[0].environments.production.rollback.approval: "never"`,
		"projects[0].environments.staging.rollback: only production",
		"projects[0].environments.staging.freeze: only production",
		`projects[0].environments.production.freeze.timezone: "Mars/Olympus" is not a time zone`,
		`projects[0].environments.production.freeze.on_freeze: "later"`,
		`projects[0].environments.production.freeze.deny[0]: cron "0 18 * *"`,
		"projects[0].environments.production.freeze.allow[0]: give cron and duration, or from and until",
		`projects[0].environments.production.attestations: "vibes" is not one Sluice makes (test-result)`,
		"projects[0].environments.staging.attestations: only production requires attestations",
		`projects[0].environments.production.analysis.metrics[0].success: success "fewer" is not an operator`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	if errs := payments().Validate("projects[0]", groups); len(errs) > 0 {
		t.Fatalf("a good project: %v", errs)
	}
}

// TestRollbackApprovers: a rollback needs production's approval rule
// (groups expanded) unless the rule waives it.
func TestRollbackApprovers(t *testing.T) {
	prod := payments().Environments.Production
	users, required, _ := prod.RollbackApprovers(groups)
	if required != prod.Approval.Required || len(users) == 0 {
		t.Fatalf("production's rule: %v %d", users, required)
	}
	for _, u := range expand(prod.Approval.Users, prod.Approval.Groups, groups) {
		if !slices.Contains(users, u) {
			t.Errorf("%s may approve releases but not rollbacks", u)
		}
	}
	prod.Rollback.Approval = RollbackApprovalWaived
	if users, required, _ := prod.RollbackApprovers(groups); required != 0 || users != nil {
		t.Fatalf("waived: %v %d", users, required)
	}
	var none *Environment
	if _, required, _ := none.RollbackApprovers(groups); required != 0 {
		t.Fatal("no production, yet a rollback approval")
	}
}

// TestQuota: a project's run limit travels in the decision; a limit below
// one is a configuration error, not "no runs".
func TestQuota(t *testing.T) {
	p := payments()
	two, zero := 2, 0
	p.Quota = &Quota{Runs: &two}
	if d := Evaluate(p, spec(t, ""), "main", groups); d.Governance.Quota == nil || d.Governance.Quota.Runs != 2 {
		t.Fatalf("quota %+v", d.Governance.Quota)
	}
	p.Quota = &Quota{PoolPods: map[string]int{"go": 3}}
	if d := Evaluate(p, spec(t, ""), "main", groups); d.Governance.Quota == nil || d.Governance.Quota.Runs != 0 || d.Governance.Quota.PoolPods["go"] != 3 {
		t.Fatalf("a pool share alone: %+v", d.Governance.Quota)
	}
	p.Quota = nil
	if d := Evaluate(p, spec(t, ""), "main", groups); d.Governance.Quota != nil {
		t.Fatalf("no quota: %+v", d.Governance.Quota)
	}
	p.Quota = &Quota{Runs: &zero}
	errs := p.Validate("projects[0]", groups)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "projects[0].quota.runs: 0: at least 1 (leave it out for no limit)") {
		t.Fatalf("errors %v", errs)
	}
}

// TestFreezeTravelsInTheGovernance: production's freeze windows reach the
// run as its governance carries them, with on_freeze: fail.
func TestFreezeTravelsInTheGovernance(t *testing.T) {
	p := payments()
	p.Environments.Production.Freeze = &Freeze{TimeZone: "Europe/Berlin", OnFreeze: FreezeFail,
		Deny: []Window{{Name: "weekend", Cron: "0 18 * * 5", Duration: pipelines.Duration(62 * time.Hour)}}}
	f := Evaluate(p, spec(t, ""), "main", groups).Governance.Freeze
	if f == nil || !f.Fail || f.TimeZone != "Europe/Berlin" || len(f.Deny) != 1 || f.Deny[0].Duration != 62*time.Hour || f.Deny[0].Cron != "0 18 * * 5" {
		t.Fatalf("freeze %+v", f)
	}
	if Evaluate(payments(), spec(t, ""), "main", groups).Governance.Freeze != nil {
		t.Fatal("a project without windows froze production")
	}
}

// TestPolicyAnalysis: production's analysis is at least the policy's: a
// spec without one gets it; a spec's own keeps its metrics, gets the
// policy's (which win a name) and the tighter limits; a canary without an
// analysing step is judged at its first.
func TestPolicyAnalysis(t *testing.T) {
	p := payments()
	pol := &pipelines.Analysis{Delay: pipelines.Duration(20 * time.Second), FailureLimit: 1, InconclusiveLimit: 2,
		Metrics: []pipelines.Metric{{Name: "error-rate", Query: "errors", Success: "< 0.01"}}}
	pol.WithDefaults()
	p.Environments.Production.Analysis = pol
	got := Evaluate(p, spec(t, ""), "main", groups).Spec.Production.Analysis
	if got == nil || len(got.Metrics) != 1 || got.Metrics[0].Success != "< 0.01" || got.Count != pipelines.DefaultAnalysisCount {
		t.Fatalf("a spec without an analysis: %+v", got)
	}
	own := spec(t, `production:
  manifests: k8s/prod
  analysis:
    failure-limit: 3
    inconclusive-limit: 0
    count: 10
    metrics:
      - {name: error-rate, query: mine, success: "< 0.5"}
      - {name: latency, query: p99, success: "< 0.3"}`)
	got = Evaluate(p, own, "main", groups).Spec.Production.Analysis
	if got == nil || len(got.Metrics) != 2 || got.Metrics[0].Query != "errors" || got.Metrics[1].Name != "latency" ||
		got.FailureLimit != 1 || got.InconclusiveLimit != 0 || got.Count != 10 || got.Delay != pipelines.Duration(20*time.Second) {
		t.Fatalf("a spec with its own analysis: %+v", got)
	}
	if own.Production.Analysis.Metrics[0].Query != "mine" {
		t.Fatal("the policy changed the pushed spec it was given")
	}
	canary := spec(t, `environments: {production: {namespace: pay-prod, context: prod, strategy: canary}}
production:
  manifests: k8s/prod
  canary: {steps: [{weight: 20}, {weight: 60, pause: 1m}]}`)
	steps := Evaluate(p, canary, "main", groups).Spec.Production.Canary.Steps
	if !steps[0].Analysis || steps[1].Analysis {
		t.Fatalf("a canary without an analysing step: %+v", steps)
	}
}

// TestJobServicesUnderTheTestRules: a job's service image is held to the
// test environment's registries and pinning.
func TestJobServicesUnderTheTestRules(t *testing.T) {
	p := payments()
	p.Environments.Test.PinnedImages = true
	src := "version: 1\nbuild: {pool: go, commands: [make]}\ntest:\n  jobs:\n    unit:\n      commands: [make test]\n      services: [{name: db, image: evil.example/pg:15, ports: [5432]}]\n"
	d := Evaluate(p, spec(t, src), "main", nil)
	var fields []string
	for _, v := range d.Violations {
		if v.Path == "test.jobs.unit.services[0].image" {
			fields = append(fields, v.Field)
		}
	}
	if !slices.Contains(fields, "projects[payments].environments.test.registries") || !slices.Contains(fields, "projects[payments].environments.test.pinned_images") {
		t.Fatalf("violations %v", d.Violations)
	}
}

// TestTestEnvironmentsQuota: a project's test environments share its
// totals equally: a spec that names no quota gets its share, one that asks
// for less keeps it, one that asks for more is refused at its key and the
// policy's field; the count travels in the governance; a bad quota is a
// configuration error.
func TestTestEnvironmentsQuota(t *testing.T) {
	for _, c := range []struct {
		q           TestEnvironmentsQuota
		cpu, memory string
	}{
		{TestEnvironmentsQuota{Count: 3, CPU: "6", Memory: "12Gi"}, "2", "4Gi"},
		{TestEnvironmentsQuota{Count: 4, CPU: "1", Memory: "1Gi"}, "250m", "256Mi"},
		{TestEnvironmentsQuota{Count: 3, CPU: "1"}, "333m", ""},
	} {
		if cpu, memory := c.q.Each(); cpu != c.cpu || memory != c.memory {
			t.Errorf("%+v: each %s %s, want %s %s", c.q, cpu, memory, c.cpu, c.memory)
		}
	}

	p := payments()
	p.Quota = &Quota{TestEnvironments: &TestEnvironmentsQuota{Count: 3, CPU: "6", Memory: "12Gi"}}
	s := spec(t, "")
	d := Evaluate(p, s, "main", groups)
	if len(d.Violations) != 0 || d.Governance.Quota == nil || d.Governance.Quota.TestEnvironments != 3 {
		t.Fatalf("violations %v, quota %+v", d.Violations, d.Governance.Quota)
	}
	if q := d.Spec.Environments.Test; q == nil || q.Quota.CPU != "2" || q.Quota.Memory != "4Gi" {
		t.Fatalf("the spec's test environment: %+v", q)
	}
	if s.Environments.Test != nil && s.Environments.Test.Quota != (pipelines.Quota{}) {
		t.Fatal("the policy changed the commit's spec")
	}
	d = Evaluate(p, spec(t, "environments: {production: {namespace: pay-prod, context: prod}, test: {quota: {cpu: 500m}}}"), "main", groups)
	if q := d.Spec.Environments.Test.Quota; len(d.Violations) != 0 || q.CPU != "500m" || q.Memory != "4Gi" {
		t.Fatalf("a smaller ask: %v %+v", d.Violations, q)
	}
	d = Evaluate(p, spec(t, "environments: {production: {namespace: pay-prod, context: prod}, test: {quota: {cpu: 500m, memory: 8Gi}}}"), "main", groups)
	if len(d.Violations) != 1 || d.Violations[0].Path != "environments.test.quota.memory" || d.Violations[0].Field != "projects[payments].quota.test_environments.memory" ||
		!strings.Contains(d.Violations[0].Message, "8Gi asks for more than a test environment's share of project payments: 4Gi (3 environments share 12Gi)") {
		t.Fatalf("a bigger ask: %v", d.Violations)
	}

	p.Quota.TestEnvironments = &TestEnvironmentsQuota{Count: 0, CPU: "lots"}
	all := fmt.Sprint(p.Validate("projects[0]", groups))
	for _, want := range []string{"projects[0].quota.test_environments.count: 0: at least 1", `projects[0].quota.test_environments.cpu: "lots": a positive Kubernetes quantity`} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in %s", want, all)
		}
	}
}

// TestGuardCarriesAttestations: what production requires reaches the
// production and rollback activities through the guard.
func TestGuardCarriesAttestations(t *testing.T) {
	p := payments()
	p.Environments.Production.Attestations = []string{contract.AttestationTestResult}
	if got := p.Environments.Production.Guard().Attestations; len(got) != 1 || got[0] != contract.AttestationTestResult {
		t.Fatalf("the production guard requires %v", got)
	}
}
