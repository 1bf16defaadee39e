package pipelines

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Job is one named unit of test's work: its own commands in its own
// workspace (a fresh checkout, a pod of its own when the pool is one),
// started as soon as the jobs it needs have passed, beside every other job
// that is ready.
type Job struct {
	Extends   []string          `yaml:"extends" json:"extends,omitempty" doc:"Templates (the spec's templates:) merged beneath this job in order, its own keys last: maps merge, anything else is replaced."`
	Commands  []string          `yaml:"commands" json:"commands,omitempty" doc:"Shell commands run in order in the job's own checkout; the first failure fails the job. Required, from the job or a template it extends."`
	Needs     []string          `yaml:"needs" json:"needs,omitempty" doc:"Jobs of the same phase that must pass before this one starts; a job whose need failed is skipped."`
	Pool      string            `yaml:"pool" json:"pool,omitempty" doc:"Warm pool to run the job in; default build.pool (or the worker's own executor)."`
	Env       map[string]string `yaml:"env" json:"env,omitempty" doc:"Environment variables for the job's commands, over the phase's env."`
	Matrix    *Matrix           `yaml:"matrix" json:"matrix,omitempty" doc:"Run the job once for every combination of the axes' values (a cell), each cell in its own workspace; each cell's values are in MATRIX_<AXIS>."`
	When      *Rule             `yaml:"when" json:"when,omitempty" doc:"Run the job only when this rule holds for the run (branches, tags, events, paths); otherwise it is skipped, and so is every job that needs it."`
	Artifacts []string          `yaml:"artifacts" json:"artifacts,omitempty" doc:"Files or directories (relative to the workspace) the commands produce, kept once they pass: unpacked at the same paths into the checkouts of the jobs that need this one, and into bake's context. Kept in the worker's registry (--registry). A matrix's cells should write paths of their own (dist/$MATRIX_ARCH/)."`
	Services  []Service         `yaml:"services" json:"services,omitempty" doc:"Dependencies (a database, a queue) started beside the job's pod before its commands, which reach each at $<NAME>_HOST:$<NAME>_PORT; gone with the pod. The job needs a pool."`
	Cache     *Cache            `yaml:"cache" json:"cache,omitempty" doc:"Directories kept from one run of the job to the next, keyed by the content of files (lockfiles): a hit restores them before the commands, a miss saves them after the commands passed."`
	JUnit     string            `yaml:"junit" json:"junit,omitempty" doc:"Path of a JUnit XML report the commands write, for the summary."`
	Timeout   Duration          `yaml:"timeout" json:"timeout,omitempty" doc:"Time limit for each of the job's cells; default the phase's timeout."`
}

// Cache is what a job keeps between runs: paths in its workspace, under a
// key made of the content of the key files, the pipeline, the branch and
// the cell. It is kept in the worker's registry (--registry) as an OCI
// artifact; a worker without one runs the job without a cache.
type Cache struct {
	Key   []string `yaml:"key" json:"key" doc:"Files (go.sum, package-lock.json) whose content is the cache's key: a change to any of them is a new cache." required:"true"`
	Paths []string `yaml:"paths" json:"paths" doc:"Directories or files, relative to the workspace, restored on a hit and saved after a miss." required:"true"`
}

// Bounds of a job's cache.
const maxCacheEntries = 8

var cachePath = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._/-]*$`)

// Matrix is a cross product of named axes, less the combinations exclude
// names, plus the ones include adds.
type Matrix struct {
	Axes    map[string][]string `yaml:"axes" json:"axes" doc:"Axis name (lower case: go, arch) to its values; the job runs for every combination." required:"true"`
	Exclude []map[string]string `yaml:"exclude" json:"exclude,omitempty" doc:"Combinations not to run: each removes the cells that have all of its values."`
	Include []map[string]string `yaml:"include" json:"include,omitempty" doc:"Extra cells, each with a value for every axis, run beside the product."`
}

// Bounds of a phase's jobs: every cell is an activity and a pod.
const (
	MaxJobs  = 16
	MaxCells = 32
)

var (
	jobName  = pipelineKey
	axisName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,29}$`)
)

// Cell is one run of a job: the job itself, or one combination of its
// matrix.
type Cell struct {
	Job string `json:"job"`
	// Values are the matrix's values for this cell (nil: no matrix).
	Values map[string]string `json:"values,omitempty"`
	// Index is the cell's place among its job's cells.
	Index int `json:"index"`
}

// Name is how people see the cell, and what a retry knows it by:
// "unit", or "unit (arch=arm64, go=1.26)".
func (c Cell) Name() string {
	if len(c.Values) == 0 {
		return c.Job
	}
	parts := make([]string, 0, len(c.Values))
	for _, k := range slices.Sorted(maps.Keys(c.Values)) {
		parts = append(parts, k+"="+c.Values[k])
	}
	return c.Job + " (" + strings.Join(parts, ", ") + ")"
}

