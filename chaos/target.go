package chaos

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Target is an experiment's Service and the pods behind it.
type Target struct {
	Client    kubernetes.Interface
	Namespace string
	Service   string
}

func (t Target) service(ctx context.Context) (*corev1.Service, error) {
	svc, err := t.Client.CoreV1().Services(t.Namespace).Get(ctx, t.Service, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: Service %s/%s does not exist (check target.namespace and target.service)", ErrTarget, t.Namespace, t.Service)
	}
	if err != nil {
		return nil, fmt.Errorf("read Service %s/%s: %w", t.Namespace, t.Service, err)
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, fmt.Errorf("%w: Service %s/%s has no selector: faults act on the pods it selects", ErrTarget, t.Namespace, t.Service)
	}
	return svc, nil
}

// URL is where the Service answers inside the cluster (its cluster IP and
// port), with path.
func (t Target) URL(ctx context.Context, port int, path string) (string, error) {
	svc, err := t.service(ctx)
	if err != nil {
		return "", err
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return "", fmt.Errorf("%w: Service %s/%s has no cluster IP (a headless Service cannot be probed)", ErrTarget, t.Namespace, t.Service)
	}
	if len(svc.Spec.Ports) == 0 {
		return "", fmt.Errorf("%w: Service %s/%s has no ports", ErrTarget, t.Namespace, t.Service)
	}
	if port == 0 {
		port = int(svc.Spec.Ports[0].Port)
	}
	found := false
	for _, p := range svc.Spec.Ports {
		found = found || int(p.Port) == port
	}
	if !found {
		return "", fmt.Errorf("%w: Service %s/%s has no port %d", ErrTarget, t.Namespace, t.Service, port)
	}
	return "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(port)) + path, nil
}

// Selector is the Service's pod selector.
func (t Target) Selector(ctx context.Context) (labels.Selector, error) {
	svc, err := t.service(ctx)
	if err != nil {
		return nil, err
	}
	return labels.SelectorFromSet(svc.Spec.Selector), nil
}

// Pods are the target's running pods that are not already terminating.
func (t Target) Pods(ctx context.Context) ([]corev1.Pod, error) {
	sel, err := t.Selector(ctx)
	if err != nil {
		return nil, err
	}
	list, err := t.Client.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list the pods of Service %s/%s: %w", t.Namespace, t.Service, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out, nil
}
