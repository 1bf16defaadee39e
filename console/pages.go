package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/workflows"
)

// signinPage asks for a credential the API accepts.
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	msg := ""
	if r.URL.Query().Get("expired") != "" {
		msg = "Your sign-in has ended; nothing was done. Sign in again."
	}
	c.render(w, http.StatusOK, "signin", view{Title: "Sign in", Flash: msg, Page: localPath(r.URL.Query().Get("next"))})
}

// signin checks the credential with the API and starts a session.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	next := localPath(r.PostFormValue("next"))
	addr := clientAddr(r)
	if c.refused.recent(addr) >= signInFailures {
		c.Log.Warn("console sign-in refused: too many failures", "address", addr)
		w.Header().Set("Retry-After", "60")
		c.render(w, http.StatusTooManyRequests, "signin", view{Title: "Sign in", Page: next,
			Flash: "Too many refused sign-ins from your address: wait a minute, then sign in with a valid credential."})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	var id httpapi.Identity
	a := c.call(r.Context(), token, http.MethodGet, "/api/v1/whoami", nil, &id)
	if token == "" || a.code != http.StatusOK {
		c.refused.add(addr)
		c.Log.Warn("console sign-in refused", "status", a.code, "address", addr)
		c.render(w, http.StatusUnauthorized, "signin", view{Title: "Sign in", Page: next,
			Flash: "That credential was refused. Use an API token from the server's api_tokens (sluice dev writes one to DATA_DIR/api-token) or an ID token of the configured OIDC provider."})
		return
	}
	c.sessions.create(w, token, id.Name)
	c.Log.Info("console sign-in", "client", id.Name, "user", id.User)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *request) {
	c.sessions.end(w, r.s)
	http.Redirect(w, r.Request, "/signin", http.StatusSeeOther)
}

// runsPage lists the runs the user may see, newest first, filtered and
// paged by the records; the live ones say what they wait for.
type runsPage struct {
	Filter  url.Values
	Runs    []runRow
	Waiting []runRow
	Next    string
	Problem string
}

type runRow struct {
	contract.RunRecord
	ID string
	// Live is what a live run is doing now ("awaiting approval", "queued:
	// …", "frozen until …"); "" for a finished run.
	Live string
}

// liveLimit is how many running runs of a page ask Temporal what they do.
const liveLimit = 25

func (c *Console) runsPage(w http.ResponseWriter, r *request) {
	q := url.Values{}
	for _, k := range []string{"project", "repository", "branch", "state", "before"} {
		if v := strings.TrimSpace(r.URL.Query().Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	page := runsPage{Filter: q}
	api := maps.Clone(q)
	api.Set("limit", "50")
	var list []contract.RunRecord
	if a := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/records?"+api.Encode(), nil, &list); a.code != http.StatusOK {
		page.Problem = a.problem()
	}
	asked := 0
	for _, rec := range list {
		row := runRow{RunRecord: rec, ID: rec.WorkflowID + "@" + rec.RunID}
		if !runs.Terminal(rec.State) && rec.Kind == contract.RecordPipeline && asked < liveLimit {
			asked++
			var st httpapi.StatusResponse
			if c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/status?run="+url.QueryEscape(row.ID), nil, &st).code == http.StatusOK {
				row.State, row.Phase, row.Live = st.State.State, st.State.Phase, liveText(st.State)
				if st.State.State == workflows.StateAwaitingApproval || st.State.Queued != "" {
					page.Waiting = append(page.Waiting, row)
				}
			}
		}
		page.Runs = append(page.Runs, row)
	}
	if len(list) == 50 {
		next := maps.Clone(q)
		next.Set("before", list[len(list)-1].Started.UTC().Format(time.RFC3339Nano))
		page.Next = "/?" + next.Encode()
	}
	c.render(w, http.StatusOK, "runs", c.view(r, "Runs", "runs", page))
}

// liveText says what a live run waits for.
func liveText(st workflows.RunState) string {
	switch {
	case st.Queued != "":
		return st.Queued
	case st.Frozen != "":
		return st.Frozen
	case st.State == workflows.StateAwaitingApproval && st.Approval != nil:
		return fmt.Sprintf("awaiting approval: %d of %d from %s", len(st.Approval.Approvals), st.Approval.Required, strings.Join(st.Approval.Approvers, ", "))
	}
	return ""
}

