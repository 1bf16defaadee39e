package chaos

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/contract"
)

// ErrTarget is a target that cannot be experimented on as written (no such
// Service, no pods, nothing to roll): retrying will not help.
var ErrTarget = errors.New("bad chaos target")

// Injector injects and removes faults on one cluster.
type Injector struct {
	Client kubernetes.Interface
	// Power stops and starts nodes (node-down, zone-down); nil: those
	// faults are refused.
	Power NodePower
	// Prior are the pods an earlier attempt of this pod-kill chose (its
	// retry deletes those, never more); Chose is told the pods a pod-kill
	// chose before it deletes any, to be kept for such a retry.
	Prior []string
	Chose func([]string)
}

func (in *Injector) target(f contract.FaultInput) Target {
	return Target{Client: in.Client, Namespace: f.Namespace, Service: f.Service}
}

// Inject applies fault f and says what it did.
func (in *Injector) Inject(ctx context.Context, f contract.FaultInput) (string, error) {
	t := in.target(f)
	switch f.Fault.Kind {
	case contract.FaultPodKill:
		return killPods(ctx, t, f.Fault.Count, f.Fault.Grace, in.Prior, in.Chose)
	case contract.FaultUpgrade:
		return upgrade(ctx, t, f.Fault.Image, f.WorkflowID, f.Expires)
	case contract.FaultNodeDrain:
		return drain(ctx, t, f.Fault, f.WorkflowID, f.Expires)
	case contract.FaultNodeDown, contract.FaultZoneDown:
		return nodeDown(ctx, t, in.Power, f.Fault, f.WorkflowID, f.Expires)
	case contract.FaultNetworkLoss, contract.FaultPartition:
		return networkFault(ctx, t, f.Fault, f.WorkflowID, f.Expires)
	}
	return "", fmt.Errorf("%w: unknown fault kind %q", ErrTarget, f.Fault.Kind)
}

// Remove lifts fault f. It is idempotent, and safe for a fault that was
// never injected.
func (in *Injector) Remove(ctx context.Context, f contract.FaultInput) (string, error) {
	switch f.Fault.Kind {
	case contract.FaultPodKill:
		return "nothing to remove: the workload replaces its pods", nil
	case contract.FaultUpgrade:
		done, err := restoreUpgrades(ctx, in.target(f), "", f.WorkflowID)
		if err != nil {
			return "", err
		}
		if len(done) == 0 {
			return "nothing to restore", nil
		}
		return fmt.Sprintf("restored the images of Deployment %v", done), nil
	case contract.FaultNodeDrain:
		done, err := uncordon(ctx, in.target(f), f.WorkflowID, nil)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("lifted the drain of node %v", done), nil
	case contract.FaultNodeDown, contract.FaultZoneDown:
		done, err := nodesUp(ctx, in.target(f), in.Power, f.Fault.Kind, f.WorkflowID, nil)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("powered on node %v, Ready again", done), nil
	case contract.FaultNetworkLoss, contract.FaultPartition:
		done, err := removeNetworkFault(ctx, in.target(f), f.WorkflowID)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("the agents removed the network rules of pods %v", done), nil
	}
	return "", nil
}
