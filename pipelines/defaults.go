package pipelines

import "time"

// Defaults applied to every spec. This is the one place they are defined; the
// README's spec reference lists the same values.
const (
	DefaultConcurrency        = CancelPrevious
	DefaultBuildTimeout       = Duration(30 * time.Minute)
	DefaultTestTimeout        = Duration(30 * time.Minute)
	DefaultBakeTimeout        = Duration(30 * time.Minute)
	DefaultDeployTimeout      = Duration(10 * time.Minute)
	DefaultIntegrationTimeout = Duration(30 * time.Minute)
	DefaultChaosTimeout       = Duration(30 * time.Minute)
	DefaultPromoteTimeout     = Duration(2 * time.Minute)
	// DefaultMaxSeverity is the worst vulnerability promote.scan passes.
	DefaultMaxSeverity       = "medium"
	DefaultApprovalTimeout   = Duration(72 * time.Hour)
	DefaultReminder          = Duration(24 * time.Hour)
	DefaultMaxReminders      = 3
	DefaultRequiredApprovals = 1
	DefaultProductionTimeout = Duration(30 * time.Minute)
	DefaultVerifyTimeout     = Duration(5 * time.Minute)
	DefaultGrace             = Duration(30 * time.Second)
	DefaultDockerfile        = "Dockerfile"
	DefaultContext           = "."
	DefaultAvailableTag      = "available"
	DefaultDeployEnvironment = "test"
	DefaultStrategy          = Rolling
	DefaultTestEnvTTL        = Duration(2 * time.Hour)
)

func orDuration(d *Duration, def Duration) {
	if *d == 0 {
		*d = def
	}
}

func orString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// applyDefaults fills every unset field that has a default. name is used
// when the spec does not name itself.
func applyDefaults(s *Spec, name string) {
	orString(&s.Name, name)
	orString(&s.Concurrency, DefaultConcurrency)
	for name, in := range s.Input {
		orString(&in.Type, InputString)
		s.Input[name] = in
	}
	if b := s.Build; b != nil {
		orDuration(&b.Timeout, DefaultBuildTimeout)
	}
	if t := s.Test; t != nil {
		orDuration(&t.Timeout, DefaultTestTimeout)
	}
	if b := s.Bake; b != nil {
		orDuration(&b.Timeout, DefaultBakeTimeout)
		orString(&b.Dockerfile, DefaultDockerfile)
		orString(&b.Context, DefaultContext)
	}
	if d := s.Deploy; d != nil {
		orDuration(&d.Timeout, DefaultDeployTimeout)
		orString(&d.Environment, DefaultDeployEnvironment)
		if d.Environment == "test" && s.Environments.Test == nil {
			s.Environments.Test = &TestEnvironment{}
		}
	}
	if t := s.Environments.Test; t != nil {
		orDuration(&t.TTL, DefaultTestEnvTTL)
	}
	if p := s.Environments.Production; p != nil {
		orString(&p.Strategy, DefaultStrategy)
	}
	if s := s.Environments.Staging; s != nil {
		orString(&s.Strategy, DefaultStrategy)
	}
	if c := s.Chaos; c != nil {
		orDuration(&c.Timeout, DefaultChaosTimeout)
	}
	if i := s.Integration; i != nil {
		orDuration(&i.Timeout, DefaultIntegrationTimeout)
	}
	if p := s.Promote; p != nil {
		orDuration(&p.Timeout, DefaultPromoteTimeout)
		orString(&p.Tag, DefaultAvailableTag)
		if p.Scan != nil {
			orString(&p.Scan.MaxSeverity, DefaultMaxSeverity)
		}
	}
	if a := s.Approval; a != nil {
		a.WithDefaults()
	}
	if p := s.Production; p != nil {
		orDuration(&p.Timeout, DefaultProductionTimeout)
		if s.Environments.Production != nil && s.Environments.Production.Strategy == BlueGreen {
			orDuration(&p.Grace, DefaultGrace)
		}
		if a := p.Analysis; a != nil {
			a.WithDefaults()
		}
		if p.Verify != nil {
			orDuration(&p.Verify.Timeout, DefaultVerifyTimeout)
			if p.Verify.Image == "" && s.Integration != nil {
				p.Verify.Image = s.Integration.Image
			}
		}
	}
}

// WithDefaults fills in what the approval does not say: timeout, reminders,
// one approval.
func (a *ApprovalPhase) WithDefaults() {
	orDuration(&a.Timeout, DefaultApprovalTimeout)
	orDuration(&a.Reminder, DefaultReminder)
	if a.MaxReminders == 0 {
		a.MaxReminders = DefaultMaxReminders
	}
	if a.Required == 0 {
		a.Required = DefaultRequiredApprovals
	}
}
