package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/contract"
)

// readyPatience bounds how long the removal of a node-down waits for the
// node to report Ready again after it was started.
const readyPatience = 2 * time.Minute

// nodeDown powers off the chosen node, or every node of f.Zone: each node
// is marked (so the removal and the sweeper know to start it again) before
// it is stopped.
func nodeDown(ctx context.Context, t Target, power NodePower, f contract.Fault, workflowID string, expires time.Time) (string, error) {
	if power == nil {
		return "", fmt.Errorf("%w: %w", ErrTarget, ErrNoPower)
	}
	nodes, err := chooseNodes(ctx, t, f.Kind, workflowID, f.Node, f.Zone)
	if err != nil {
		return "", err
	}
	for _, name := range nodes {
		if err := markNode(ctx, t, name, f.Kind, workflowID, expires, nil); err != nil {
			return "", fmt.Errorf("mark node %s: %w", name, err)
		}
	}
	for _, name := range nodes {
		n, err := t.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("read node %s: %w", name, err)
		}
		if err := power.Stop(ctx, Node{Name: name, ProviderID: n.Spec.ProviderID}); err != nil {
			if errors.Is(err, ErrNoPower) {
				err = fmt.Errorf("%w: %w", ErrTarget, err)
			}
			return "", err
		}
	}
	what := "node " + nodes[0]
	if f.Zone != "" {
		what = fmt.Sprintf("zone %s (nodes %s)", f.Zone, strings.Join(nodes, ", "))
	}
	return "powered off " + what, nil
}

// nodesUp starts again the nodes fault kind of experiment workflowID
// powered off (only those only accepts, when set), waits until each is
// Ready, and drops the marks. A node whose start fails keeps its marks, so
// the next removal or the sweeper tries again.
func nodesUp(ctx context.Context, t Target, power NodePower, kind, workflowID string, only func(corev1.Node) bool) ([]string, error) {
	nodes, err := markedNodes(ctx, t, kind, workflowID)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, n := range nodes {
		if only != nil && !only(n) {
			continue
		}
		if power == nil {
			return done, fmt.Errorf("node %s was powered off by a chaos experiment and this worker cannot start it: %w", n.Name, ErrNoPower)
		}
		before := leaseVersion(ctx, t, n.Name)
		if err := power.Start(ctx, Node{Name: n.Name, ProviderID: n.Spec.ProviderID}); err != nil {
			return done, err
		}
		if err := waitBack(ctx, t, n.Name, before); err != nil {
			return done, err
		}
		if err := unmarkNode(ctx, t, n.Name, nil); err != nil {
			return done, fmt.Errorf("unmark node %s: %w", n.Name, err)
		}
		done = append(done, n.Name)
	}
	return done, nil
}

// leaseVersion is the resource version of the node's heartbeat Lease
// ("" when it has none).
func leaseVersion(ctx context.Context, t Target, name string) string {
	l, err := t.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return l.ResourceVersion
}

// waitBack waits until node's kubelet is back: its Lease renewed since
// before it was started (a node that was off only briefly may still show
// the Ready of before) and the node Ready; at most readyPatience.
func waitBack(ctx context.Context, t Target, name, before string) error {
	deadline := time.Now().Add(readyPatience)
	for {
		n, err := t.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil && nodeReady(n) && (before == "" || leaseVersion(ctx, t, name) != before) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s was started but is not Ready after %s (check its kubelet)", name, readyPatience)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
