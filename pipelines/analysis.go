package pipelines

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Analysis judges a release by its metrics: every Interval, each metric's
// PromQL query is evaluated against the environment's Prometheus (the
// server's prometheus.url) and its value held to the metric's success
// condition. More than FailureLimit failed measurements of a metric abort
// the release (traffic goes back to what was live); more than
// InconclusiveLimit inconclusive ones (no data, too few samples,
// Prometheus unreachable) ask people to decide, as the approval does.
type Analysis struct {
	Delay             Duration `yaml:"delay" json:"delay,omitempty" doc:"Wait this long after traffic moves before the first measurement (Prometheus must scrape the new pods first)."`
	Interval          Duration `yaml:"interval" json:"interval,omitempty" doc:"Time between measurements (default 10s)."`
	Count             int      `yaml:"count" json:"count,omitempty" doc:"Measurements taken (default 6); the analysis passes when all are taken within the limits."`
	FailureLimit      int      `yaml:"failure-limit" json:"failure-limit,omitempty" doc:"Failed measurements of a metric tolerated; one more aborts the release (default 0)."`
	InconclusiveLimit int      `yaml:"inconclusive-limit" json:"inconclusive-limit,omitempty" doc:"Inconclusive measurements of a metric tolerated (no data, too few samples, Prometheus unreachable); one more waits for a decision by the approvers (default 0). Missing data never passes."`
	Metrics           []Metric `yaml:"metrics" json:"metrics" doc:"What is measured. A query may use {{namespace}}, {{pods}} (a regular expression matching the new release's pods), {{color}} and {{release}}." required:"true"`
}

// Metric is one PromQL query and the condition its value must meet.
type Metric struct {
	Name       string `yaml:"name" json:"name" doc:"Name of the metric in logs and records." required:"true"`
	Query      string `yaml:"query" json:"query" doc:"PromQL instant query; its single value is the measurement. An empty result or NaN (0/0: no traffic) is inconclusive." required:"true"`
	Success    string `yaml:"success" json:"success" doc:"Condition the value must meet: an operator (<, <=, >, >=, ==, !=) and a number, like \"< 0.05\"." required:"true"`
	Samples    string `yaml:"samples" json:"samples,omitempty" doc:"PromQL query counting the data behind a measurement (requests in the window, say); fewer than min-samples makes the measurement inconclusive."`
	MinSamples int    `yaml:"min-samples" json:"min-samples,omitempty" doc:"Least value of samples for a measurement to count (default 1 when samples is set)."`
}

// Analysis defaults and bounds.
const (
	DefaultAnalysisInterval = Duration(10e9)
	DefaultAnalysisCount    = 6
	MaxAnalysisCount        = 500
	MaxAnalysisMetrics      = 10
	// MaxMeasurements bounds count × metrics: each value is kept in the
	// run's state and records.
	MaxMeasurements = 500
)

// WithDefaults fills the analysis's unset fields.
func (a *Analysis) WithDefaults() {
	orDuration(&a.Interval, DefaultAnalysisInterval)
	if a.Count == 0 {
		a.Count = DefaultAnalysisCount
	}
	for i := range a.Metrics {
		if m := &a.Metrics[i]; m.Samples != "" && m.MinSamples == 0 {
			m.MinSamples = 1
		}
	}
}

// CheckAnalysis says what is wrong with an analysis written outside a
// spec (the server's policy), each problem prefixed by at.
func CheckAnalysis(at string, a *Analysis) []string {
	v := &validator{d: &decoder{pos: map[string]*yaml.Node{}}}
	v.analysis(at, a)
	var out []string
	for _, p := range v.d.problems {
		out = append(out, p.Path+": "+p.Message+" ("+p.Hint+")")
	}
	return out
}

// Duration is how long the analysis takes when it runs to the end.
func (a *Analysis) Duration() Duration {
	return a.Delay + Duration(a.Count)*a.Interval
}

// Condition is a parsed success condition: Value Op Threshold.
type Condition struct {
	Op        string
	Threshold float64
}

var conditionSyntax = regexp.MustCompile(`^\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$`)

