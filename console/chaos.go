package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/workflows"
)

// chaosList is the experiments that ended, newest first, with their
// verdicts (from the records).
type chaosList struct {
	Experiments []runRow
	Problem     string
}

func (c *Console) chaosPage(w http.ResponseWriter, r *request) {
	var list []contract.RunRecord
	page := chaosList{}
	if a := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/records?kind=chaos&limit=100", nil, &list); a.code != http.StatusOK {
		page.Problem = a.problem()
	}
	for _, rec := range list {
		page.Experiments = append(page.Experiments, runRow{RunRecord: rec, ID: rec.WorkflowID})
	}
	c.render(w, http.StatusOK, "chaos", c.view(r, "Chaos", "chaos", page))
}

// chaosView is one experiment: live from Temporal, else its record.
type chaosView struct {
	ID    string
	State workflows.ChaosState
	// Rec is the experiment's record when Temporal has forgotten it.
	Rec *contract.RunRecord
	// Plot draws the error windows, unobserved stretches and faults on
	// the observation's time axis.
	Plot    chaosPlot
	Latency []latencyRow
	Live    bool
}

type latencyRow struct {
	When               string
	Requests, Failed   int
	P50, P99, Resolved string
}

type chaosPlot struct {
	Windows, Unobserved []span
	Marks               []mark
	Total               string
}

type span struct {
	X, Width int
	Label    string
}

type mark struct {
	X    int
	What string
}

func (c *Console) chaosRunPage(w http.ResponseWriter, r *request) {
	id := strings.TrimSpace(r.URL.Query().Get("id"))
	if !strings.HasPrefix(id, "chaos/") || strings.Contains(id, "..") || strings.ContainsAny(id, "?#% \\") {
		c.message(w, http.StatusNotFound, "No such experiment", "An experiment's id is the one `sluice chaos run` printed, like chaos/NAME/TIME.")
		return
	}
	v := chaosView{ID: id}
	a := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/chaos/"+id, nil, &v.State)
	switch a.code {
	case http.StatusOK:
		v.Live = v.State.State == workflows.ChaosRunning
		v.Plot = plotOf(v.State)
		for _, o := range []struct {
			when string
			obs  *contract.Observation
		}{{"steady state", v.State.Steady}, {"faults and recovery", v.State.Observation}} {
			if o.obs != nil {
				v.Latency = append(v.Latency, latencyRow{When: o.when, Requests: o.obs.Requests, Failed: o.obs.Failed,
					P50: round(o.obs.P50), P99: round(o.obs.P99), Resolved: round(o.obs.Resolution)})
			}
		}
	case http.StatusNotFound:
		var rec contract.RunRecord
		if ra := c.call(r.Context(), r.s.token, http.MethodGet, "/api/v1/records/"+url.PathEscape(id), nil, &rec); ra.code != http.StatusOK {
			c.apiProblem(w, ra, "experiment "+id)
			return
		}
		v.Rec = &rec
	default:
		c.apiProblem(w, a, "experiment "+id)
		return
	}
	c.render(w, http.StatusOK, "chaosrun", c.view(r, "Experiment", "chaos", v))
}

// plotOf lays out an experiment's observation on a 1000-unit axis.
func plotOf(st workflows.ChaosState) chaosPlot {
	o := st.Observation
	if o == nil || o.End.IsZero() || !o.End.After(o.Start) {
		return chaosPlot{}
	}
	span0, length := o.Start, o.End.Sub(o.Start)
	x := func(t time.Time) int { return min(max(int(1000*t.Sub(span0)/length), 0), 1000) }
	p := chaosPlot{Total: round(length)}
	for _, win := range o.Windows {
		p.Windows = append(p.Windows, span{X: x(win.Start), Width: max(x(win.End)-x(win.Start), 2),
			Label: win.Error + ": " + round(win.Length())})
	}
	for _, u := range o.Unobserved {
		p.Unobserved = append(p.Unobserved, span{X: x(u.Start), Width: max(x(u.End)-x(u.Start), 2), Label: "not observed " + round(u.End.Sub(u.Start))})
	}
	for _, e := range st.Timeline {
		if !e.At.Before(o.Start) && !e.At.After(o.End) {
			p.Marks = append(p.Marks, mark{X: x(e.At), What: e.What})
		}
	}
	return p
}