// Key is the cell's name made safe for workspace directories and pod
// claims: "unit" or "unit-3".
func (c Cell) Key() string {
	if len(c.Values) == 0 {
		return c.Job
	}
	return fmt.Sprintf("%s-%d", c.Job, c.Index)
}

// MatrixEnv is the environment variable a cell's step reads axis from.
func MatrixEnv(axis string) string { return "MATRIX_" + strings.ToUpper(axis) }

// Env is the cell's matrix values as environment variables.
func (c Cell) Env() map[string]string {
	out := make(map[string]string, len(c.Values))
	for k, v := range c.Values {
		out[MatrixEnv(k)] = v
	}
	return out
}

// Jobs are a phase's named jobs (build.jobs, test.jobs).
type Jobs map[string]*Job

// FailsFast tells whether a failed cell cancels the others (the default).
func FailsFast(failFast *bool) bool { return failFast == nil || *failFast }

// Names is the jobs' names in order.
func (js Jobs) Names() []string { return slices.Sorted(maps.Keys(js)) }

// Cells is every cell of the jobs, in job-name order and, within a job, in
// the matrix's order (axes by name, values as written, then the includes).
func (js Jobs) Cells() []Cell {
	var out []Cell
	for _, name := range js.Names() {
		for i, values := range js[name].Matrix.combinations() {
			out = append(out, Cell{Job: name, Values: values, Index: i})
		}
	}
	return out
}

// applyRules removes every job of phase whose `when` does not hold for f,
// and every job that needs a removed one, and says why for each.
func (js Jobs) applyRules(phase string, f Facts) []Skip {
	var out []Skip
	for _, name := range js.Names() {
		if ok, why := js[name].When.Match(f); !ok {
			out = append(out, Skip{Phase: phase, Job: name, Rule: phase + ".jobs." + name + ".when: " + why})
			delete(js, name)
		}
	}
	for removed := len(out) > 0; removed; {
		removed = false
		for _, name := range js.Names() {
			for _, n := range js[name].Needs {
				if _, ok := js[n]; !ok {
					out = append(out, Skip{Phase: phase, Job: name, Rule: "needs job " + n + ", which its rule skips"})
					delete(js, name)
					removed = true
					break
				}
			}
		}
	}
	return out
}

// combinations expands the matrix; nil m is one combination of no values.
func (m *Matrix) combinations() []map[string]string {
	if m == nil {
		return []map[string]string{nil}
	}
	product := []map[string]string{{}}
	for _, axis := range slices.Sorted(maps.Keys(m.Axes)) {
		var next []map[string]string
		for _, partial := range product {
			for _, v := range m.Axes[axis] {
				c := maps.Clone(partial)
				c[axis] = v
				next = append(next, c)
			}
		}
		product = next
	}
	out := product[:0]
	for _, c := range product {
		if !slices.ContainsFunc(m.Exclude, func(ex map[string]string) bool { return subset(ex, c) }) {
			out = append(out, c)
		}
	}
	for _, inc := range m.Include {
		if !slices.ContainsFunc(out, func(c map[string]string) bool { return maps.Equal(c, inc) }) {
			out = append(out, maps.Clone(inc))
		}
	}
	return out
}

func subset(small, big map[string]string) bool {
	for k, v := range small {
		if big[k] != v {
			return false
		}
	}
	return len(small) > 0
}

// jobs checks a phase's commands or jobs: names, needs (known, no
// cycle), commands, matrices and the bound on cells.
func (v *validator) jobs(phase string, commands []string, jobs Jobs, failFast *bool) {
	if len(jobs) > 0 && len(commands) > 0 {
		v.errf(phase+".jobs", "move "+phase+".commands into a job (jobs: {unit: {commands: [...]}}), or drop jobs", "%s has both commands and jobs", phase)
	}
	if len(jobs) == 0 {
		v.commands(phase+".commands", commands)
		if failFast != nil {
			v.errf(phase+".fail-fast", "drop it, or write "+phase+"'s work as jobs", "fail-fast is about jobs, and %s has none", phase)
		}
		return
	}
	if len(jobs) > MaxJobs {
		v.errf(phase+".jobs", "merge jobs, or split the pipeline (.sluice/*.yml)", "%d jobs; at most %d", len(jobs), MaxJobs)
	}
	cells := 0
	for _, name := range jobs.Names() {
		j, p := jobs[name], phase+".jobs."+name
		if j == nil {
			v.errf(p, "give the job commands", "job %s is empty", name)
			continue
		}
		if !jobName.MatchString(name) {
			v.errf(p, "lower-case letters, digits and -, at most 40", "bad job name %q", name)
		}
		v.commands(p+".commands", j.Commands)
		v.env(p+".env", j.Env)
		v.positive(p+".timeout", j.Timeout)
		for i, n := range j.Needs {
			np := fmt.Sprintf("%s.needs[%d]", p, i)
			switch _, ok := jobs[n]; {
			case n == name:
				v.errf(np, "remove it", "job %s needs itself", name)
			case !ok:
				v.errf(np, "the jobs are "+strings.Join(jobs.Names(), ", "), "job %s needs %q, which is not a job of %s", name, n, phase)
			}
		}
		if j.Matrix != nil {
			v.matrix(p+".matrix", j.Matrix)
		}
		if j.Cache != nil {
			v.cache(p+".cache", j.Cache)
		}
		v.rule(p+".when", j.When, Events)
		v.paths(p+".artifacts", j.Artifacts)
		v.services(p+".services", j.Services)
		cells += len(j.Matrix.combinations())
	}
	if cells > MaxCells {
		v.errf(phase+".jobs", fmt.Sprintf("every cell is a workspace and a pod: at most %d; exclude combinations or drop an axis", MaxCells),
			"%s's jobs expand to %d cells", phase, cells)
	}
	if cycle := needsCycle(jobs); cycle != nil {
		v.errf(phase+".jobs."+cycle[0]+".needs", "a job cannot wait for itself, even through others: drop one of these needs",
			"jobs need each other in a cycle: %s", strings.Join(cycle, " → "))
	}
}

