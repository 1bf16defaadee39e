package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/runs"
)

func newScheduleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Run a branch's head at set times (Temporal Schedules): create, list, delete",
	}
	cmd.AddCommand(newScheduleCreateCmd(g), newScheduleListCmd(g), newScheduleDeleteCmd(g))
	return cmd
}

func newScheduleCreateCmd(g *globals) *cobra.Command {
	var repo, ref, name, pipeline, cron, tz string
	var every time.Duration
	var inputs []string
	cmd := &cobra.Command{
		Use:   "create NAME --repo PATH|URL|NAME --ref BRANCH (--cron EXPR | --every DURATION) [--timezone TZ] [--pipeline P] [--input K=V]...",
		Short: "Schedule runs of a branch's head; the server checks now what it would run, and each firing under its policy of the day",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			given, err := parseInputs(inputs)
			if err != nil {
				return err
			}
			if !gitsrc.IsRemote(repo) {
				if abs, err := request.CloneURL(repo); err == nil {
					repo = abs
				}
			}
			body := httpapi.ScheduleRequest{Schedule: args[0],
				Run:  httpapi.RunRequest{Repo: repo, Branch: ref, Name: name, Pipeline: pipeline, Inputs: given},
				When: runs.When{Cron: cron, Every: pipelines.Duration(every), TimeZone: tz}}
			var res httpapi.ScheduleResponse
			code, err := g.api(cmd.Context(), http.MethodPost, "/api/v1/schedules", body, &res)
			switch {
			case err != nil:
				return err
			case res.Refused != "":
				return exitError{code: 1, msg: res.Refused}
			case code != http.StatusCreated:
				return fmt.Errorf("the server answered %d", code)
			}
			if g.output == "json" {
				return printJSON(g.stdout, res.Schedule)
			}
			printSchedule(g, res.Schedule)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "repository: a name of the server's configuration, a local path or a URL")
	f.StringVar(&ref, "ref", "", "branch whose head each firing runs")
	f.StringVar(&name, "name", "", "repository name as Sluice shows it (a server without repositories)")
	f.StringVar(&pipeline, "pipeline", "", "one of the repository's .sluice/ pipelines; default: .sluice.yml")
	f.StringVar(&cron, "cron", "", `when, as five cron fields ("0 3 * * 1-5": 03:00 on weekdays)`)
	f.DurationVar(&every, "every", 0, "or how often (at least 10s)")
	f.StringVar(&tz, "timezone", "", "the cron's time zone (IANA, like Europe/Berlin); default UTC")
	f.StringArrayVar(&inputs, "input", nil, "NAME=VALUE of one of the spec's inputs, for every firing")
	_ = cmd.MarkFlagRequired("repo")
	_ = cmd.MarkFlagRequired("ref")
	return cmd
}

func printSchedule(g *globals, s runs.Schedule) {
	when := "every " + s.When.Every.String()
	if s.When.Cron != "" {
		when = "cron " + s.When.Cron
		if s.When.TimeZone != "" {
			when += " (" + s.When.TimeZone + ")"
		}
	}
	what := s.Run.Repo + " " + s.Run.Branch
	if s.Run.Pipeline != "" {
		what += " (pipeline " + s.Run.Pipeline + ")"
	}
	next := "-"
	if len(s.Next) > 0 {
		next = s.Next[0].Local().Format(time.RFC3339)
	}
	fmt.Fprintf(g.stdout, "%-20s %-40s %-24s next %s  by %s\n", s.Run.Name, what, when, next, s.Run.By)
}

func newScheduleListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the schedules of the projects where you may see runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var out []runs.Schedule
			if err := g.adminCall(cmd.Context(), http.MethodGet, "/api/v1/schedules", nil, &out); err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, out)
			}
			if len(out) == 0 {
				fmt.Fprintln(g.stdout, "no schedules")
			}
			for _, s := range out {
				printSchedule(g, s)
			}
			return nil
		},
	}
}

func newScheduleDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a schedule (runs it started go on)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res httpapi.ScheduleResponse
			if err := g.adminCall(cmd.Context(), http.MethodDelete, "/api/v1/schedules/"+url.PathEscape(args[0]), nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "schedule %s deleted\n", strings.TrimSpace(args[0]))
			return nil
		},
	}
}