// runView is a run as its page shows it, live or from the records.
type runView struct {
	ID  string
	Rec contract.RunRecord
	// Live: Temporal still runs it; the page follows it.
	Live      bool
	Rollback  *runs.RollbackStatus
	Approval  *workflows.ApprovalState
	Queued    string
	Frozen    string
	Outputs   []labelled
	Timeline  timeline
	Decisions []contract.RecordEvent
	// Measurements are production.analysis's values; Verdict its end.
	Measurements []contract.RecordEvent
	Verdict      *contract.RecordEvent
	// CanDecide: the user's role may approve in the run's project (the
	// API decides; this only hides buttons that would be refused).
	CanDecide bool
	// AskAs: the credential names who decides (single-user dev mode).
	AskAs    bool
	Temporal string
	// FromRecords: Temporal has forgotten the run; this is its record.
	FromRecords bool
	jobs        []workflows.JobState
}

// withJobs is events with each phase's job cells (test's jobs and matrix
// cells) after it, as bars of their own.
func withJobs(events []contract.RecordEvent, jobs []workflows.JobState) []contract.RecordEvent {
	if len(jobs) == 0 {
		return events
	}
	var out []contract.RecordEvent
	for _, e := range events {
		out = append(out, e)
		if e.Kind != contract.EventPhase {
			continue
		}
		for _, j := range jobs {
			if j.Phase == e.Name {
				detail := j.Error
				if detail == "" {
					detail = j.Summary
				}
				out = append(out, contract.RecordEvent{Kind: contract.EventPhase, Name: e.Name + " › " + j.Name, Status: j.Status,
					Detail: detail, At: j.Started, Finished: j.Finished})
			}
		}
	}
	return out
}

type labelled struct{ Label, Value string }

// runOf reads a run: its live state from Temporal, else its record.
func (c *Console) runOf(r *request, id string) (runView, answer) {
	v := runView{ID: id, AskAs: r.id.TrustAs}
	var st httpapi.StatusResponse
	a := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/status?run="+url.QueryEscape(id), nil, &st)
	switch {
	case a.code == http.StatusOK && st.Rollback != nil:
		v.Rollback = st.Rollback
		v.Rec = contract.RunRecord{Kind: contract.RecordRollback, WorkflowID: st.Ref.WorkflowID, RunID: st.Ref.RunID,
			Pipeline: st.Rollback.Pipeline, Project: st.Rollback.Project, State: st.Rollback.State, Error: st.Rollback.Error}
		v.Live = !runs.Terminal(st.Rollback.State)
		v.Outputs = []labelled{{"Namespace", st.Rollback.Namespace}, {"Asked by", st.Rollback.By}}
		if res := st.Rollback.Result; res != nil {
			v.Outputs = append(v.Outputs, labelled{"Result", fmt.Sprintf("release %d live again as release %d", res.RollbackOf, res.Version)})
		}
		if st.Rollback.Status == workflows.RollbackAwaitingApproval {
			v.Approval = &workflows.ApprovalState{Status: workflows.ApprovalPending, Approvers: st.Rollback.Approvers, Required: st.Rollback.Required,
				Approvals: st.Rollback.Approvals, Rejection: st.Rollback.Rejection, Refusals: st.Rollback.Refusals, ExpiresAt: st.Rollback.ExpiresAt}
		}
	case a.code == http.StatusOK:
		s := st.State
		v.Rec = workflows.RecordOf(s, st.Ref.WorkflowID, st.Ref.RunID, 0)
		v.Live, v.Approval, v.Queued, v.Frozen = !runs.Terminal(s.State), s.Approval, s.Queued, s.Frozen
		v.Outputs = outputs(s)
		v.jobs = s.Jobs
	case a.code == http.StatusNotFound:
		// Temporal's retention is over: the records keep the run
		var rec contract.RunRecord
		if ra := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/records/"+url.PathEscape(id), nil, &rec); ra.code != http.StatusOK {
			return v, ra
		}
		v.Rec, v.FromRecords = rec, true
		if rec.Image != "" {
			v.Outputs = append(v.Outputs, labelled{"Image", rec.Image})
		}
	default:
		return v, a
	}
	v.Timeline = timelineOf(withJobs(v.Rec.Events, v.jobs), v.Rec.Started, v.Rec.Finished, time.Now())
	for _, e := range v.Rec.Events {
		switch e.Kind {
		case contract.EventPhase:
		case contract.EventMeasurement:
			v.Measurements = append(v.Measurements, e)
		case contract.EventAnalysis:
			v.Verdict = &e
		default:
			v.Decisions = append(v.Decisions, e)
		}
	}
	if v.Rec.Project == "" && c.Config != nil {
		// a run from before policies: its repository's project now
		if p, err := c.Config.ProjectOf(v.Rec.Repository); err == nil && p != nil {
			v.Rec.Project = p.Name
		}
	}
	v.CanDecide = r.id.Everything || r.id.Roles.Allows(v.Rec.Project, access.Approve) || r.id.Roles.Allows(v.Rec.Project, access.Reject)
	if c.TemporalUI != "" {
		v.Temporal = contract.RunLink(c.TemporalUI, c.TemporalNamespace, v.Rec.WorkflowID, v.Rec.RunID)
	}
	return v, answer{code: http.StatusOK}
}

