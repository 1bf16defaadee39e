package pool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/executor"
)

// LabelJobService marks a job service's pod and Service.
const LabelJobService = "sluice.dev/job-service"

// ErrServiceCannotStart is a job service whose pod cannot run (its image
// cannot be pulled, it crashes).
var ErrServiceCannotStart = errors.New("job service cannot start")

var _ executor.ServiceStarter = (*Executor)(nil)

// StartServices starts each service as a pod and a Service in the pool's
// namespace, owned by the job's pod: when the pod is released (or its
// lease ends and the keeper deletes it) Kubernetes deletes them too, so a
// lost worker leaves nothing behind. It waits until each is ready (its
// first port accepting connections, the Service routing to it). A retried
// attempt finds what the earlier one made.
func (x *Executor) StartServices(ctx context.Context, h executor.Handle, services []contract.StepsService, log io.Writer) (map[string]string, error) {
	if !x.mine(h) {
		return nil, fmt.Errorf("workspace %s is not a pod of pool %q", h, x.Pool.Spec.Name)
	}
	owner, err := x.Pool.pods().Get(ctx, h.Pod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the job's pod %s: %w", h.Pod, err)
	}
	sum := sha256.Sum256([]byte(owner.Name + string(owner.UID)))
	suffix := hex.EncodeToString(sum[:])[:8]
	env := map[string]string{}
	for _, s := range services {
		name := s.Name + "-" + suffix
		if err := x.createService(ctx, owner, name, s); err != nil {
			return nil, err
		}
		e := executor.ServiceEnv(s.Name)
		env[e+"_HOST"] = name
		if len(s.Ports) > 0 {
			env[e+"_PORT"] = strconv.Itoa(s.Ports[0])
		}
	}
	for _, s := range services {
		name := s.Name + "-" + suffix
		if err := x.waitService(ctx, name, len(s.Ports) > 0); err != nil {
			return nil, fmt.Errorf("service %s: %w", s.Name, err)
		}
		if len(s.Ports) > 0 {
			fmt.Fprintf(log, "service %s ready at %s:%d\n", s.Name, name, s.Ports[0])
		} else {
			fmt.Fprintf(log, "service %s running\n", s.Name)
		}
	}
	return env, nil
}

func (x *Executor) createService(ctx context.Context, owner *corev1.Pod, name string, s contract.StepsService) error {
	labels := map[string]string{LabelJobService: name}
	refs := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: owner.Name, UID: owner.UID}}
	c := corev1.Container{Name: s.Name, Image: s.Image}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	for _, p := range s.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: int32(p)})
	}
	if len(s.Ports) > 0 {
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(s.Ports[0])}}, PeriodSeconds: 1}
	}
	no, grace := false, int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: refs},
		Spec: corev1.PodSpec{Containers: []corev1.Container{c}, AutomountServiceAccountToken: &no,
			TerminationGracePeriodSeconds: &grace, RestartPolicy: corev1.RestartPolicyAlways},
	}
	if _, err := x.Pool.pods().Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("start service %s: %w", s.Name, err)
	}
	if len(s.Ports) == 0 {
		return nil
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: refs},
		Spec: corev1.ServiceSpec{Selector: map[string]string{LabelJobService: name}}}
	for _, p := range s.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "p" + strconv.Itoa(p), Port: int32(p), TargetPort: intstr.FromInt(p)})
	}
	if _, err := x.Pool.Client.CoreV1().Services(x.ns()).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("route service %s: %w", s.Name, err)
	}
	return nil
}

// waitService waits until the service's pod is ready and, when it has
// ports, its Service has a ready endpoint; a pod that cannot run fails at
// once with the reason.
func (x *Executor) waitService(ctx context.Context, name string, routed bool) error {
	return wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pod, err := x.Pool.pods().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				switch w.Reason {
				case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff", "CreateContainerConfigError":
					return false, fmt.Errorf("%w: %s: %s", ErrServiceCannotStart, w.Reason, w.Message)
				}
			}
		}
		if !ready(pod) {
			return false, nil
		}
		if !routed {
			return true, nil
		}
		list, err := x.Pool.Client.DiscoveryV1().EndpointSlices(x.ns()).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
		if err != nil {
			return false, err
		}
		for _, sl := range list.Items {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					return true, nil
				}
			}
		}
		return false, nil
	})
}