// templates checks the names of the spec's templates; what they hold is
// checked in the jobs that extend them.
func (v *validator) templates(s *Spec) {
	for name := range s.Templates {
		if !jobName.MatchString(name) {
			v.errf("templates."+name, "lower-case letters, digits and -, at most 40", "bad template name %q", name)
		}
	}
}

func (v *validator) matrix(p string, m *Matrix) {
	if len(m.Axes) == 0 {
		v.errf(p+".axes", "name at least one axis with its values, like `axes: {go: [\"1.25\", \"1.26\"]}`", "a matrix needs axes")
	}
	for axis, values := range m.Axes {
		ap := p + ".axes." + axis
		if !axisName.MatchString(axis) {
			v.errf(ap, "lower-case letters, digits and _, starting with a letter (steps read MATRIX_"+strings.ToUpper(axis)+")", "bad axis name %q", axis)
		}
		if len(values) == 0 {
			v.errf(ap, "list its values", "axis %s has no values", axis)
		}
		for i, val := range values {
			if val == "" || len(val) > 128 || strings.ContainsAny(val, "\x00\n") {
				v.errf(fmt.Sprintf("%s[%d]", ap, i), "a value is one line of at most 128 bytes", "bad value for axis %s", axis)
			}
		}
	}
	check := func(kind string, list []map[string]string, whole bool) {
		for i, c := range list {
			cp := fmt.Sprintf("%s.%s[%d]", p, kind, i)
			for k := range c {
				if _, ok := m.Axes[k]; !ok {
					v.errf(cp+"."+k, "the axes are "+strings.Join(slices.Sorted(maps.Keys(m.Axes)), ", "), "%s names axis %q, which the matrix does not have", kind, k)
				}
			}
			if len(c) == 0 || whole && len(c) != len(m.Axes) {
				v.errf(cp, "give a value for every axis", "an %s entry names %d of the %d axes", kind, len(c), len(m.Axes))
			}
		}
	}
	check("exclude", m.Exclude, false)
	check("include", m.Include, true)
}

func (v *validator) cache(p string, c *Cache) {
	for _, list := range []struct {
		key   string
		paths []string
	}{{"key", c.Key}, {"paths", c.Paths}} {
		if len(list.paths) == 0 {
			v.errf(p+"."+list.key, "list at least one, like `key: [go.sum]` and `paths: [.cache/go-build]`", "cache needs %s", list.key)
		}
		v.paths(p+"."+list.key, list.paths)
	}
}

// paths checks a list of workspace paths a job keeps (cache, artifacts).
func (v *validator) paths(p string, paths []string) {
	if len(paths) > maxCacheEntries {
		v.errf(p, "name fewer, or a directory holding them", "at most %d paths", maxCacheEntries)
	}
	for i, f := range paths {
		if clean := path.Clean(f); !cachePath.MatchString(f) || clean != strings.TrimSuffix(f, "/") || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
			v.errf(fmt.Sprintf("%s[%d]", p, i), "a plain path inside the workspace: letters, digits, . _ - and /, no .. and no leading /", "bad path %q", f)
		}
	}
}

// needsCycle is a cycle of needs as job names (first repeated at the end),
// or nil.
func needsCycle(jobs Jobs) []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		state[n] = open
		stack = append(stack, n)
		if j := jobs[n]; j != nil {
			for _, m := range j.Needs {
				if _, ok := jobs[m]; !ok || m == n {
					continue // reported on its own
				}
				switch state[m] {
				case open:
					i := slices.Index(stack, m)
					return append(slices.Clone(stack[i:]), m)
				case unseen:
					if c := visit(m); c != nil {
						return c
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(jobs)) {
		if state[n] == unseen {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}
