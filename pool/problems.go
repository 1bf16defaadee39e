package pool

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// waitingReasons are container states that will not fix themselves soon:
// a claim that finds only such pods fails at once with the reason, instead
// of waiting for a timeout.
var waitingReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "CrashLoopBackOff": true,
	"RunContainerError": true,
}

// problem is why a pool pod cannot become Ready, in Kubernetes' words, or
// "" while it may still.
func problem(p *corev1.Pod) string {
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return fmt.Sprintf("pod %s ended (%s): %s", p.Name, p.Status.Phase, p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && waitingReasons[w.Reason] {
			return fmt.Sprintf("pod %s: %s: %s", p.Name, w.Reason, w.Message)
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("pod %s: container exited (%s, code %d)", p.Name, t.Reason, t.ExitCode)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return fmt.Sprintf("pod %s: Unschedulable: %s", p.Name, c.Message)
		}
	}
	return ""
}
