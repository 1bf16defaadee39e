package runs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/request"
	"github.com/sluice-cd/sluice/workflows"
)

// When is how often a schedule fires: a cron expression (five fields, in
// TimeZone, UTC by default) or a fixed interval.
type When struct {
	Cron     string             `json:"cron,omitempty"`
	Every    pipelines.Duration `json:"every,omitempty"`
	TimeZone string             `json:"timezone,omitempty"`
}

// Schedule is a schedule as `sluice schedule list` shows it.
type Schedule struct {
	Run  contract.ScheduledRun `json:"run"`
	When When                  `json:"when"`
	// Next are the next times it fires.
	Next []time.Time `json:"next,omitempty"`
	// Recent are the workflow IDs of its last starts, newest last.
	Recent []string `json:"recent,omitempty"`
}

var scheduleName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// MinScheduleInterval bounds how often a schedule may fire: each firing
// reads the repository and starts (or supersedes) a run.
const MinScheduleInterval = 10 * time.Second

// Check refuses a schedule that could never fire as asked, naming why.
func (w When) Check() error {
	switch {
	case (w.Cron == "") == (w.Every == 0):
		return errors.New("give exactly one of --cron EXPRESSION and --every DURATION")
	case w.Every != 0 && w.Every.D() < MinScheduleInterval:
		return fmt.Errorf("--every %s: at least %s", w.Every, MinScheduleInterval)
	case w.Cron != "" && len(strings.Fields(w.Cron)) != 5:
		return fmt.Errorf("--cron %q: five fields (minute hour day-of-month month day-of-week), like \"0 3 * * 1-5\"", w.Cron)
	}
	if w.TimeZone != "" {
		if _, err := time.LoadLocation(w.TimeZone); err != nil {
			return fmt.Errorf("--timezone %q: not a time zone of the IANA database (like Europe/Berlin)", w.TimeZone)
		}
	}
	return nil
}

// CreateSchedule makes a schedule that starts in's run when w says. A
// name in use, a bad name or an expression Temporal refuses is ErrRefused.
func (c *Client) CreateSchedule(ctx context.Context, in contract.ScheduledRun, w When) error {
	if !scheduleName.MatchString(in.Name) {
		return fmt.Errorf("%w: schedule name %q: lower-case letters, digits and -", ErrRefused, in.Name)
	}
	if err := w.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	spec := client.ScheduleSpec{TimeZoneName: w.TimeZone}
	if w.Cron != "" {
		spec.CronExpressions = []string{w.Cron}
	} else {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: w.Every.D()}}
	}
	memo := map[string]any{"repo": in.Repo, "branch": in.Branch, "by": in.By}
	_, err := c.Temporal.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      workflows.ScheduleID(in.Name),
		Spec:    spec,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Memo:    memo,
		Action: &client.ScheduleWorkflowAction{
			ID: workflows.ScheduledWorkflowID(in.Name), Workflow: workflows.Scheduled, Args: []any{in}, TaskQueue: c.queue(), Memo: memo,
		},
	})
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		return fmt.Errorf("%w: schedule %s exists already; delete it first (sluice schedule delete %s)", ErrRefused, in.Name, in.Name)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w: %s", ErrRefused, invalid.Message)
	}
	return err
}

// DescribeSchedule is the run a schedule starts.
func (c *Client) DescribeSchedule(ctx context.Context, name string) (Schedule, error) {
	d, err := c.Temporal.ScheduleClient().GetHandle(ctx, workflows.ScheduleID(name)).Describe(ctx)
	if err != nil {
		return Schedule{}, chaosNotFound(fmt.Sprintf("no schedule %q (sluice schedule list)", name), err)
	}
	s := Schedule{Next: d.Info.NextActionTimes}
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok && len(a.Args) == 1 {
		if p, ok := a.Args[0].(*commonpb.Payload); ok {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &s.Run)
		}
	}
	if sp := d.Schedule.Spec; sp != nil {
		if len(sp.CronExpressions) > 0 {
			s.When.Cron = sp.CronExpressions[0]
		}
		if len(sp.Intervals) > 0 {
			s.When.Every = pipelines.Duration(sp.Intervals[0].Every)
		}
		s.When.TimeZone = sp.TimeZoneName
	}
	for _, r := range d.Info.RecentActions {
		if r.StartWorkflowResult != nil {
			s.Recent = append(s.Recent, r.StartWorkflowResult.WorkflowID)
		}
	}
	return s, nil
}

// ListSchedules lists every pipeline schedule's name, oldest first.
func (c *Client) ListSchedules(ctx context.Context) ([]string, error) {
	it, err := c.Temporal.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return nil, err
	}
	var names []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		if name, ok := strings.CutPrefix(e.ID, "schedule/"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// DeleteSchedule removes a schedule; runs it started go on.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return chaosNotFound(fmt.Sprintf("no schedule %q (sluice schedule list)", name), c.Temporal.ScheduleClient().GetHandle(ctx, workflows.ScheduleID(name)).Delete(ctx))
}

// Scheduler is the activity behind the Scheduled workflow: it builds the
// run's request with the worker's request builder (its configuration and
// policy) and starts it.
type Scheduler struct {
	Client  *Client
	Builder *request.Builder
}

// StartScheduled implements contract.StartScheduled.
func (s *Scheduler) StartScheduled(ctx context.Context, in contract.ScheduledRun) (workflows.DispatchResult, error) {
	if cfg := s.Builder.Config; cfg != nil && len(cfg.Repositories) > 0 {
		// the configuration of the day decides: a repository taken out of
		// it is no longer run, whatever the schedule remembers
		known := slices.ContainsFunc(cfg.Repositories, func(r config.Repository) bool {
			return strings.EqualFold(r.Name, in.Repo) && r.CloneURL == in.CloneURL
		})
		if !known {
			return workflows.DispatchResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("schedule %s: repository %s (%s) is not in this server's configuration any more; delete the schedule (sluice schedule delete %s)", in.Name, in.Repo, in.CloneURL, in.Name), contract.ErrInvalidInput, nil)
		}
	}
	delivery := "schedule-" + in.Name
	if info := activity.GetInfo(ctx); info.WorkflowExecution.ID != "" {
		delivery = info.WorkflowExecution.ID // scheduled/NAME-<time due>: one per firing
	}
	req, err := s.Builder.Build(ctx, request.Source{
		Repo: in.Repo, CloneURL: in.CloneURL, Branch: in.Branch, Pipeline: in.Pipeline, Inputs: in.Inputs,
		Manual: true, Event: pipelines.EventSchedule, Pusher: in.By, DeliveryID: delivery,
	})
	var invalid *request.Invalid
	var ignored request.Ignored
	switch {
	case errors.As(err, &ignored):
		return workflows.DispatchResult{Action: "ignored: " + ignored.Error()}, nil
	case errors.As(err, &invalid):
		return workflows.DispatchResult{}, temporal.NewNonRetryableApplicationError("schedule "+in.Name+": "+invalid.Error(), contract.ErrInvalidInput, nil)
	case err != nil:
		return workflows.DispatchResult{}, fmt.Errorf("schedule %s: %w", in.Name, err)
	}
	started, err := s.Client.Start(ctx, req)
	if err != nil {
		return workflows.DispatchResult{}, err
	}
	return workflows.DispatchResult{WorkflowID: started.Ref.WorkflowID, RunID: started.Ref.RunID, Action: started.Action}, nil
}