// ParseCondition reads "< 0.05".
func ParseCondition(s string) (Condition, error) {
	m := conditionSyntax.FindStringSubmatch(s)
	if m == nil {
		return Condition{}, fmt.Errorf("%q is not an operator (<, <=, >, >=, ==, !=) and a number", s)
	}
	f, err := strconv.ParseFloat(m[2], 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return Condition{}, fmt.Errorf("%q: %q is not a finite number", s, m[2])
	}
	return Condition{Op: m[1], Threshold: f}, nil
}

// Holds reports whether value meets the condition.
func (c Condition) Holds(value float64) bool {
	switch c.Op {
	case "<":
		return value < c.Threshold
	case "<=":
		return value <= c.Threshold
	case ">":
		return value > c.Threshold
	case ">=":
		return value >= c.Threshold
	case "==":
		return value == c.Threshold
	case "!=":
		return value != c.Threshold
	}
	return false
}

func (c Condition) String() string { return c.Op + " " + strconv.FormatFloat(c.Threshold, 'g', -1, 64) }

// AnalysisVars are the placeholders a query may use.
var AnalysisVars = []string{"namespace", "pods", "color", "release"}

var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// ExpandQuery fills a query's placeholders from vars.
func ExpandQuery(q string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(q, func(m string) string {
		return vars[strings.TrimSpace(placeholder.FindStringSubmatch(m)[1])]
	})
}

func (v *validator) analysis(at string, a *Analysis) {
	v.positive(at+".interval", a.Interval)
	if a.Delay < 0 {
		v.errf(at+".delay", "give a duration like 15s, or leave it out", "%s.delay is negative", at)
	}
	if a.Count < 1 || a.Count > MaxAnalysisCount {
		v.errf(at+".count", fmt.Sprintf("take between 1 and %d measurements", MaxAnalysisCount), "%s.count %d is out of range", at, a.Count)
	}
	for _, l := range []struct {
		key string
		n   int
	}{{"failure-limit", a.FailureLimit}, {"inconclusive-limit", a.InconclusiveLimit}} {
		if l.n < 0 || (a.Count >= 1 && l.n >= a.Count) {
			v.errf(at+"."+l.key, fmt.Sprintf("give a number from 0 to count-1 (%d): at the limit no measurement could judge", a.Count-1), "%s.%s %d is out of range", at, l.key, l.n)
		}
	}
	if len(a.Metrics) == 0 {
		v.errf(at+".metrics", "give at least one metric: a name, a PromQL query and a success condition", "%s needs metrics", at)
	}
	if len(a.Metrics) > MaxAnalysisMetrics {
		v.errf(at+".metrics", fmt.Sprintf("give at most %d metrics", MaxAnalysisMetrics), "%s has %d metrics", at, len(a.Metrics))
	}
	if n := a.Count * len(a.Metrics); n > MaxMeasurements {
		v.errf(at+".count", fmt.Sprintf("take fewer rounds or measure fewer metrics: every value is kept, at most %d", MaxMeasurements), "%s would take %d measurements", at, n)
	}
	seen := map[string]bool{}
	for i, m := range a.Metrics {
		p := fmt.Sprintf("%s.metrics[%d]", at, i)
		switch {
		case !dnsLabel.MatchString(m.Name):
			v.errf(p+".name", "use lower-case letters, digits and dashes (error-rate)", "metric name %q is not a name", m.Name)
		case seen[m.Name]:
			v.errf(p+".name", "give each metric its own name", "metric %q is named twice", m.Name)
		}
		seen[m.Name] = true
		for _, kq := range [][2]string{{"query", m.Query}, {"samples", m.Samples}} {
			key, q := kq[0], kq[1]
			if key == "query" && strings.TrimSpace(q) == "" {
				v.errf(p+".query", "give a PromQL query whose value is the measurement", "metric %q has no query", m.Name)
			}
			for _, ph := range placeholder.FindAllStringSubmatch(q, -1) {
				name := strings.TrimSpace(ph[1])
				if !slices.Contains(AnalysisVars, name) {
					v.errf(p+"."+key, "use one of {{"+strings.Join(AnalysisVars, "}}, {{")+"}}", "unknown placeholder {{%s}}", name)
				}
			}
		}
		if _, err := ParseCondition(m.Success); err != nil {
			v.errf(p+".success", `write it like "< 0.05" (the value must be below 0.05)`, "success %v", err)
		}
		if m.MinSamples < 0 || (m.MinSamples > 0 && m.Samples == "") {
			v.errf(p+".min-samples", "give samples, a PromQL query counting the data, and a positive min-samples", "min-samples needs a samples query and a positive value")
		}
	}
}

