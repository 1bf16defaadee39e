package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sluice-cd/sluice/pipelines"
)

// Secret is a pipeline secret of a project: the server says where its
// value lives and which phases of which branches may have it; a spec names
// it and nothing else. The value is read by the worker inside the activity
// that hands it to a step or a Job, and never enters a workflow's history.
type Secret struct {
	// Name is what a spec lists (build.secrets: [npm_token]); steps and
	// Jobs get the value in the environment variable of its upper-case form
	// (NPM_TOKEN).
	Name string `yaml:"name"`
	// Exactly one source: a key of a Kubernetes Secret (read with the
	// worker's cluster credentials), a file on the worker, or an
	// environment variable of the worker.
	Kubernetes *SecretKeyRef `yaml:"kubernetes"`
	File       string        `yaml:"file"`
	Env        string        `yaml:"env"`
	// Phases that may have it: build, test, deploy (the application in its
	// test environment or staging), integration (the suite's Job in the
	// test environment), production (the application and the release's
	// verify Job).
	Phases []string `yaml:"phases"`
	// Protected secrets reach only branches that may reach production
	// (environments.production.branches), as GitLab's protected variables
	// reach only protected branches.
	Protected bool `yaml:"protected"`
	// As is how a step or Job gets it: "env" (the default), the value in
	// its environment variable, or "file", the path of a file that holds
	// it (mode 0400, in memory) in that variable, as GitLab's file-type
	// variables — for what tools read from a file (a kubeconfig, a key).
	As string `yaml:"as"`
}

// How a secret is handed over (Secret.As).
const (
	SecretAsEnv  = "env"
	SecretAsFile = "file"
)

// AsFile tells whether the secret is handed over as a file.
func (s *Secret) AsFile() bool { return s.As == SecretAsFile }

// SecretKeyRef is one key of a Kubernetes Secret.
type SecretKeyRef struct {
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	Key       string `yaml:"key"`
}

// SecretPhases are the phases a secret may be given to.
var SecretPhases = []string{pipelines.PhaseBuild, pipelines.PhaseTest, pipelines.PhaseDeploy, pipelines.PhaseIntegration, pipelines.PhaseProduction}

var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// EnvName is the environment variable a step or Job reads the secret from.
func (s *Secret) EnvName() string { return strings.ToUpper(s.Name) }

// Source says where the value lives, for messages (never the value).
func (s *Secret) Source() string {
	switch {
	case s.Kubernetes != nil:
		return fmt.Sprintf("key %s of Kubernetes Secret %s/%s", s.Kubernetes.Key, s.Kubernetes.Namespace, s.Kubernetes.Name)
	case s.File != "":
		return "file " + s.File
	default:
		return "environment variable " + s.Env + " of the worker"
	}
}

// Secret returns the project's secret called name.
func (p *Project) Secret(name string) (*Secret, bool) {
	for i := range p.Secrets {
		if p.Secrets[i].Name == name {
			return &p.Secrets[i], true
		}
	}
	return nil, false
}

// Grant says why a push of branch may not give the project's secret name to
// phase, and the policy's field that says so; "" when it may.
func (p *Project) Grant(name, phase, branch string) (why, field string) {
	s, ok := p.Secret(name)
	if !ok {
		return fmt.Sprintf("project %s has no secret %s; ask an administrator to define it, or remove it from the spec", p.Name, name),
			fmt.Sprintf("projects[%s].secrets", p.Name)
	}
	if !slices.Contains(s.Phases, phase) {
		return fmt.Sprintf("secret %s is not given to the %s phase (its phases: %s)", name, phase, strings.Join(s.Phases, ", ")),
			fmt.Sprintf("projects[%s].secrets[%s].phases", p.Name, name)
	}
	if s.Protected {
		var prod []string
		if pr := p.Environments.Production; pr != nil {
			prod = pr.Branches
		}
		if len(prod) == 0 || !pipelines.MatchBranch(prod, branch) {
			return fmt.Sprintf("secret %s is protected: only branches that may reach production (%s) may use it, not %s", name, strings.Join(prod, ", "), branch),
				fmt.Sprintf("projects[%s].secrets[%s].protected", p.Name, name)
		}
	}
	return "", ""
}

// validateSecrets says what is wrong with the project's secrets.
func (p *Project) validateSecrets(bad func(format string, a ...any)) {
	seen := map[string]bool{}
	for i, s := range p.Secrets {
		at := fmt.Sprintf("secrets[%d]", i)
		if !secretName.MatchString(s.Name) {
			bad("%s.name: %q: a secret's name is a letter or _ followed by letters, digits or _ (it becomes an environment variable)", at, s.Name)
		}
		if seen[strings.ToUpper(s.Name)] {
			bad("%s.name: %s is defined twice (names are compared in upper case, as the environment variable they become)", at, s.Name)
		}
		seen[strings.ToUpper(s.Name)] = true
		sources := 0
		for _, set := range []bool{s.Kubernetes != nil, s.File != "", s.Env != ""} {
			if set {
				sources++
			}
		}
		if sources != 1 {
			bad("%s: give exactly one source: kubernetes {namespace, name, key}, file or env", at)
		}
		if k := s.Kubernetes; k != nil && (k.Namespace == "" || k.Name == "" || k.Key == "") {
			bad("%s.kubernetes: namespace, name and key are all required", at)
		}
		if s.As != "" && s.As != SecretAsEnv && s.As != SecretAsFile {
			bad("%s.as: %q: a secret is handed over as env (its value in the variable) or file (the path of a file holding it)", at, s.As)
		}
		if len(s.Phases) == 0 {
			bad("%s.phases: list the phases that may have it (%s)", at, strings.Join(SecretPhases, ", "))
		}
		for _, ph := range s.Phases {
			if !slices.Contains(SecretPhases, ph) {
				bad("%s.phases: %q is not one of %s", at, ph, strings.Join(SecretPhases, ", "))
			}
		}
		if s.Protected && (p.Environments.Production == nil || len(p.Environments.Production.Branches) == 0) {
			bad("%s.protected: a protected secret reaches the branches production protects, and environments.production.branches lists none", at)
		}
	}
}

// secrets checks every secret the spec names against the project's.
func (e *evaluation) secrets(spec pipelines.Spec, branch string) {
	for _, ref := range spec.SecretRefs() {
		if why, field := e.p.Grant(ref.Name, ref.Phase, branch); why != "" {
			e.d.Violations = append(e.d.Violations, Violation{Path: ref.Path, Field: field, Message: why})
		}
	}
}

// noSecrets refuses every secret a spec names on a server without projects.
func noSecrets(spec pipelines.Spec) []Violation {
	var out []Violation
	for _, ref := range spec.SecretRefs() {
		out = append(out, Violation{Path: ref.Path, Field: "projects",
			Message: fmt.Sprintf("secret %s: this server has no projects, so no secrets; an administrator defines them under projects[].secrets", ref.Name)})
	}
	return out
}
