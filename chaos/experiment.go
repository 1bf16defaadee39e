// Package chaos runs chaos experiments against a Kubernetes workload: it
// reads experiment files, probes the target, injects faults and removes
// them, and sweeps away faults whose experiment is gone. It does not know
// Temporal: the Chaos workflow drives it through thin activities.
package chaos

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
)

// experimentFile is an experiment as written in YAML.
type experimentFile struct {
	Version int    `yaml:"version"`
	Name    string `yaml:"name"`
	Target  struct {
		Namespace string `yaml:"namespace"`
		Service   string `yaml:"service"`
		Port      int    `yaml:"port"`
	} `yaml:"target"`
	Probe struct {
		Path    string             `yaml:"path"`
		Rate    int                `yaml:"rate"`
		Timeout pipelines.Duration `yaml:"timeout"`
	} `yaml:"probe"`
	SteadyState pipelines.Duration `yaml:"steady-state"`
	Recovery    pipelines.Duration `yaml:"recovery"`
	SLO         struct {
		MaxErrorWindow *pipelines.Duration `yaml:"max-error-window"`
		MaxP99         pipelines.Duration  `yaml:"max-p99"`
	} `yaml:"slo"`
	Faults []struct {
		Kind     string              `yaml:"kind"`
		Duration pipelines.Duration  `yaml:"duration"`
		Count    int                 `yaml:"count"`
		Grace    *pipelines.Duration `yaml:"grace"`
		Image    string              `yaml:"image"`
		Node     string              `yaml:"node"`
		Zone     string              `yaml:"zone"`
		Scope    string              `yaml:"scope"`
		Loss     int                 `yaml:"loss"`
		Peers    map[string]string   `yaml:"peers"`
		TTL      pipelines.Duration  `yaml:"ttl"`
	} `yaml:"faults"`
	Alerts struct {
		Expect []struct {
			Name     string             `yaml:"name"`
			Labels   map[string]string  `yaml:"labels"`
			Receiver string             `yaml:"receiver"`
			Within   pipelines.Duration `yaml:"within"`
		} `yaml:"expect"`
		Forbid           []string `yaml:"forbid"`
		MaxNotifications int      `yaml:"max-notifications"`
	} `yaml:"alerts"`
}

// Bounds of what an experiment may ask for.
const (
	MaxRate       = 200
	MaxFaults     = 20
	MaxFaultHold  = time.Hour
	defaultRate   = 20
	defaultWindow = 10 * time.Second
)

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// nodeName is a DNS subdomain, as node names are
	nodeName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	// labelPart is a label name (optionally prefixed)
	labelPart = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	// zoneName is a label value
	zoneName = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	imageRef = regexp.MustCompile(`^[a-z0-9]+([._:/-][a-zA-Z0-9]+)*(@sha256:[a-f0-9]{64})?$`)
)

// Load reads and parses an experiment file.
func Load(path string) (*contract.Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(filepath.Base(path), data)
}

