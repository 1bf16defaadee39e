package environments

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"

	"github.com/sluice-cd/sluice/deploy"
)

// AppSecret is the Secret an application's manifests name for the
// project's secrets its spec gives it (deploy.secrets in a test
// environment or staging, production.secrets in production): in a test
// environment Sluice makes it under this name; a release makes one of its
// own and points the manifests' references at it (PointSecrets).
const AppSecret = deploy.AppSecret

// PutSecret makes Secret name in ns holding data (by key), labelled with
// run and owned by owner (nil: by nothing; a test environment's goes with
// its namespace), or brings an existing one's data up to date.
func (c *Cluster) PutSecret(ctx context.Context, ns, name, run string, data map[string]string, owner *metav1.OwnerReference) error {
	bytes := make(map[string][]byte, len(data))
	for k, v := range data {
		bytes[k] = []byte(v)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelRun: LabelValue(run), LabelManagedBy: "sluice"}},
		Type:       corev1.SecretTypeOpaque, Data: bytes,
	}
	if owner != nil {
		sec.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	api := c.Client.CoreV1().Secrets(ns)
	_, err := api.Create(ctx, sec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// an earlier attempt's: its values may be older
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := api.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Data, cur.Labels, cur.OwnerReferences = sec.Data, sec.Labels, sec.OwnerReferences
			_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("secret %s in %s: %w", name, ns, err)
	}
	return nil
}

// PointSecrets points the objects' references to AppSecret at name
// instead — env's secretKeyRef, envFrom's secretRef, secret volumes and
// projected volumes' secret sources — and returns how many it changed.
func PointSecrets(objs []*unstructured.Unstructured, name string) int {
	n := 0
	for _, o := range objs {
		n += pointSecrets(o.Object, name)
	}
	return n
}

func pointSecrets(v any, name string) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		for key, sub := range v {
			if ref, ok := sub.(map[string]any); ok {
				switch key {
				case "secretKeyRef", "secretRef":
					n += rename(ref, "name", name)
				case "secret":
					n += rename(ref, "secretName", name) + rename(ref, "name", name)
				}
			}
			n += pointSecrets(sub, name)
		}
	case []any:
		for _, sub := range v {
			n += pointSecrets(sub, name)
		}
	}
	return n
}

func rename(ref map[string]any, field, name string) int {
	if ref[field] == AppSecret {
		ref[field] = name
		return 1
	}
	return 0
}
