package environments

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestPointSecrets: every way a pod names a Secret — env's secretKeyRef,
// envFrom's secretRef, a secret volume, a projected volume's secret
// source, in a Deployment or a CronJob — is pointed at the release's
// Secret when it names sluice-secrets, and left alone when it names
// another.
func TestPointSecrets(t *testing.T) {
	doc := `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: c
              env:
                - {name: A, valueFrom: {secretKeyRef: {name: sluice-secrets, key: A}}}
                - {name: B, valueFrom: {secretKeyRef: {name: their-own, key: B}}}
              envFrom: [{secretRef: {name: sluice-secrets}}]
          volumes:
            - {name: v, secret: {secretName: sluice-secrets}}
            - name: p
              projected: {sources: [{secret: {name: sluice-secrets}}, {secret: {name: their-own}}]}
`
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	if n := PointSecrets([]*unstructured.Unstructured{u}, "rel-v3-secrets"); n != 4 {
		t.Errorf("pointed %d references, want 4", n)
	}
	out, _ := yaml.Marshal(u.Object)
	if strings.Contains(string(out), AppSecret) || strings.Count(string(out), "rel-v3-secrets") != 4 || strings.Count(string(out), "their-own") != 2 {
		t.Fatalf("%s", out)
	}
}