// CanarySteps are a canary release's steps, in order; after the last the
// canary is promoted.
type CanarySteps struct {
	Steps []CanaryStep `yaml:"steps" json:"steps" doc:"In order: each sets the canary's share of the pods, then holds it (pause), judges it (analysis) and asks people (approve), as it says." required:"true"`
}

// CanaryStep is one weight of a canary and what happens at it.
type CanaryStep struct {
	Weight   int      `yaml:"weight" json:"weight" doc:"Percent of each Deployment's pods the canary runs (1-99, rising from step to step); the stable Deployment runs the rest behind the same Services." required:"true"`
	Pause    Duration `yaml:"pause" json:"pause,omitempty" doc:"Hold this weight this long (a durable timer)."`
	Analysis bool     `yaml:"analysis" json:"analysis,omitempty" doc:"Judge the canary at this weight with production.analysis; failed aborts the release, inconclusive asks the approvers."`
	Approve  bool     `yaml:"approve" json:"approve,omitempty" doc:"Wait for the approval phase's approvers to let the canary go on (a pause without a duration)."`
}

// MaxCanarySteps bounds a canary's steps.
const MaxCanarySteps = 20

func (v *validator) canary(s *Spec, p *ProductionPhase) {
	env := s.Environments.Production
	isCanary := env != nil && env.Strategy == Canary
	switch {
	case isCanary && (p.Canary == nil || len(p.Canary.Steps) == 0):
		v.errf("production.canary", "give production.canary.steps, like [{weight: 25, analysis: true}, {weight: 50, pause: 5m}]", "strategy canary needs steps")
		return
	case !isCanary && p.Canary != nil:
		v.errf("production.canary", "set environments.production.strategy: canary, or drop production.canary", "production.canary needs strategy canary")
		return
	case p.Canary == nil:
		return
	}
	if len(p.Canary.Steps) > MaxCanarySteps {
		v.errf("production.canary.steps", fmt.Sprintf("give at most %d steps", MaxCanarySteps), "%d canary steps", len(p.Canary.Steps))
	}
	if a := p.Analysis; a != nil {
		n := 0
		for _, st := range p.Canary.Steps {
			if st.Analysis {
				n++
			}
		}
		if total := n * a.Count * len(a.Metrics); total > MaxMeasurements {
			v.errf("production.canary.steps", fmt.Sprintf("analyse at fewer steps or take fewer rounds: every value is kept, at most %d", MaxMeasurements), "the canary's analyses would take %d measurements", total)
		}
	}
	last := 0
	for i, st := range p.Canary.Steps {
		at := fmt.Sprintf("production.canary.steps[%d]", i)
		switch {
		case st.Weight < 1 || st.Weight > 99:
			v.errf(at+".weight", "a percentage from 1 to 99: after the last step the canary is promoted to all of the traffic", "canary weight %d is out of range", st.Weight)
		case st.Weight <= last:
			v.errf(at+".weight", fmt.Sprintf("each step's weight is above the one before (%d)", last), "canary weight %d does not rise", st.Weight)
		}
		last = st.Weight
		v.positive(at+".pause", st.Pause)
		if st.Analysis && p.Analysis == nil {
			v.errf(at+".analysis", "define production.analysis: the metrics that judge the canary", "the step's analysis needs production.analysis")
		}
		if st.Approve && s.Approval == nil {
			v.errf(at+".approve", "add an approval phase: its approvers decide", "the step's approve needs an approval phase")
		}
	}
}
