package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

const goodExperiment = `version: 1
name: hello-pod-kill
target: {namespace: hello, service: hello}
probe: {path: /healthz, rate: 50}
steady-state: 5s
slo:
  max-error-window: 1s
  max-p99: 300ms
faults:
  - {kind: pod-kill, duration: 10s, grace: 0s}
  - kind: upgrade
    duration: 20s
    image: 127.0.0.1:5000/acme/hello@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
alerts:
  expect:
    - {name: HelloErrors, labels: {severity: page}, receiver: oncall, within: 1m}
  forbid: [HelloLatency]
  max-notifications: 3
`

func TestParseExperiment(t *testing.T) {
	e, err := Parse("kill.yml", []byte(goodExperiment))
	if err != nil {
		t.Fatal(err)
	}
	zero := time.Duration(0)
	if e.Name != "hello-pod-kill" || e.Namespace != "hello" || e.Service != "hello" || e.Path != "/healthz" || e.Rate != 50 ||
		e.SteadyState != 5*time.Second || e.Recovery != defaultWindow || e.ProbeTimeout != time.Second ||
		e.SLO != (contract.SLO{MaxErrorWindow: time.Second, MaxP99: 300 * time.Millisecond}) {
		t.Errorf("experiment: %+v", e)
	}
	wantAlerts := contract.Alerts{Expect: []contract.ExpectedAlert{{Name: "HelloErrors", Labels: []contract.Label{{Name: "severity", Value: "page"}}, Receiver: "oncall", Within: time.Minute}},
		Forbid: []string{"HelloLatency"}, MaxNotifications: 3}
	if fmt.Sprint(e.Alerts) != fmt.Sprint(wantAlerts) {
		t.Errorf("alerts %+v, want %+v", e.Alerts, wantAlerts)
	}
	if len(e.Faults) != 2 || e.Faults[0].Count != 1 || e.Faults[0].Grace == nil || *e.Faults[0].Grace != zero || e.Faults[1].Kind != contract.FaultUpgrade {
		t.Errorf("faults: %+v", e.Faults)
	}
}

func TestParseExperimentProblems(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		line int
		want string
	}{
		"not yaml":        {"version: 1\ntarget: [\n", 2, "not valid YAML"},
		"unknown key":     {strings.Replace(goodExperiment, "steady-state", "steady-sate", 1), 5, `did you mean "steady-state"?`},
		"no slo window":   {strings.Replace(goodExperiment, "  max-error-window: 1s\n", "", 1), 6, "slo.max-error-window is required"},
		"bad kind":        {strings.Replace(goodExperiment, "kind: pod-kill", "kind: pod-kil", 1), 10, `unknown fault kind "pod-kil"`},
		"no duration":     {strings.Replace(goodExperiment, "duration: 10s, ", "", 1), 10, "faults[0].duration must be between 1s and 1h"},
		"bad image":       {strings.Replace(goodExperiment, "image: 127.0.0.1", "image: UPPER 127.0.0.1", 1), 13, "is not an image reference"},
		"bad namespace":   {strings.Replace(goodExperiment, "namespace: hello", "namespace: Hello_World", 1), 3, "is not a Kubernetes namespace name"},
		"rate too high":   {strings.Replace(goodExperiment, "rate: 50", "rate: 5000", 1), 4, "probe.rate 5000 is out of range"},
		"relative path":   {strings.Replace(goodExperiment, "path: /healthz", "path: healthz", 1), 4, "must start with /"},
		"bad duration":    {strings.Replace(goodExperiment, "steady-state: 5s", "steady-state: soon", 1), 5, `bad duration "soon"`},
		"empty":           {"", 1, "experiment is empty"},
		"alert no within": {strings.Replace(goodExperiment, ", within: 1m}", "}", 1), 16, "alerts.expect[0].within is required"},
		"kill has image":  {strings.Replace(goodExperiment, "grace: 0s}", "grace: 0s, image: x}", 1), 10, "image is not used by pod-kill"},
	} {
		t.Run(name, func(t *testing.T) { wantProblem(t, tc.src, tc.line, tc.want) })
	}
}