// outputs are what a run's phases made, for its page.
func outputs(s workflows.RunState) []labelled {
	o := s.Outputs
	out := []labelled{}
	add := func(label, v string) {
		if v != "" {
			out = append(out, labelled{label, v})
		}
	}
	img := o.Image
	if o.Digest != "" {
		img = o.Image + "@" + o.Digest
	}
	add("Image", img)
	add("Unit tests", o.TestSummary)
	add("Test environment", o.Environment)
	add("Integration", o.IntegrationSummary)
	add("Chaos", o.ChaosSummary)
	add("Available as", o.AvailableTag)
	add("Production registry", o.Replica)
	add("Approved by", strings.Join(o.ApprovedBy, ", "))
	add("Production release", o.ProductionRevision)
	add("Canary", o.Canary)
	return out
}

func (c *Console) runPage(w http.ResponseWriter, r *request) {
	id := r.URL.Query().Get("id")
	if _, err := runs.ParseRef(id); err != nil {
		c.message(w, http.StatusNotFound, "No such run", "There is no run "+strconv.Quote(id)+": "+err.Error())
		return
	}
	v, a := c.runOf(r, id)
	if a.code != http.StatusOK {
		c.apiProblem(w, a, "run "+id)
		return
	}
	c.render(w, http.StatusOK, "run", c.view(r, v.Rec.Pipeline+" "+v.Rec.Branch, "runs", v))
}

// statusPart is the part of a run's page that changes as it runs; the
// page's script fetches it again when the run moves on.
func (c *Console) statusPart(w http.ResponseWriter, r *request) {
	v, a := c.runOf(r, r.URL.Query().Get("id"))
	if a.code != http.StatusOK {
		c.apiProblem(w, a, "run")
		return
	}
	var buf strings.Builder
	if err := c.pages["status"].ExecuteTemplate(&buf, "status", c.view(r, "", "", v)); err != nil {
		c.Log.Error("console status", "error", err)
		http.Error(w, "the page could not be made", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, buf.String())
}

// apiProblem shows an API refusal as a page with its status.
func (c *Console) apiProblem(w http.ResponseWriter, a answer, what string) {
	switch a.code {
	case http.StatusNotFound:
		c.message(w, http.StatusNotFound, "Not found", "There is no "+what+": "+a.problem())
	case http.StatusForbidden:
		c.message(w, http.StatusForbidden, "Not allowed", a.problem())
	default:
		c.message(w, http.StatusBadGateway, "Not available", a.problem())
	}
}

// decide sends an approval or a rejection, as the signed-in user.
func (c *Console) decide(w http.ResponseWriter, r *request) {
	id := r.PostFormValue("id")
	req := httpapi.DecisionRequest{Run: id, Commit: r.PostFormValue("commit"), Approve: r.PostFormValue("approve") == "1",
		Comment: r.PostFormValue("comment"), As: strings.TrimSpace(r.PostFormValue("as"))}
	var resp httpapi.DecisionResponse
	a := c.call(r.Context(), r.s.token, http.MethodPost, "/api/v1/decisions", req, &resp)
	back := "/run?id=" + url.QueryEscape(id)
	switch {
	case a.code == http.StatusOK && req.Approve:
		c.back(w, r, back, "Approved as "+resp.User+".")
	case a.code == http.StatusOK:
		c.back(w, r, back, "Rejected as "+resp.User+".")
	case a.code == http.StatusConflict:
		var refused httpapi.DecisionResponse
		_ = json.Unmarshal(a.body, &refused)
		c.back(w, r, back, "Refused: "+refused.Refused)
	case a.code == http.StatusForbidden:
		c.Log.Warn("console decision refused", "client", r.id.Name, "run", id)
		c.message(w, http.StatusForbidden, "Not allowed", a.problem())
	default:
		c.back(w, r, back, "Not done: "+a.problem())
	}
}

// environmentsPage shows, per pipeline, the release live in production
// and the history of releases and rollbacks, with a rollback form.
type environmentsPage struct {
	Pipelines []pipelineEnv
	Problem   string
}

type pipelineEnv struct {
	Project, Pipeline string
	Live              *contract.RunRecord
	History           []runRow
	Namespaces        []string
	CanRollback       bool
}

func (c *Console) environmentsPage(w http.ResponseWriter, r *request) {
	var list []contract.RunRecord
	page := environmentsPage{}
	if a := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/records?environment=production&limit=500", nil, &list); a.code != http.StatusOK {
		page.Problem = a.problem()
	}
	index := map[string]int{}
	for _, rec := range list {
		if rec.Kind == contract.RecordChaos {
			continue
		}
		key := rec.Project + "\x00" + rec.Pipeline
		i, ok := index[key]
		if !ok {
			i = len(page.Pipelines)
			index[key] = i
			page.Pipelines = append(page.Pipelines, pipelineEnv{Project: rec.Project, Pipeline: rec.Pipeline,
				Namespaces:  c.productionNamespaces(rec.Project),
				CanRollback: r.id.Everything || r.id.Roles.Allows(rec.Project, access.Rollback)})
		}
		p := &page.Pipelines[i]
		if p.Live == nil && rec.State == workflows.StateSucceeded && rec.Revision != "" {
			live := rec
			p.Live = &live
		}
		p.History = append(p.History, runRow{RunRecord: rec, ID: rec.WorkflowID + "@" + rec.RunID})
	}
	if c.Config != nil {
		// a project with nothing released yet may still be rolled back
		// to a release made before Sluice kept records
		for _, p := range c.Config.Projects {
			if p.Environments.Production == nil || !(r.id.Everything || r.id.Roles.Allows(p.Name, access.Rollback)) {
				continue
			}
			page.Pipelines = append(page.Pipelines, pipelineEnv{Project: p.Name, Namespaces: c.productionNamespaces(p.Name), CanRollback: true})
		}
	}
	c.render(w, http.StatusOK, "environments", c.view(r, "Environments", "environments", page))
}

