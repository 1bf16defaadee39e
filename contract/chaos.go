package contract

import "time"

// Fault kinds a chaos experiment can inject.
const (
	// FaultPodKill deletes random ready pods of the target (with a grace
	// period); the workload's controller must replace them.
	FaultPodKill = "pod-kill"
	// FaultUpgrade rolls the target's Deployment to another image under
	// traffic and, when the fault is removed, back to the images it had.
	FaultUpgrade = "upgrade"
	// FaultNodeDrain cordons a node and evicts pods from it through the
	// Eviction API, so PodDisruptionBudgets hold; removal uncordons it.
	FaultNodeDrain = "node-drain"
	// FaultNodeDown powers a node off (its kubelet and every container on
	// it stop) and, when removed, on again and waits until it is Ready.
	FaultNodeDown = "node-down"
	// FaultZoneDown is node-down for every node of a zone (the nodes
	// labelled topology.kubernetes.io/zone=Zone).
	FaultZoneDown = "zone-down"
	// FaultNetworkLoss drops a share of the packets the target's pods send
	// (Loss percent), in their network namespaces, by the node agent.
	FaultNetworkLoss = "network-loss"
	// FaultPartition cuts the target's pods off from their Peers (pods
	// of the namespace with these labels, and the Services in front of
	// them), or from everything but themselves when Peers is empty.
	FaultPartition = "network-partition"
)

// Scopes of a node drain: which of the node's pods it evicts.
const (
	// DrainNamespace evicts the pods of the target's namespace only: the
	// node is cordoned for everyone, but other teams' pods stay.
	DrainNamespace = "namespace"
	// DrainNode evicts every pod on the node (DaemonSet and static pods
	// excepted), as kubectl drain does.
	DrainNode = "node"
)

// Experiment is a parsed chaos experiment (chaos.Parse): what to disturb,
// how to watch it, and what counts as a pass.
type Experiment struct {
	Name string `json:"name"`
	// File is where the experiment was read from, for reports.
	File string `json:"file,omitempty"`
	// Namespace and Service are the target: the Service is probed, its
	// selector picks the pods faults act on.
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	// Port is the Service port probed (0: its first); Path the HTTP path.
	Port int    `json:"port,omitempty"`
	Path string `json:"path"`
	// Rate is probe requests per second; ProbeTimeout bounds each.
	Rate         int           `json:"rate"`
	ProbeTimeout time.Duration `json:"probe_timeout"`
	// SteadyState is how long the target is watched before any fault: it
	// must meet the SLO then, or nothing is injected.
	SteadyState time.Duration `json:"steady_state"`
	// Recovery is how long the target is watched after the last fault is
	// removed.
	Recovery time.Duration `json:"recovery"`
	SLO      SLO           `json:"slo"`
	Faults   []Fault       `json:"faults"`
	// Alerts is what the alerting must do during the experiment.
	Alerts Alerts `json:"alerts,omitzero"`
}

// Alerts are the alerting's side of an experiment's verdict: notifications
// reach Sluice from Alertmanager (POST /hooks/alertmanager).
type Alerts struct {
	// Expect lists alerts that must fire, each at its receiver, within its
	// deadline after the first fault is injected.
	Expect []ExpectedAlert `json:"expect,omitempty"`
	// Forbid names alerts that must not fire during the experiment.
	Forbid []string `json:"forbid,omitempty"`
	// MaxNotifications bounds the firing notifications the experiment
	// receives (0: no bound): more is an alert storm, as when a rule's
	// alerts are not grouped and each one pages on its own.
	MaxNotifications int `json:"max_notifications,omitempty"`
}

// Label is one label name and value.
type Label struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ExpectedAlert is an alert the experiment must see firing.
type ExpectedAlert struct {
	Name string `json:"name"`
	// Labels the alert must carry (a subset of its labels), sorted by name.
	Labels []Label `json:"labels,omitempty"`
	// Receiver is the Alertmanager receiver it must reach ("": any).
	Receiver string        `json:"receiver,omitempty"`
	Within   time.Duration `json:"within"`
}

// SLO is what the target must keep during an experiment.
type SLO struct {
	// MaxErrorWindow is the longest stretch of failing requests allowed.
	MaxErrorWindow time.Duration `json:"max_error_window"`
	// MaxP99 bounds the 99th percentile latency of the probe (0: none).
	MaxP99 time.Duration `json:"max_p99,omitempty"`
}

