package environments

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Service is a dependency of the application started in its test
// environment (a database, a queue): a Deployment and a Service of the
// same name, so the application reaches it as <name>:<port>.
type Service struct {
	Name  string
	Image string
	Ports []int
	Env   map[string]string
}

// StartServices starts the services in ns and waits until each is ready
// (its first port accepting connections) and routed (the Service has a
// ready endpoint). A service that cannot start fails with ErrCannotRun.
func (c *Cluster) StartServices(ctx context.Context, ns, run string, services []Service, log io.Writer) error {
	if len(services) == 0 {
		return nil
	}
	var objs []*unstructured.Unstructured
	for _, s := range services {
		objs = append(objs, serviceObjects(s)...)
	}
	deps, err := c.ApplyObjects(ctx, ns, map[string]string{LabelRun: LabelValue(run)}, objs, log)
	if err != nil {
		return err
	}
	if err := c.WaitWorkloads(ctx, ns, deps, log); err != nil {
		return err
	}
	for _, s := range services {
		if len(s.Ports) == 0 {
			continue
		}
		if err := c.WaitEndpoints(ctx, ns, s.Name); err != nil {
			return err
		}
		fmt.Fprintf(log, "service %s ready at %s:%d\n", s.Name, s.Name, s.Ports[0])
	}
	return nil
}

func serviceObjects(s Service) []*unstructured.Unstructured {
	labels := map[string]any{"sluice.dev/service": s.Name}
	container := map[string]any{"name": s.Name, "image": s.Image}
	var env []any
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, map[string]any{"name": k, "value": s.Env[k]})
	}
	if len(env) > 0 {
		container["env"] = env
	}
	var cports, sports []any
	for _, p := range s.Ports {
		cports = append(cports, map[string]any{"containerPort": int64(p)})
		sports = append(sports, map[string]any{"name": fmt.Sprintf("p%d", p), "port": int64(p), "targetPort": int64(p)})
	}
	if len(cports) > 0 {
		container["ports"] = cports
		container["readinessProbe"] = map[string]any{"tcpSocket": map[string]any{"port": int64(s.Ports[0])}, "periodSeconds": int64(1)}
	}
	out := []*unstructured.Unstructured{{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": s.Name},
		"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{
					"automountServiceAccountToken": false, "terminationGracePeriodSeconds": int64(1),
					"containers": []any{container},
				},
			},
		},
	}}}
	if len(sports) > 0 {
		out = append(out, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": s.Name},
			"spec": map[string]any{"selector": labels, "ports": sports},
		}})
	}
	return out
}

// WaitEndpoints waits until a Service routes only to what it selects now:
// at least one ready endpoint, none terminating (an old pod of a rollout),
// and every endpoint a pod that matches the Service's selector (after a
// selector change, the old pods leave the endpoints a moment later). Even
// then kube-proxy may route the old way for a moment: clients should retry
// their first connection.
func (c *Cluster) WaitEndpoints(ctx context.Context, ns, svc string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last string
	var selector string // the Service's pod selector, read once
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if selector == "" {
			s, err := c.Client.CoreV1().Services(ns).Get(ctx, svc, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			if selector = labels.SelectorFromSet(s.Spec.Selector).String(); selector == "" {
				selector = labels.Everything().String()
			}
		}
		// one list of the selected pods per poll, not a read per endpoint
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		selected := map[string]bool{}
		for _, p := range pods.Items {
			selected[p.Name] = true
		}
		slices, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := false
		for _, sl := range slices.Items {
			for _, e := range sl.Endpoints {
				if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
					last = "an endpoint is terminating"
					return false, nil
				}
				if e.TargetRef != nil && e.TargetRef.Kind == "Pod" && !selected[e.TargetRef.Name] {
					last = "endpoint " + e.TargetRef.Name + " is no longer selected"
					return false, nil
				}
				ready = ready || (e.Conditions.Ready != nil && *e.Conditions.Ready)
			}
		}
		if !ready {
			last = "no ready endpoint"
		}
		return ready, nil
	})
	if err != nil {
		return fmt.Errorf("service %s is not routed (%s): %w", svc, last, err)
	}
	return nil
}