// productionNamespaces are project's production namespaces in the
// server's configuration.
func (c *Console) productionNamespaces(project string) []string {
	if c.Config == nil {
		return nil
	}
	for _, p := range c.Config.Projects {
		if p.Name == project && p.Environments.Production != nil {
			return slices.Clone(p.Environments.Production.Namespaces)
		}
	}
	return nil
}

// rollback starts the durable rollback the CLI starts.
func (c *Console) rollback(w http.ResponseWriter, r *request) {
	if r.PostFormValue("confirm") != "yes" {
		c.back(w, r, "/environments", "Not done: confirm the rollback by ticking the box.")
		return
	}
	to := 0
	if v := strings.TrimSpace(r.PostFormValue("to")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.back(w, r, "/environments", "Not done: the release to bring back is a number (or empty: the one before the live one).")
			return
		}
		to = n
	}
	req := httpapi.RollbackRequest{Pipeline: r.PostFormValue("pipeline"), Namespace: r.PostFormValue("namespace"), To: to, Reason: r.PostFormValue("reason")}
	var resp httpapi.RollbackResponse
	a := c.call(r.Context(), r.s.token, http.MethodPost, "/api/v1/rollbacks", req, &resp)
	if a.code/100 != 2 {
		if a.code == http.StatusForbidden {
			c.message(w, http.StatusForbidden, "Not allowed", a.problem())
			return
		}
		c.back(w, r, "/environments", "Not done: "+a.problem())
		return
	}
	msg := "Rollback started as " + resp.By + "."
	if resp.Approval != nil {
		msg += " It waits for production's approval."
	}
	c.back(w, r, "/run?id="+url.QueryEscape(resp.Ref.String()), msg)
}

// deliveryPage shows the four DORA keys per pipeline over a window, each
// beside its value in the window before (the trend).
type deliveryPage struct {
	Since   string
	Rows    []doraRow
	Problem string
}

type doraRow struct {
	records.Keys
	// Before is the same pipeline's keys in the window before, if it
	// released then.
	Before *records.Keys
}

func (c *Console) deliveryPage(w http.ResponseWriter, r *request) {
	since := strings.TrimSpace(r.URL.Query().Get("since"))
	if since == "" {
		since = "720h"
	}
	page := deliveryPage{Since: since}
	var now []records.Keys
	if a := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/dora?since="+url.QueryEscape(since), nil, &now); a.code != http.StatusOK {
		page.Problem = a.problem()
	}
	var before []records.Keys
	if d, err := time.ParseDuration(since); err == nil && d > 0 {
		q := url.Values{"since": {(2 * d).String()}, "before": {d.String()}}
		c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/dora?"+q.Encode(), nil, &before)
	}
	for _, k := range now {
		row := doraRow{Keys: k}
		for i, b := range before {
			if b.Project == k.Project && b.Pipeline == k.Pipeline && b.Environment == k.Environment {
				row.Before = &before[i]
			}
		}
		page.Rows = append(page.Rows, row)
	}
	c.render(w, http.StatusOK, "delivery", c.view(r, "Delivery", "delivery", page))
}

var errStop = errors.New("enough lines")