// Fault is one disturbance, held for Duration and then removed.
type Fault struct {
	Kind     string        `json:"kind"`
	Duration time.Duration `json:"duration"`
	// Count is how many pods a pod-kill deletes.
	Count int `json:"count,omitempty"`
	// Grace is the pods' termination grace period (nil: their own).
	Grace *time.Duration `json:"grace,omitempty"`
	// Image is what an upgrade rolls the target's containers to.
	Image string `json:"image,omitempty"`
	// Node is the node a node-drain or node-down acts on ("": the node
	// running most of the target's pods).
	Node string `json:"node,omitempty"`
	// Zone is the zone a zone-down takes down.
	Zone string `json:"zone,omitempty"`
	// Scope is which pods a node-drain evicts (DrainNamespace, DrainNode).
	Scope string `json:"scope,omitempty"`
	// Loss is the percentage of packets a network-loss drops (1-100).
	Loss int `json:"loss,omitempty"`
	// Peers selects, by labels, the pods of the target's namespace a
	// network-partition cuts the target off from, sorted by name.
	Peers []Label `json:"peers,omitempty"`
	// TTL is how long after injection the fault is removed by the worker's
	// sweeper if no workflow removed it (0: Duration plus a margin).
	TTL time.Duration `json:"ttl,omitempty"`
}

// ObserveInput probes the target for Duration.
type ObserveInput struct {
	RunID     string        `json:"run_id"`
	Namespace string        `json:"namespace"`
	Service   string        `json:"service"`
	Port      int           `json:"port,omitempty"`
	Path      string        `json:"path"`
	Rate      int           `json:"rate"`
	Timeout   time.Duration `json:"timeout"`
	// Until is when probing stops: a retried attempt probes what is left.
	Until time.Time `json:"until"`
}

// Observation is what a probe saw.
type Observation struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Requests int       `json:"requests"`
	Failed   int       `json:"failed"`
	// Windows are the stretches of failing requests, oldest first.
	Windows []ErrorWindow `json:"windows,omitempty"`
	P50     time.Duration `json:"p50"`
	P99     time.Duration `json:"p99"`
	// Resolution is the time between two probe requests: an error window
	// is known to within it.
	Resolution time.Duration `json:"resolution"`
	// Unobserved are stretches nobody probed (the probe's worker was lost
	// and another attempt took over): the SLO cannot be judged across them.
	Unobserved []Span `json:"unobserved,omitempty"`
}

// Span is a stretch of time.
type Span struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Longest is the longest error window (0 when none).
func (o Observation) Longest() time.Duration {
	var d time.Duration
	for _, w := range o.Windows {
		d = max(d, w.Length())
	}
	return d
}

// ErrorWindow runs from the first failed request of a stretch to the first
// request that succeeded after its last failure (or the end of the probe);
// failures less than chaos.MergeGap apart belong to one window.
type ErrorWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Failed of Requests sent in the window failed.
	Failed   int `json:"failed"`
	Requests int `json:"requests"`
	// Error is the first failure's reason ("503", "connection refused").
	Error string `json:"error"`
}

// Length is how long the window lasted.
func (w ErrorWindow) Length() time.Duration { return w.End.Sub(w.Start) }

// FaultInput injects (InjectFault) or removes (RemoveFault) fault Index of
// an experiment. Expires is when anything the fault leaves behind is
// removed by the sweeper even if no workflow ever removes it.
type FaultInput struct {
	RunID      string    `json:"run_id"`
	WorkflowID string    `json:"workflow_id"`
	Index      int       `json:"index"`
	Namespace  string    `json:"namespace"`
	Service    string    `json:"service"`
	Fault      Fault     `json:"fault"`
	Expires    time.Time `json:"expires"`
}

// FaultResult says what a fault did ("deleted pods hello-1, hello-2").
type FaultResult struct {
	Summary string `json:"summary"`
}

// ExperimentsInput reads the chaos phase's experiment files at the run's
// commit and points them at the run's test environment (Namespace).
type ExperimentsInput struct {
	RunID     string   `json:"run_id"`
	Source    Source   `json:"source"`
	Files     []string `json:"files"`
	Namespace string   `json:"namespace"`
}
