package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sluice-cd/sluice/contract"
)

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

const app = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, annotations: {sluice.dev/source: "k8s/app.yaml:3"}}
spec:
  template:
    spec:
      %s
      containers:
      - name: app
        image: registry.acme/pay/app@sha256:0000
        %s
`

func deployment(t *testing.T, pod, container string) *unstructured.Unstructured {
	return object(t, strings.Replace(strings.Replace(app, "%s", pod, 1), "%s", container, 1))
}

// TestCheck holds manifests to a guard: each refusal names the object and
// where it was read, and a manifest within the guard passes.
func TestCheck(t *testing.T) {
	restricted := `securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}`
	cases := []struct {
		name  string
		guard contract.Guard
		ns    string
		objs  []*unstructured.Unstructured
		// refused: a part of the refusal; "" means allowed
		refused string
	}{
		{"a plain deployment", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "", "")}, ""},
		{"kube-system", contract.Guard{}, "kube-system", []*unstructured.Unstructured{deployment(t, "", "")}, "namespace kube-system belongs to the cluster"},
		{"default, the policy silent", contract.Guard{}, "default", []*unstructured.Unstructured{deployment(t, "", "")}, "namespace default is shared"},
		{"default, listed by the policy", contract.Guard{Namespaces: []string{"default"}}, "default", []*unstructured.Unstructured{deployment(t, "", "")}, ""},
		{"an unlisted namespace", contract.Guard{Namespaces: []string{"pay-prod"}}, "other", []*unstructured.Unstructured{deployment(t, "", "")}, "namespace other is not one the policy allows"},
		{"privileged", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "", "securityContext: {privileged: true}")}, "Deployment app (k8s/app.yaml:3): container app: is privileged"},
		{"hostPath", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "volumes: [{name: root, hostPath: {path: /}}]", "")}, "hostPath volume root"},
		{"hostNetwork", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "hostNetwork: true", "")}, "sets hostNetwork"},
		{"hostPID", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "hostPID: true", "")}, "sets hostPID"},
		{"an added capability", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "", "securityContext: {capabilities: {add: [SYS_ADMIN]}}")}, "adds capability SYS_ADMIN"},
		{"hostPort", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "", "ports: [{containerPort: 80, hostPort: 80}]")}, "hostPort 80"},
		{"privileged where the policy allows it", contract.Guard{PodSecurity: contract.PodPrivileged}, "app",
			[]*unstructured.Unstructured{deployment(t, "hostNetwork: true", "securityContext: {privileged: true}")}, ""},
		{"restricted needs non-root", contract.Guard{PodSecurity: contract.PodRestricted}, "app", []*unstructured.Unstructured{deployment(t, "", "")}, "allowPrivilegeEscalation: false"},
		{"restricted, satisfied", contract.Guard{PodSecurity: contract.PodRestricted}, "app", []*unstructured.Unstructured{deployment(t, "", restricted)}, ""},
		{"a RoleBinding to cluster-admin", contract.Guard{}, "app", []*unstructured.Unstructured{object(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: everything}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: default, namespace: app}]`)}, "RoleBinding everything: grants the ClusterRole cluster-admin"},
		{"a RoleBinding to an allowed ClusterRole", contract.Guard{ClusterRoles: []string{"view"}}, "app", []*unstructured.Unstructured{object(t, `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}`)}, ""},
		{"a service account token asked for", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "automountServiceAccountToken: true", "")}, "asks for a service account token"},
		{"a projected token", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "volumes: [{name: t, projected: {sources: [{serviceAccountToken: {path: token}}]}}]", "")}, "projected serviceAccountToken"},
		{"a token where the policy allows it", contract.Guard{ServiceAccountTokens: true}, "app", []*unstructured.Unstructured{deployment(t, "automountServiceAccountToken: true", "")}, ""},
		{"an image from another registry", contract.Guard{Registries: []string{"registry.acme/pay"}}, "app",
			[]*unstructured.Unstructured{deployment(t, "", ""), object(t, "{apiVersion: v1, kind: Pod, metadata: {name: db}, spec: {containers: [{name: db, image: evil.example/db}]}}")}, "Pod db: container db: image evil.example/db is not from a registry"},
		{"a tag where the policy wants digests", contract.Guard{PinnedImages: true}, "app",
			[]*unstructured.Unstructured{object(t, "{apiVersion: v1, kind: Pod, metadata: {name: db}, spec: {containers: [{name: db, image: registry.acme/pay/db:15}]}}")}, "Pod db: container db: image registry.acme/pay/db:15 is not pinned by digest"},
		{"a digest where the policy wants digests", contract.Guard{PinnedImages: true}, "app",
			[]*unstructured.Unstructured{object(t, "{apiVersion: v1, kind: Pod, metadata: {name: db}, spec: {containers: [{name: db, image: registry.acme/pay/db@sha256:"+strings.Repeat("ab", 32)+"}]}}")}, ""},
		{"externalIPs", contract.Guard{}, "app", []*unstructured.Unstructured{object(t, "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {externalIPs: [1.2.3.4]}}")}, "externalIPs"},
		{"the project's secrets", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t,
			"volumes: [{name: s, secret: {secretName: sluice-secrets}}, {name: p, projected: {sources: [{secret: {name: sluice-secrets}}]}}]",
			"envFrom: [{secretRef: {name: sluice-secrets}}]\n        env: [{name: A, valueFrom: {secretKeyRef: {name: sluice-secrets, key: a}}}, {name: B, valueFrom: {secretKeyRef: {name: own, key: b}}}]")}, ""},
		{"another release's Secret by env", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "",
			"env: [{name: A, valueFrom: {secretKeyRef: {name: sluice-release-billing-v3-secrets, key: a}}}]")}, "Deployment app (k8s/app.yaml:3): names the Secret sluice-release-billing-v3-secrets, which Sluice keeps for itself"},
		{"a suite's Secret by envFrom", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t, "",
			"envFrom: [{secretRef: {name: sluice-smoke-secrets}}]")}, "names the Secret sluice-smoke-secrets"},
		{"another release's Secret as a volume", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t,
			"volumes: [{name: s, secret: {secretName: sluice-release-billing-v3-secrets}}]", "")}, "names the Secret sluice-release-billing-v3-secrets"},
		{"another release's Secret projected", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t,
			"volumes: [{name: p, projected: {sources: [{secret: {name: sluice-release-billing-v3-secrets}}]}}]", "")}, "names the Secret sluice-release-billing-v3-secrets"},
		{"a Secret of Sluice's to pull with", contract.Guard{}, "app", []*unstructured.Unstructured{deployment(t,
			"imagePullSecrets: [{name: sluice-release-billing-v3-secrets}]", "")}, "names the Secret sluice-release-billing-v3-secrets"},
		{"a Secret under Sluice's name", contract.Guard{}, "app", []*unstructured.Unstructured{object(t,
			"{apiVersion: v1, kind: Secret, metadata: {name: sluice-release-billing-v3-secrets}, stringData: {a: b}}")}, `Secret sluice-release-billing-v3-secrets: names starting with "sluice-" are kept`},
		{"a forged release record", contract.Guard{}, "app", []*unstructured.Unstructured{object(t,
			"{apiVersion: v1, kind: ConfigMap, metadata: {name: pay-v9, labels: {sluice.dev/release: pay}}}")}, "ConfigMap pay-v9: label sluice.dev/release is kept"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.guard, tc.ns, tc.objs)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("got %v, want a refusal with %q", err, tc.refused)
			}
		})
	}
}

