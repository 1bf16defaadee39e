package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// statusJSON is `status --output json`: stable keys for scripts.
type statusJSON struct {
	RunID    string                   `json:"run_id"`
	State    string                   `json:"state"`
	Phase    string                   `json:"phase"`
	Repo     string                   `json:"repo"`
	Branch   string                   `json:"branch"`
	Commit   string                   `json:"commit"`
	Phases   []workflows.PhaseState   `json:"phases"`
	Outputs  workflows.Outputs        `json:"outputs"`
	Approval *workflows.ApprovalState `json:"approval,omitempty"`
	Error    string                   `json:"error,omitempty"`
	// Queued says where the run waits for its project's quota.
	Queued string `json:"queued,omitempty"`
	// Frozen says until when production waits for its freeze windows.
	Frozen string `json:"frozen,omitempty"`
	// FreezeOverride is who released production from its freeze, and why.
	FreezeOverride *workflows.FreezeOverride `json:"freeze_override,omitempty"`
	UI             string                    `json:"ui"`
	// Policy is what the server's policy decided: project, withheld
	// phases, guards.
	Policy *contract.Governance `json:"policy,omitempty"`
	// Pipeline is the .sluice/ pipeline of the run ("" for .sluice.yml).
	Pipeline string `json:"pipeline,omitempty"`
	// Tag is the tag of a tag's run; Event what started the run.
	Tag   string `json:"tag,omitempty"`
	Event string `json:"event,omitempty"`
	// Inputs are the run's input values.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Skipped are the phases the spec's rules skipped, with the rule.
	Skipped []pipelines.Skip `json:"skipped,omitempty"`
	// Jobs are the cells of test's jobs.
	Jobs []workflows.JobState `json:"jobs,omitempty"`
}

func newStatusCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "status RUN",
		Short: "Show a run's state, phases with durations, and pending approval",
		Args:  cobra.ExactArgs(1),
		RunE: g.withRef(func(ctx context.Context, ref runs.Ref) error {
			if workflows.IsRollbackID(ref.WorkflowID) {
				return g.rollbackStatus(ctx, ref)
			}
			if wait {
				return g.watch(ctx, ref)
			}
			ref, st, err := g.runStatus(ctx, ref)
			if err != nil {
				return err
			}
			return g.printStatus(ref, st)
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the run until it finishes; exit 1 unless it succeeds")
	return cmd
}

func (g *globals) printStatus(ref runs.Ref, st workflows.RunState) error {
	if g.output == "json" {
		return printJSON(g.stdout, statusJSON{
			RunID: ref.String(), State: st.State, Phase: st.Phase, Repo: st.Request.Push.Repo,
			Branch: st.Request.Push.Branch, Commit: st.Request.Push.Commit, Phases: st.Phases,
			Outputs: st.Outputs, Approval: st.Approval, Error: st.Error, Queued: st.Queued, Frozen: st.Frozen, FreezeOverride: st.FreezeOverride, UI: g.uiLink(ref), Policy: st.Request.Policy,
			Tag: st.Request.Push.Tag, Event: st.Request.Push.Event, Skipped: st.Request.Skipped, Pipeline: st.Request.Push.Pipeline, Inputs: st.Request.Push.Inputs, Jobs: st.Jobs,
		})
	}
	w := g.stdout
	p := st.Request.Push
	fmt.Fprintf(w, "run     %s\nstate   %s", ref, st.State)
	if st.Phase != "" {
		fmt.Fprintf(w, " (phase %s)", st.Phase)
	}
	on := p.Branch
	if p.Tag != "" {
		on = "tag " + p.Tag
	}
	if p.Pipeline != "" {
		on += " (pipeline " + p.Pipeline + ")"
	}
	fmt.Fprintf(w, "\ncommit  %s on %s by %s\nui      %s\n", short(p.Commit), on, p.Author, g.uiLink(ref))
	if in := p.Inputs; len(in) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(in)) {
			kv = append(kv, k+"="+in[k])
		}
		fmt.Fprintf(w, "inputs  %s\n", strings.Join(kv, " "))
	}
	if st.Error != "" {
		fmt.Fprintf(w, "error   %s\n", st.Error)
	}
	if st.Queued != "" {
		fmt.Fprintf(w, "%s\n", st.Queued)
	}
	if st.Frozen != "" {
		fmt.Fprintf(w, "production %s\n", st.Frozen)
	}
	if o := st.FreezeOverride; o != nil {
		fmt.Fprintf(w, "production released from its freeze (until %s) by %s: %s\n", o.Until, o.User, o.Reason)
	}
	now := time.Now()
	for _, ph := range st.Phases {
		fmt.Fprintf(w, "  %s %-12s %s\n", mark(ph.Status), ph.Name, phaseDetail(ph, now))
		for _, j := range st.Jobs {
			if j.Phase == ph.Name {
				fmt.Fprintf(w, "      %s %s  %s\n", mark(j.Status), j.Name, jobDetail(j, now))
			}
		}
	}
	if pol := st.Request.Policy; pol != nil {
		for _, wh := range pol.Withheld {
			fmt.Fprintf(w, "  - %-12s withheld: %s\n", wh.Phase, wh.Reason)
		}
	}
	for _, k := range st.Request.Skipped {
		fmt.Fprintf(w, "  - %-12s skipped (rule: %s)\n", k.What(), k.Rule)
	}
	if c := st.Outputs.Canary; c != "" {
		fmt.Fprintf(w, "canary: %s\n", c)
	}
	if an := st.Outputs.Analysis; an != nil {
		verdict := an.Verdict
		if verdict == "" {
			verdict = "measuring"
		}
		fmt.Fprintf(w, "analysis of release v%d: %s after %d round(s)", an.Release, verdict, an.Taken)
		if an.Reason != "" {
			fmt.Fprintf(w, ": %s", an.Reason)
		}
		fmt.Fprintln(w)
		if n := len(an.Measurements); n > 0 {
			fmt.Fprintf(w, "  last: %s\n", an.Measurements[n-1])
		}
	}
	if a := st.Approval; a != nil && a.Status == workflows.ApprovalPending {
		if a.For != "" {
			fmt.Fprintf(w, "decision asked: %s\n", a.For)
		}
		fmt.Fprintf(w, "approval pending: %d of %d from %s, expires %s\n  approve: sluice approve %s (as your API token's user; --as USER on single-user sluice dev)\n",
			len(a.Approvals), a.Required, strings.Join(a.Approvers, ", "), a.ExpiresAt.Local().Format(time.RFC1123), ref)
	}
	for _, c := range st.Compensated {
		res := "done"
		if c.Error != "" {
			res = "FAILED: " + c.Error
		}
		fmt.Fprintf(w, "  undo %s (%s): %s\n", c.Activity, c.Phase, res)
	}
	return nil
}

