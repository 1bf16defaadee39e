package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/records"
)

// recordFlags are the filters of list and audit.
type recordFlags struct {
	project, repository, branch, state, environment, since, before string
	limit                                                          int
}

func (f *recordFlags) add(cmd *cobra.Command, limit int, withRun bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.project, "project", "", "only this project's runs")
	fl.StringVar(&f.repository, "repository", "", "only this repository's runs (acme/hello)")
	fl.StringVar(&f.branch, "branch", "", "only this branch's runs")
	if withRun {
		fl.StringVar(&f.state, "state", "", "only runs in this state (running, succeeded, failed, cancelled, rejected, timed_out)")
		fl.StringVar(&f.environment, "environment", "", "only runs that reached this environment (test, production)")
	}
	fl.StringVar(&f.since, "since", "", "only since this time: RFC 3339 (2026-12-01T00:00:00Z) or a duration before now (168h)")
	fl.StringVar(&f.before, "before", "", "only before this time (RFC 3339 or a duration before now): the next page")
	fl.IntVar(&f.limit, "limit", limit, "at most this many")
}

func (f *recordFlags) query() string {
	q := url.Values{}
	for k, v := range map[string]string{"project": f.project, "repository": f.repository, "branch": f.branch, "state": f.state,
		"environment": f.environment, "since": f.since, "before": f.before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", strconv.Itoa(f.limit))
	return q.Encode()
}

// getRecords asks the server's records API; a refusal is the server's
// words.
func (g *globals) getRecords(cmd *cobra.Command, path string, out any) error {
	code, err := g.api(cmd.Context(), http.MethodGet, path, nil, out)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("the server answered %d", code)
	}
	return nil
}

func newListCmd(g *globals) *cobra.Command {
	var f recordFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List pipeline runs from Sluice's records, newest first (those of projects where your token may see runs; kept after Temporal has forgotten them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []contract.RunRecord
			if err := g.getRecords(cmd, "/api/v1/records?"+f.query(), &list); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, list)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTATE\tCOMMIT\tAUTHOR\tSTARTED\tTOOK")
			for _, r := range list {
				took := "-"
				if !r.Finished.IsZero() {
					took = r.Finished.Sub(r.Started).Round(time.Second).String()
				}
				fmt.Fprintf(tw, "%s@%s\t%s\t%s\t%s\t%s\t%s\n", r.WorkflowID, r.RunID, r.State, short(r.Commit), orDash(r.Author),
					r.Started.Local().Format(time.DateTime), took)
			}
			return tw.Flush()
		},
	}
	f.add(cmd, 20, true)
	return cmd
}

func newHistoryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "history RUN",
		Short: "Show what a run did from Sluice's records — phases, decisions and refusals with who and how — also after Temporal has forgotten it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r contract.RunRecord
			if err := g.getRecords(cmd, "/api/v1/records/"+url.PathEscape(args[0]), &r); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, r)
			}
			fmt.Fprintf(g.stdout, "run %s@%s\n  %s %s@%s by %s\n  state %s %s\n", r.WorkflowID, r.RunID, r.Repository, r.Branch, short(r.Commit), orDash(r.Author), r.State, errSuffix(r.Error))
			if r.Project != "" {
				fmt.Fprintf(g.stdout, "  project %s\n", r.Project)
			}
			if r.Image != "" {
				fmt.Fprintf(g.stdout, "  image %s\n", r.Image)
			}
			if r.Revision != "" {
				fmt.Fprintf(g.stdout, "  production release %s\n", r.Revision)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  AT\tWHAT\tWHO\tDETAIL")
			for _, e := range r.Events {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", at(e.At), eventWhat(e), who(e), e.Detail)
			}
			return tw.Flush()
		},
	}
}

func newAuditCmd(g *globals) *cobra.Command {
	var f recordFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List approvals, rejections, refused decisions, withheld and skipped phases and freeze overrides from Sluice's records, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var entries []records.AuditEntry
			if err := g.getRecords(cmd, "/api/v1/audit?"+f.query(), &entries); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, entries)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tRUN\tCOMMIT\tWHAT\tWHO\tDETAIL")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s@%s\t%s\t%s\t%s\t%s\n", at(e.At), e.WorkflowID, e.RunID, short(e.Commit), eventWhat(e.RecordEvent), who(e.RecordEvent), e.Detail)
			}
			return tw.Flush()
		},
	}
	f.add(cmd, 200, false)
	return cmd
}

func at(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func eventWhat(e contract.RecordEvent) string {
	switch e.Kind {
	case contract.EventPhase:
		return e.Name + " " + e.Status
	case contract.EventWithheld:
		return e.Name + " withheld"
	case contract.EventSkipped:
		return e.Name + " skipped"
	case contract.EventOverride:
		return e.Name + " freeze overridden"
	case contract.EventRefusal:
		return "refused decision"
	case contract.EventRejected:
		return "rejected"
	}
	return strings.ReplaceAll(e.Kind, "_", " ")
}

func who(e contract.RecordEvent) string {
	if e.Actor == "" {
		return "-"
	}
	if e.Via == "" {
		return e.Actor
	}
	return e.Actor + " (" + e.Via + ")"
}

func newDoraCmd(g *globals) *cobra.Command {
	var since, before, project string
	cmd := &cobra.Command{
		Use:   "dora",
		Short: "The four DORA keys per pipeline from Sluice's records: deployment frequency, lead time for changes, change failure rate, time to restore",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"since": since, "before": before, "project": project} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var keys []records.Keys
			if err := g.getRecords(cmd, "/api/v1/dora?"+q.Encode(), &keys); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, keys)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROJECT\tPIPELINE\tDEPLOYMENTS\tPER DAY\tLEAD TIME\tCHANGE FAILURE RATE\tTIME TO RESTORE")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%s\t%.0f%% (%d of %d)\t%s\n", orDash(k.Project), k.Pipeline, k.Deployments, k.PerDay, k.LeadTime.Round(time.Second),
					100*k.ChangeFailureRate, k.Failures, k.Releases, k.TimeToRestore.Round(time.Second))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&since, "since", "720h", "the window's start: RFC 3339 or a duration before now")
	cmd.Flags().StringVar(&before, "before", "", "the window's end (default now)")
	cmd.Flags().StringVar(&project, "project", "", "only this project's pipelines")
	return cmd
}
