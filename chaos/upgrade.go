package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"
)

// What an upgrade fault writes on the Deployment it rolls, so that its
// removal (by the workflow or, past Expires, by the Sweeper) can put the
// images back.
const (
	// LabelFault marks an object a fault changed: the sweeper lists by it.
	LabelFault = "chaos.sluice.dev/fault"
	// AnnotationRestore holds the containers' images before the fault
	// (JSON, container name to image).
	AnnotationRestore = "chaos.sluice.dev/restore"
	// AnnotationExpires is when the fault is removed even if no workflow
	// removes it (RFC 3339).
	AnnotationExpires = "chaos.sluice.dev/expires"
	// AnnotationWorkflow names the experiment that injected the fault.
	AnnotationWorkflow = "chaos.sluice.dev/workflow"
)

// deployments are the target's Deployments: those whose pod template the
// Service selects.
func deployments(ctx context.Context, t Target) ([]appsv1.Deployment, error) {
	sel, err := t.Selector(ctx)
	if err != nil {
		return nil, err
	}
	list, err := t.Client.AppsV1().Deployments(t.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Deployments in %s: %w", t.Namespace, err)
	}
	var out []appsv1.Deployment
	for _, d := range list.Items {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no Deployment in %s has pods Service %s selects (an upgrade fault rolls a Deployment)", ErrTarget, t.Namespace, t.Service)
	}
	return out, nil
}

// upgrade rolls the target's Deployments to image. The images they had are
// recorded first, once: a retried injection never records the fault's own
// image as the one to restore.
func upgrade(ctx context.Context, t Target, image, workflowID string, expires time.Time) (string, error) {
	ds, err := deployments(ctx, t)
	if err != nil {
		return "", err
	}
	var names []string
	for _, d := range ds {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := t.Client.AppsV1().Deployments(t.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cur.Annotations[AnnotationRestore] == "" {
				was := map[string]string{}
				for _, c := range cur.Spec.Template.Spec.Containers {
					was[c.Name] = c.Image
				}
				b, _ := json.Marshal(was)
				if cur.Annotations == nil {
					cur.Annotations = map[string]string{}
				}
				if cur.Labels == nil {
					cur.Labels = map[string]string{}
				}
				cur.Annotations[AnnotationRestore] = string(b)
				cur.Annotations[AnnotationWorkflow] = workflowID
				cur.Labels[LabelFault] = "upgrade"
			}
			cur.Annotations[AnnotationExpires] = expires.UTC().Format(time.RFC3339)
			for i := range cur.Spec.Template.Spec.Containers {
				cur.Spec.Template.Spec.Containers[i].Image = image
			}
			_, err = t.Client.AppsV1().Deployments(t.Namespace).Update(ctx, cur, metav1.UpdateOptions{FieldManager: "sluice-chaos"})
			return err
		})
		if err != nil {
			return "", fmt.Errorf("roll Deployment %s/%s to %s: %w", t.Namespace, d.Name, image, err)
		}
		names = append(names, d.Name)
	}
	return fmt.Sprintf("rolling Deployment %s to %s", strings.Join(names, ", "), image), nil
}

// restoreUpgrades puts back the images an upgrade fault recorded on the
// Deployments of namespace and drops its marks: only Deployment name when
// set, and only those the experiment workflowID changed when set (another
// experiment's fault in the same namespace stays). A Deployment without
// the marks is left alone, so removing twice is harmless.
func restoreUpgrades(ctx context.Context, t Target, name, workflowID string) ([]string, error) {
	list, err := t.Client.AppsV1().Deployments(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelFault + "=upgrade"})
	if err != nil {
		return nil, fmt.Errorf("list Deployments in %s: %w", t.Namespace, err)
	}
	var restored []string
	for _, d := range list.Items {
		if (name != "" && d.Name != name) || (workflowID != "" && d.Annotations[AnnotationWorkflow] != workflowID) {
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := t.Client.AppsV1().Deployments(t.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			var was map[string]string
			if raw := cur.Annotations[AnnotationRestore]; raw != "" {
				if err := json.Unmarshal([]byte(raw), &was); err != nil {
					return fmt.Errorf("annotation %s: %w", AnnotationRestore, err)
				}
			}
			for i, c := range cur.Spec.Template.Spec.Containers {
				if img, ok := was[c.Name]; ok {
					cur.Spec.Template.Spec.Containers[i].Image = img
				}
			}
			delete(cur.Annotations, AnnotationRestore)
			delete(cur.Annotations, AnnotationExpires)
			delete(cur.Annotations, AnnotationWorkflow)
			delete(cur.Labels, LabelFault)
			_, err = t.Client.AppsV1().Deployments(t.Namespace).Update(ctx, cur, metav1.UpdateOptions{FieldManager: "sluice-chaos"})
			return err
		})
		if err != nil {
			return restored, fmt.Errorf("restore Deployment %s/%s: %w", t.Namespace, d.Name, err)
		}
		restored = append(restored, d.Name)
	}
	return restored, nil
}