// Parse decodes, defaults and validates an experiment. Every problem is
// reported with its line, as pipelines.Problems.
func Parse(file string, data []byte) (*contract.Experiment, error) {
	var f experimentFile
	doc := pipelines.DecodeDocument(file, data, &f, "experiment",
		"start with `version: 1`, a `target:` (namespace, service) and a list of `faults:`")
	if doc.Failed() {
		return nil, doc.Err()
	}
	e := &contract.Experiment{
		Name: f.Name, File: file, Namespace: f.Target.Namespace, Service: f.Target.Service, Port: f.Target.Port,
		Path: f.Probe.Path, Rate: f.Probe.Rate, ProbeTimeout: f.Probe.Timeout.D(),
		SteadyState: f.SteadyState.D(), Recovery: f.Recovery.D(),
		SLO: contract.SLO{MaxP99: f.SLO.MaxP99.D()},
	}
	if f.Version != 1 {
		doc.Errorf("version", "write `version: 1`", "version must be 1, found %d", f.Version)
	}
	if e.Name == "" {
		e.Name = trimExt(file)
	}
	if !dnsLabel.MatchString(e.Namespace) {
		doc.Errorf("target.namespace", "the namespace the target runs in", "target.namespace %q is not a Kubernetes namespace name", e.Namespace)
	}
	if !dnsLabel.MatchString(e.Service) {
		doc.Errorf("target.service", "the Service in front of the target: it is probed, and its selector picks the pods faults act on", "target.service %q is not a Service name", e.Service)
	}
	if e.Port < 0 || e.Port > 65535 {
		doc.Errorf("target.port", "a port of the Service, or leave it out for its first", "target.port %d is not a port", e.Port)
	}
	if e.Path == "" {
		e.Path = "/"
	} else if e.Path[0] != '/' {
		doc.Errorf("probe.path", `write an absolute path such as "/healthz"`, "probe.path %q must start with /", e.Path)
	}
	switch {
	case e.Rate == 0:
		e.Rate = defaultRate
	case e.Rate < 1 || e.Rate > MaxRate:
		doc.Errorf("probe.rate", fmt.Sprintf("between 1 and %d requests per second", MaxRate), "probe.rate %d is out of range", e.Rate)
	}
	if e.ProbeTimeout == 0 {
		e.ProbeTimeout = time.Second
	}
	if e.SteadyState == 0 {
		e.SteadyState = defaultWindow
	}
	if e.Recovery == 0 {
		e.Recovery = defaultWindow
	}
	if f.SLO.MaxErrorWindow == nil {
		doc.Errorf("slo.max-error-window", `say how long the target may fail requests, e.g. "2m" (or "0s": never)`, "slo.max-error-window is required")
	} else {
		e.SLO.MaxErrorWindow = f.SLO.MaxErrorWindow.D()
	}
	if len(f.Faults) == 0 {
		doc.Errorf("faults", "list at least one fault, e.g. `- {kind: pod-kill, duration: 30s}`", "an experiment needs faults")
	}
	if len(f.Faults) > MaxFaults {
		doc.Errorf("faults", "split the experiment", "at most %d faults, found %d", MaxFaults, len(f.Faults))
	}
	for i, ff := range f.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		fault := contract.Fault{Kind: ff.Kind, Duration: ff.Duration.D(), Count: ff.Count, Image: ff.Image,
			Node: ff.Node, Zone: ff.Zone, Scope: ff.Scope, Loss: ff.Loss, TTL: ff.TTL.D()}
		for _, k := range slices.Sorted(maps.Keys(ff.Peers)) {
			fault.Peers = append(fault.Peers, contract.Label{Name: k, Value: ff.Peers[k]})
		}
		if fault.TTL != 0 && fault.TTL <= fault.Duration {
			doc.Errorf(p+".ttl", "the TTL bounds a fault that nothing removed: leave it out (duration + 2m) or make it longer than the duration", "%s.ttl %s is not longer than its duration %s", p, fault.TTL, fault.Duration)
		}
		if ff.Grace != nil {
			g := ff.Grace.D()
			fault.Grace = &g
		}
		if fault.Duration <= 0 || fault.Duration > MaxFaultHold {
			doc.Errorf(p+".duration", `how long the fault is held, e.g. "30s" (at most 1h)`, "%s.duration must be between 1s and 1h", p)
		}
		if ff.Kind != contract.FaultPodKill && ff.Kind != contract.FaultNodeDrain && ff.Grace != nil {
			doc.Errorf(p+".grace", "grace belongs to pod-kill", "%s.grace is not used by %s", p, ff.Kind)
		}
		if ff.Node != "" && !nodeName.MatchString(ff.Node) {
			doc.Errorf(p+".node", "a node's name as `kubectl get nodes` lists it", "%s.node %q is not a node name", p, ff.Node)
		}
		if ff.Node != "" && ff.Kind != contract.FaultNodeDrain && ff.Kind != contract.FaultNodeDown {
			doc.Errorf(p+".node", "node belongs to node-drain and node-down", "%s.node is not used by %s", p, ff.Kind)
		}
		if ff.Zone != "" && ff.Kind != contract.FaultZoneDown {
			doc.Errorf(p+".zone", "zone belongs to zone-down", "%s.zone is not used by %s", p, ff.Kind)
		}
		if ff.Scope != "" && ff.Kind != contract.FaultNodeDrain {
			doc.Errorf(p+".scope", "scope belongs to node-drain", "%s.scope is not used by %s", p, ff.Kind)
		}
		if ff.Kind != contract.FaultPodKill && ff.Count != 0 {
			doc.Errorf(p+".count", "count belongs to pod-kill", "%s.count is not used by %s", p, ff.Kind)
		}
		if ff.Kind != contract.FaultNetworkLoss && ff.Loss != 0 {
			doc.Errorf(p+".loss", "loss belongs to network-loss", "%s.loss is not used by %s", p, ff.Kind)
		}
		if ff.Kind != contract.FaultPartition && len(ff.Peers) > 0 {
			doc.Errorf(p+".peers", "peers belong to network-partition", "%s.peers is not used by %s", p, ff.Kind)
		}
		if ff.Kind != contract.FaultUpgrade && ff.Image != "" {
			doc.Errorf(p+".image", "only an upgrade takes an image", "%s.image is not used by %s", p, ff.Kind)
		}
		switch ff.Kind {
		case contract.FaultPodKill:
			if fault.Count == 0 {
				fault.Count = 1
			}
			if fault.Count < 0 {
				doc.Errorf(p+".count", "how many pods to kill", "%s.count must be positive", p)
			}
		case contract.FaultUpgrade:
			if !imageRef.MatchString(ff.Image) {
				doc.Errorf(p+".image", "the image the target is rolled to, e.g. registry/app@sha256:...", "%s.image %q is not an image reference", p, ff.Image)
			}
		case contract.FaultNodeDrain:
			switch ff.Scope {
			case "":
				fault.Scope = contract.DrainNamespace
			case contract.DrainNamespace, contract.DrainNode:
			default:
				doc.Errorf(p+".scope", "namespace (the target's pods; the default) or node (every pod, as kubectl drain)", "%s.scope %q is not a drain scope", p, ff.Scope)
			}
		case contract.FaultNodeDown:
		case contract.FaultNetworkLoss:
			if ff.Loss < 1 || ff.Loss > 100 {
				doc.Errorf(p+".loss", "the percentage of packets the target's pods send that are dropped, 1 to 100", "%s.loss must be between 1 and 100, found %d", p, ff.Loss)
			}
		case contract.FaultPartition:
			for k, v := range ff.Peers {
				if !labelPart.MatchString(k) || (v != "" && !zoneName.MatchString(v)) {
					doc.Errorf(p+".peers", "labels of the pods to cut the target off from, e.g. {app: redis}", "%s.peers: %q: %q is not a label", p, k, v)
				}
			}
		case contract.FaultZoneDown:
			if ff.Zone == "" {
				doc.Errorf(p+".zone", "the zone whose nodes go down (their "+LabelZone+" label)", "%s: zone-down needs a zone", p)
			} else if !zoneName.MatchString(ff.Zone) {
				doc.Errorf(p+".zone", "a value of the nodes' "+LabelZone+" label", "%s.zone %q is not a zone name", p, ff.Zone)
			}
		default:
			doc.Errorf(p+".kind", "one of: pod-kill, upgrade, node-drain, node-down, zone-down, network-loss, network-partition", "unknown fault kind %q", ff.Kind)
		}
		e.Faults = append(e.Faults, fault)
	}
	for i, x := range f.Alerts.Expect {
		p := fmt.Sprintf("alerts.expect[%d]", i)
		if x.Name == "" {
			doc.Errorf(p+".name", "the alert's name (its alertname label)", "%s needs a name", p)
		}
		if x.Within <= 0 {
			doc.Errorf(p+".within", `how soon after the first fault it must fire, e.g. "1m"`, "%s.within is required", p)
		}
		var labels []contract.Label
		for _, k := range slices.Sorted(maps.Keys(x.Labels)) {
			labels = append(labels, contract.Label{Name: k, Value: x.Labels[k]})
		}
		e.Alerts.Expect = append(e.Alerts.Expect, contract.ExpectedAlert{Name: x.Name, Labels: labels, Receiver: x.Receiver, Within: x.Within.D()})
	}
	e.Alerts.Forbid = f.Alerts.Forbid
	if f.Alerts.MaxNotifications < 0 {
		doc.Errorf("alerts.max-notifications", "at most this many firing notifications; leave it out for no bound", "alerts.max-notifications must not be negative")
	}
	e.Alerts.MaxNotifications = f.Alerts.MaxNotifications
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return e, nil
}

func trimExt(file string) string {
	return strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
}