// jobDetail is phaseDetail for one cell of a phase's jobs.
func jobDetail(j workflows.JobState, now time.Time) string {
	if j.Status == workflows.JobSkipped {
		return "skipped: " + j.Error
	}
	if j.Status == workflows.PhaseCancelled {
		return j.Error
	}
	return phaseDetail(workflows.PhaseState{Status: j.Status, Started: j.Started, Finished: j.Finished, Error: j.Error}, now)
}

func mark(status string) string {
	switch status {
	case workflows.PhaseSucceeded:
		return "✓"
	case workflows.PhaseFailed:
		return "✗"
	case workflows.PhaseRunning:
		return "▶"
	case workflows.PhaseReused:
		return "↺"
	case workflows.PhaseCancelled, workflows.PhaseCompensated:
		return "⤺"
	}
	return "·"
}

func phaseDetail(ph workflows.PhaseState, now time.Time) string {
	d := ph.Duration(now).Round(10 * time.Millisecond)
	switch ph.Status {
	case workflows.PhasePending:
		return ""
	case workflows.PhaseFailed:
		return fmt.Sprintf("%s  %s", d, ph.Error)
	case workflows.PhaseRunning:
		return fmt.Sprintf("%s so far", d)
	case workflows.PhaseReused:
		return "reused from the earlier run"
	}
	return fmt.Sprintf("%s  %s", d, ph.Status)
}

// watch prints phase transitions until the run ends, then its final status.
// The exit code is 0 only for a succeeded run.
func (g *globals) watch(ctx context.Context, ref runs.Ref) error {
	printed := map[string]string{}
	hinted := false
	for {
		r, st, err := g.runStatus(ctx, ref)
		if err != nil {
			return err
		}
		ref = r
		if g.output == "text" {
			for _, ph := range st.Phases {
				if printed[ph.Name] == ph.Status || ph.Status == workflows.PhasePending {
					continue
				}
				printed[ph.Name] = ph.Status
				fmt.Fprintf(g.stdout, "%s %-12s %s\n", mark(ph.Status), ph.Name, phaseDetail(ph, time.Now()))
			}
			if st.State == workflows.StateAwaitingApproval && !hinted {
				hinted = true
				fmt.Fprintf(g.stdout, "  waiting for approval from %s: sluice approve %s\n", strings.Join(st.Approval.Approvers, ", "), ref)
			}
		}
		if runs.Terminal(st.State) {
			if g.output == "json" {
				if err := g.printStatus(ref, st); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.stdout, "%s %s\n", st.State, errSuffix(st.Error))
			}
			if st.State != workflows.StateSucceeded {
				return exitError{code: 1}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "— " + e
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runStatus asks the server for a run's state (the viewer role in the
// run's project); the CLI needs no Temporal access for it.
func (g *globals) runStatus(ctx context.Context, ref runs.Ref) (runs.Ref, workflows.RunState, error) {
	var res httpapi.StatusResponse
	code, err := g.api(ctx, http.MethodGet, "/api/v1/status?run="+url.QueryEscape(ref.String()), nil, &res)
	if err != nil {
		return ref, res.State, err
	}
	if code != http.StatusOK {
		return ref, res.State, fmt.Errorf("the server answered %d to status", code)
	}
	return res.Ref, res.State, nil
}

// rollbackStatus prints a Rollback run: who asked and why, its approval,
// and how it ended.
func (g *globals) rollbackStatus(ctx context.Context, ref runs.Ref) error {
	var res httpapi.StatusResponse
	code, err := g.api(ctx, http.MethodGet, "/api/v1/status?run="+url.QueryEscape(ref.String()), nil, &res)
	if err != nil {
		return err
	}
	if code != http.StatusOK || res.Rollback == nil {
		return fmt.Errorf("the server answered %d to status", code)
	}
	st := res.Rollback
	if g.output == "json" {
		return printJSON(g.stdout, map[string]any{"run_id": res.Ref.String(), "rollback": st})
	}
	fmt.Fprintf(g.stdout, "rollback %s\n  of %s in %s, asked by %s\n  state %s %s\n", res.Ref, st.Pipeline, st.Namespace, st.By, st.State, errSuffix(st.Error))
	if st.Required > 0 {
		var by []string
		for _, a := range st.Approvals {
			by = append(by, a.User)
		}
		fmt.Fprintf(g.stdout, "  approval %d of %d from %s; approved by %s\n", len(st.Approvals), st.Required, strings.Join(st.Approvers, ", "), orDash(strings.Join(by, ", ")))
	}
	if r := st.Result; r != nil {
		fmt.Fprintf(g.stdout, "  v%d is live: rollback to v%d of commit %.12s\n", r.Version, r.RollbackOf, r.Commit)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
