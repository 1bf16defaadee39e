package pipelines

import "slices"

// Phase names, in the order a run goes through them.
const (
	PhaseBuild       = "build"
	PhaseTest        = "test"
	PhaseBake        = "bake"
	PhaseDeploy      = "deploy"
	PhaseIntegration = "integration"
	PhaseChaos       = "chaos"
	PhasePromote     = "promote"
	PhaseApproval    = "approval"
	PhaseProduction  = "production"
)

// Phase is the spec's side of one phase: its name, the earlier phases whose
// outputs it consumes, and where its section of the spec is. Run order, the
// dependency checks of validation, Spec.Enabled and Spec.Timeout all derive
// from Phases; the workflow's side (activity, undo, outputs) is declared in
// package workflows under the same name.
type Phase struct {
	Name string
	// Needs are the earlier phases this one cannot run without.
	Needs []Need
	// Enabled reports whether the spec defines the phase.
	Enabled func(*Spec) bool
	// Timeout is the phase's time limit after defaults; only called when enabled.
	Timeout func(*Spec) Duration
	// Disable removes the phase from the spec (a phase the server's policy
	// withholds, or its rule skips).
	Disable func(*Spec)
	// When is the phase's rule; only called when enabled.
	When func(*Spec) *Rule
}

// Need is a dependency of a phase on an earlier one, with the reason shown
// when the spec leaves the earlier one out.
type Need struct {
	Phase string
	Why   string
}

// Phases lists every phase in run order.
var Phases = []Phase{
	{Name: PhaseBuild,
		Enabled: func(s *Spec) bool { return s.Build != nil },
		Timeout: func(s *Spec) Duration { return s.Build.Timeout },
		Disable: func(s *Spec) { s.Build = nil },
		When:    func(s *Spec) *Rule { return s.Build.When }},
	{Name: PhaseTest,
		Enabled: func(s *Spec) bool { return s.Test != nil },
		Timeout: func(s *Spec) Duration { return s.Test.Timeout },
		Disable: func(s *Spec) { s.Test = nil },
		When:    func(s *Spec) *Rule { return s.Test.When }},
	{Name: PhaseBake,
		Enabled: func(s *Spec) bool { return s.Bake != nil },
		Timeout: func(s *Spec) Duration { return s.Bake.Timeout },
		Disable: func(s *Spec) { s.Bake = nil },
		When:    func(s *Spec) *Rule { return s.Bake.When }},
	{Name: PhaseDeploy,
		Needs:   []Need{{PhaseBake, "deploy runs the image bake produced"}},
		Enabled: func(s *Spec) bool { return s.Deploy != nil },
		Timeout: func(s *Spec) Duration { return s.Deploy.Timeout },
		Disable: func(s *Spec) { s.Deploy = nil },
		When:    func(s *Spec) *Rule { return s.Deploy.When }},
	{Name: PhaseIntegration,
		Needs:   []Need{{PhaseDeploy, "integration tests run against the deployment"}},
		Enabled: func(s *Spec) bool { return s.Integration != nil },
		Timeout: func(s *Spec) Duration { return s.Integration.Timeout },
		Disable: func(s *Spec) { s.Integration = nil },
		When:    func(s *Spec) *Rule { return s.Integration.When }},
	{Name: PhaseChaos,
		Needs:   []Need{{PhaseDeploy, "chaos experiments run against the test environment deploy makes"}},
		Enabled: func(s *Spec) bool { return s.Chaos != nil },
		Timeout: func(s *Spec) Duration { return s.Chaos.Timeout },
		Disable: func(s *Spec) { s.Chaos = nil },
		When:    func(s *Spec) *Rule { return s.Chaos.When }},
	{Name: PhasePromote,
		Needs:   []Need{{PhaseBake, "promote tags the image bake produced"}},
		Enabled: func(s *Spec) bool { return s.Promote != nil },
		Timeout: func(s *Spec) Duration { return s.Promote.Timeout },
		Disable: func(s *Spec) { s.Promote = nil },
		When:    func(s *Spec) *Rule { return s.Promote.When }},
	{Name: PhaseApproval,
		Enabled: func(s *Spec) bool { return s.Approval != nil },
		Timeout: func(s *Spec) Duration { return s.Approval.Timeout },
		Disable: func(s *Spec) { s.Approval = nil },
		When:    func(s *Spec) *Rule { return s.Approval.When }},
	{Name: PhaseProduction,
		Needs:   []Need{{PhaseBake, "production releases the image bake produced"}},
		Enabled: func(s *Spec) bool { return s.Production != nil },
		Timeout: func(s *Spec) Duration { return s.Production.Timeout },
		Disable: func(s *Spec) { s.Production = nil },
		When:    func(s *Spec) *Rule { return s.Production.When }},
}

// PhaseOrder lists every phase name in run order.
var PhaseOrder = func() []string {
	names := make([]string, len(Phases))
	for i, p := range Phases {
		names[i] = p.Name
	}
	return names
}()

// PhaseNamed returns the named phase, or nil.
func PhaseNamed(name string) *Phase {
	if i := slices.Index(PhaseOrder, name); i >= 0 {
		return &Phases[i]
	}
	return nil
}

// Enabled reports whether the spec defines the named phase.
func (s *Spec) Enabled(phase string) bool {
	p := PhaseNamed(phase)
	return p != nil && p.Enabled(s)
}

// Disable removes the named phase from the spec.
func (s *Spec) Disable(phase string) {
	if p := PhaseNamed(phase); p != nil {
		p.Disable(s)
	}
}

// Timeout returns the time limit of an enabled phase (after defaults).
func (s *Spec) Timeout(phase string) Duration {
	if p := PhaseNamed(phase); p != nil && p.Enabled(s) {
		return p.Timeout(s)
	}
	return 0
}

// Pool is the warm pool build and test run in, or "" for the worker's own
// executor.
func (s *Spec) Pool() string {
	if s.Build == nil {
		return ""
	}
	return s.Build.Pool
}

// PoolRef is a pool a spec names, and where.
type PoolRef struct{ Key, Name string }

// Pools is every pool the spec names: build.pool and each job's.
func (s *Spec) Pools() []PoolRef {
	var out []PoolRef
	if s.Build != nil && s.Build.Pool != "" {
		out = append(out, PoolRef{"build.pool", s.Build.Pool})
	}
	for _, phase := range []string{PhaseBuild, PhaseTest} {
		jobs := s.JobsOf(phase)
		for _, name := range jobs.Names() {
			if j := jobs[name]; j != nil && j.Pool != "" {
				out = append(out, PoolRef{phase + ".jobs." + name + ".pool", j.Pool})
			}
		}
	}
	return out
}

// JobsOf is the jobs of phase (build or test); nil when it has none.
func (s *Spec) JobsOf(phase string) Jobs {
	switch {
	case phase == PhaseBuild && s.Build != nil:
		return s.Build.Jobs
	case phase == PhaseTest && s.Test != nil:
		return s.Test.Jobs
	}
	return nil
}