// TestApplyTimeSecrets: once Sluice has pointed a release's references at
// its own Secret, the apply-time check lets that name through, and only
// the names the context allows.
func TestApplyTimeSecrets(t *testing.T) {
	objs := func() []*unstructured.Unstructured {
		return []*unstructured.Unstructured{deployment(t, "", "envFrom: [{secretRef: {name: sluice-release-pay-v2-secrets}}]")}
	}
	if err := Check(contract.Guard{}, "app", objs()); !errors.Is(err, ErrRefused) {
		t.Fatalf("a commit's manifests naming a release's Secret: got %v, want a refusal", err)
	}
	if err := check(contract.Guard{}, "app", objs(), false, ownSecrets(context.Background())); !errors.Is(err, ErrRefused) {
		t.Fatalf("applied without an allowance: got %v, want a refusal", err)
	}
	ctx := WithSecrets(context.Background(), func(name string) bool { return name == "sluice-release-pay-v2-secrets" })
	if err := check(contract.Guard{}, "app", objs(), false, ownSecrets(ctx)); err != nil {
		t.Fatalf("applied with its release's allowance: %v", err)
	}
}

// TestCheckTurnsTokensOff: a pod that does not say gets no token where the
// policy allows none, and keeps the default where it does.
func TestCheckTurnsTokensOff(t *testing.T) {
	d := deployment(t, "", "")
	if err := Check(contract.Guard{}, "app", []*unstructured.Unstructured{d}); err != nil {
		t.Fatal(err)
	}
	if v, found, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "automountServiceAccountToken"); !found || v {
		t.Fatalf("automountServiceAccountToken %v (set: %v)", v, found)
	}
	d = deployment(t, "", "")
	if err := Check(contract.Guard{ServiceAccountTokens: true}, "app", []*unstructured.Unstructured{d}); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "automountServiceAccountToken"); found {
		t.Fatal("set where tokens are allowed")
	}
}