const nodeExperiment = `version: 1
target: {namespace: hello, service: hello}
slo: {max-error-window: 30s}
faults:
  - {kind: node-drain, duration: 30s}
  - {kind: node-drain, node: worker-1.example, scope: node, duration: 30s, grace: 5s}
  - {kind: node-down, duration: 1m}
  - {kind: zone-down, zone: eu-west-1b, duration: 1m}
  - {kind: network-loss, loss: 30, duration: 20s}
  - {kind: network-partition, peers: {app: redis, tier: cache}, duration: 20s}
`

func TestParseNodeFaults(t *testing.T) {
	e, err := Parse("nodes.yml", []byte(nodeExperiment))
	if err != nil {
		t.Fatal(err)
	}
	want := []contract.Fault{
		{Kind: contract.FaultNodeDrain, Scope: contract.DrainNamespace, Duration: 30 * time.Second},
		{Kind: contract.FaultNodeDrain, Node: "worker-1.example", Scope: contract.DrainNode, Duration: 30 * time.Second},
		{Kind: contract.FaultNodeDown, Duration: time.Minute},
		{Kind: contract.FaultZoneDown, Zone: "eu-west-1b", Duration: time.Minute},
		{Kind: contract.FaultNetworkLoss, Loss: 30, Duration: 20 * time.Second},
		{Kind: contract.FaultPartition, Peers: []contract.Label{{Name: "app", Value: "redis"}, {Name: "tier", Value: "cache"}}, Duration: 20 * time.Second},
	}
	if len(e.Faults) != len(want) {
		t.Fatalf("%d faults, want %d", len(e.Faults), len(want))
	}
	for i, f := range e.Faults {
		f.Grace = nil
		if fmt.Sprint(f) != fmt.Sprint(want[i]) {
			t.Errorf("fault %d: %+v, want %+v", i, f, want[i])
		}
	}
	for name, tc := range map[string]struct {
		from, to string
		line     int
		want     string
	}{
		"zone-down without zone": {"zone: eu-west-1b, ", "", 8, "zone-down needs a zone"},
		"zone on node-down":      {"{kind: node-down,", "{kind: node-down, zone: a,", 7, "zone is not used by node-down"},
		"bad scope":              {"scope: node", "scope: cluster", 6, `scope "cluster" is not a drain scope`},
		"bad node name":          {"node: worker-1.example", "node: Worker_1", 6, `node "Worker_1" is not a node name`},
		"node on zone-down":      {"{kind: zone-down,", "{kind: zone-down, node: n1,", 8, "node is not used by zone-down"},
		"count on drain":         {"{kind: node-drain, duration", "{kind: node-drain, count: 2, duration", 5, "count is not used by node-drain"},
		"loss out of range":      {"loss: 30", "loss: 130", 9, "loss must be between 1 and 100, found 130"},
		"no loss":                {"loss: 30, ", "", 9, "loss must be between 1 and 100, found 0"},
		"loss on partition":      {"{kind: network-partition,", "{kind: network-partition, loss: 5,", 10, "loss is not used by network-partition"},
		"bad peer label":         {"tier: cache", "tier: 'a b'", 10, `is not a label`},
	} {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, strings.Replace(nodeExperiment, tc.from, tc.to, 1), tc.line, tc.want)
		})
	}
}

// wantProblem parses src and expects a problem containing want on line.
func wantProblem(t *testing.T, src string, line int, want string) {
	t.Helper()
	_, err := Parse("x.yml", []byte(src))
	ps, ok := pipelines.AsProblems(err)
	if !ok {
		t.Fatalf("want problems, got %v", err)
	}
	for _, p := range ps {
		if strings.Contains(p.Error(), want) {
			if p.Line != line {
				t.Errorf("%q reported on line %d, want %d", want, p.Line, line)
			}
			return
		}
	}
	t.Fatalf("no problem with %q in:\n%v", want, err)
}
