package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-cd/sluice/contract"
)

// AnnotationSource is where an object was read ("k8s/app.yaml:12"), for
// refusals; it is not applied.
const AnnotationSource = "sluice.dev/source"

type guardKey struct{}

// WithGuard makes g the guard of every apply made with ctx. An apply
// without one is held to the zero Guard's defaults.
func WithGuard(ctx context.Context, g contract.Guard) context.Context {
	return context.WithValue(ctx, guardKey{}, g)
}

// GuardOf is the guard WithGuard put into ctx, else the zero Guard.
func GuardOf(ctx context.Context) contract.Guard {
	g, _ := ctx.Value(guardKey{}).(contract.Guard)
	return g
}

// podSpecPaths are where workload kinds keep their pod spec.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
	"PodTemplate": {"template", "spec"},
}

// PodSpecPath is where an object of kind keeps its pod spec.
func PodSpecPath(kind string) ([]string, bool) {
	p, ok := podSpecPaths[kind]
	return p, ok
}

// SystemNamespace tells whether ns is the cluster's own (kube-system,
// kube-public, kube-node-lease and any other kube-*): no environment may
// be there.
func SystemNamespace(ns string) bool { return strings.HasPrefix(ns, "kube-") }

// CheckNamespace refuses a target namespace the guard does not allow: the
// cluster's own, "default" unless the policy lists it (it is everyone's,
// so a spec naming it reached whatever else runs there), and any other
// namespace when the policy lists some.
func CheckNamespace(g contract.Guard, ns string) error {
	if SystemNamespace(ns) {
		return fmt.Errorf("%w: namespace %s belongs to the cluster; an environment may never be there: name the environment's own namespace", ErrRefused, ns)
	}
	if ns == "default" && !slices.Contains(g.Namespaces, ns) {
		return fmt.Errorf("%w: namespace default is shared by everything in the cluster; an environment may be there only when its project's policy lists it: name the environment's own namespace", ErrRefused)
	}
	if len(g.Namespaces) > 0 && !slices.Contains(g.Namespaces, ns) {
		return fmt.Errorf("%w: namespace %s is not one the policy allows this environment (%s)", ErrRefused, ns, strings.Join(g.Namespaces, ", "))
	}
	return nil
}

// AppSecret is the one Secret of Sluice's that an application's manifests
// may name: the project's secrets its spec gives the application.
const AppSecret = "sluice-secrets"

// reservedName and reservedLabel mark what Sluice makes in an
// environment's namespace: release records, the Secrets of releases and of
// integration suites. Manifests may not make such objects, nor name such
// Secrets: in a namespace several pipelines or projects share, that would
// read another's secrets or forge its release history.
const (
	reservedName  = "sluice-"
	reservedLabel = "sluice.dev/"
)

type secretsKey struct{}

// WithSecrets lets the applies made with ctx name, besides AppSecret, the
// Secrets of Sluice's that own allows: a pipeline's releases', which
// their manifests' references to AppSecret were pointed at.
func WithSecrets(ctx context.Context, own func(name string) bool) context.Context {
	return context.WithValue(ctx, secretsKey{}, own)
}

func ownSecrets(ctx context.Context) func(string) bool {
	if own, ok := ctx.Value(secretsKey{}).(func(string) bool); ok {
		return own
	}
	return func(string) bool { return false }
}

// Check holds a commit's manifests to the guard for namespace ns: the
// namespace itself, names and labels Sluice keeps for its own objects,
// Secrets of Sluice's other than AppSecret, RoleBindings granting a
// ClusterRole, pods beyond the Pod Security level, images from other
// registries, service account tokens. A pod spec that does not say whether
// it mounts a token is given automountServiceAccountToken: false when
// tokens are not allowed. The first refusal names the object and where it
// was read.
func Check(g contract.Guard, ns string, objs []*unstructured.Unstructured) error {
	return check(g, ns, objs, true, ownSecrets(context.Background()))
}

// check is Check; manifests says the objects are a commit's as read, not
// yet labelled by Sluice, and own tells the further Secrets they may name.
func check(g contract.Guard, ns string, objs []*unstructured.Unstructured, manifests bool, own func(string) bool) error {
	if err := CheckNamespace(g, ns); err != nil {
		return err
	}
	for _, o := range objs {
		err := checkSecrets(o.Object, own)
		if err == nil && manifests {
			err = checkReserved(o)
		}
		if err == nil {
			err = checkObject(g, o)
		}
		if err != nil {
			return fmt.Errorf("%w: %s %s%s: %w", ErrRefused, o.GetKind(), o.GetName(), sourceOf(o), err)
		}
	}
	return nil
}

// checkReserved refuses an object that would pass for one of Sluice's.
func checkReserved(o *unstructured.Unstructured) error {
	if strings.HasPrefix(o.GetName(), reservedName) {
		return fmt.Errorf("names starting with %q are kept for the objects Sluice makes in the namespace (release records, Secrets); rename it", reservedName)
	}
	for _, k := range slices.Sorted(maps.Keys(o.GetLabels())) {
		if strings.HasPrefix(k, reservedLabel) {
			return fmt.Errorf("label %s is kept for the objects Sluice makes; remove it", k)
		}
	}
	return nil
}

// checkSecrets refuses a reference to a Secret of Sluice's other than
// AppSecret and those own allows, wherever a pod or object can name one: env's
// secretKeyRef, envFrom's and volume plugins' secretRef, secret volumes,
// projected secrets, image pull secrets.
func checkSecrets(v any, own func(string) bool) error {
	switch v := v.(type) {
	case map[string]any:
		for _, key := range slices.Sorted(maps.Keys(v)) {
			sub := v[key]
			var names []any
			switch ref, _ := sub.(map[string]any); key {
			case "secretKeyRef", "secretRef":
				names = []any{ref["name"]}
			case "secret":
				names = []any{ref["secretName"], ref["name"]}
			case "imagePullSecrets":
				list, _ := sub.([]any)
				for _, e := range list {
					if m, ok := e.(map[string]any); ok {
						names = append(names, m["name"])
					}
				}
			}
			for _, n := range names {
				if name, _ := n.(string); strings.HasPrefix(name, reservedName) && name != AppSecret && !own(name) {
					return fmt.Errorf("names the Secret %s, which Sluice keeps for itself; an application reads the project's secrets its spec gives it from %s", name, AppSecret)
				}
			}
			if err := checkSecrets(sub, own); err != nil {
				return err
			}
		}
	case []any:
		for _, sub := range v {
			if err := checkSecrets(sub, own); err != nil {
				return err
			}
		}
	}
	return nil
}

func sourceOf(o *unstructured.Unstructured) string {
	if s := o.GetAnnotations()[AnnotationSource]; s != "" {
		return " (" + s + ")"
	}
	return ""
}

func checkObject(g contract.Guard, o *unstructured.Unstructured) error {
	switch o.GroupVersionKind().GroupKind().String() {
	case "RoleBinding.rbac.authorization.k8s.io":
		kind, _, _ := unstructured.NestedString(o.Object, "roleRef", "kind")
		name, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
		if kind == "ClusterRole" && !slices.Contains(g.ClusterRoles, name) {
			return fmt.Errorf("grants the ClusterRole %s, which the policy does not allow this environment (allowed: %s); bind a Role of the namespace instead", name, listOrNone(g.ClusterRoles))
		}
	case "Service":
		if ips, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "externalIPs"); len(ips) > 0 {
			return fmt.Errorf("sets spec.externalIPs %v, which would route that address from every pod and node of the cluster to it (CVE-2020-8554); use a LoadBalancer or an Ingress", ips)
		}
	}
	p, ok := podSpecPaths[o.GetKind()]
	if !ok {
		return nil
	}
	pod, found, _ := unstructured.NestedMap(o.Object, p...)
	if !found {
		return nil
	}
	if err := checkPod(g, pod); err != nil {
		return err
	}
	return unstructured.SetNestedMap(o.Object, pod, p...)
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// baselineCapabilities are the capabilities the baseline level lets a
// container add; restricted allows NET_BIND_SERVICE alone.
var baselineCapabilities = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// checkPod holds one pod spec to the guard, Kubernetes' Pod Security
// Standards' checks for the level (the ones that let a pod reach its node
// for baseline; running as non-root without privilege escalation for
// restricted).
func checkPod(g contract.Guard, pod map[string]any) error {
	level := g.Level()
	if level != contract.PodPrivileged {
		for _, f := range []string{"hostNetwork", "hostPID", "hostIPC"} {
			if v, _, _ := unstructured.NestedBool(pod, f); v {
				return fmt.Errorf("sets %s, which the %s Pod Security level of the environment does not allow", f, level)
			}
		}
		vols, _, _ := unstructured.NestedSlice(pod, "volumes")
		for _, v := range vols {
			if m, ok := v.(map[string]any); ok && m["hostPath"] != nil {
				return fmt.Errorf("mounts the node's filesystem (hostPath volume %v), which the %s Pod Security level does not allow", m["name"], level)
			}
		}
	}
	if !g.ServiceAccountTokens {
		if v, found, _ := unstructured.NestedBool(pod, "automountServiceAccountToken"); found && v {
			return fmt.Errorf("asks for a service account token (automountServiceAccountToken: true), which the policy does not allow this environment")
		}
		if projectsToken(pod) {
			return fmt.Errorf("mounts a service account token (projected serviceAccountToken volume), which the policy does not allow this environment")
		}
		pod["automountServiceAccountToken"] = false
	}
	nonRoot, _, _ := unstructured.NestedBool(pod, "securityContext", "runAsNonRoot")
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		cs, _, _ := unstructured.NestedSlice(pod, list)
		for _, c := range cs {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			if err := checkContainer(g, level, nonRoot, m); err != nil {
				return fmt.Errorf("container %v: %w", m["name"], err)
			}
		}
	}
	return nil
}

func projectsToken(pod map[string]any) bool {
	vols, _, _ := unstructured.NestedSlice(pod, "volumes")
	for _, v := range vols {
		m, _ := v.(map[string]any)
		sources, _, _ := unstructured.NestedSlice(m, "projected", "sources")
		for _, s := range sources {
			if sm, ok := s.(map[string]any); ok && sm["serviceAccountToken"] != nil {
				return true
			}
		}
	}
	return false
}

func checkContainer(g contract.Guard, level string, podNonRoot bool, c map[string]any) error {
	if img, _ := c["image"].(string); len(g.Registries) > 0 && !contract.FromRegistry(img, g.Registries) {
		return fmt.Errorf("image %s is not from a registry the policy allows (%s)", img, strings.Join(g.Registries, ", "))
	}
	if img, _ := c["image"].(string); g.PinnedImages && !contract.Pinned(img) {
		return fmt.Errorf("image %s is not pinned by digest, which the policy requires (pinned_images): write it as %s@sha256:<digest>", img, img)
	}
	if level == contract.PodPrivileged {
		return nil
	}
	if v, _, _ := unstructured.NestedBool(c, "securityContext", "privileged"); v {
		return fmt.Errorf("is privileged, which the %s Pod Security level does not allow", level)
	}
	ports, _, _ := unstructured.NestedSlice(c, "ports")
	for _, p := range ports {
		if m, ok := p.(map[string]any); ok && m["hostPort"] != nil && fmt.Sprint(m["hostPort"]) != "0" {
			return fmt.Errorf("takes hostPort %v on the node, which the %s Pod Security level does not allow", m["hostPort"], level)
		}
	}
	allowed := baselineCapabilities
	if level == contract.PodRestricted {
		allowed = []string{"NET_BIND_SERVICE"}
	}
	added, _, _ := unstructured.NestedStringSlice(c, "securityContext", "capabilities", "add")
	for _, cap := range added {
		if !slices.Contains(allowed, strings.TrimPrefix(strings.ToUpper(cap), "CAP_")) {
			return fmt.Errorf("adds capability %s, which the %s Pod Security level does not allow", cap, level)
		}
	}
	if level != contract.PodRestricted {
		return nil
	}
	if v, found, _ := unstructured.NestedBool(c, "securityContext", "allowPrivilegeEscalation"); !found || v {
		return fmt.Errorf("the restricted Pod Security level needs securityContext.allowPrivilegeEscalation: false")
	}
	if v, found, _ := unstructured.NestedBool(c, "securityContext", "runAsNonRoot"); !(podNonRoot && !found) && !v {
		return fmt.Errorf("the restricted Pod Security level needs runAsNonRoot: true (on the pod or the container)")
	}
	dropped, _, _ := unstructured.NestedStringSlice(c, "securityContext", "capabilities", "drop")
	if !slices.Contains(dropped, "ALL") {
		return fmt.Errorf("the restricted Pod Security level needs securityContext.capabilities.drop: [ALL]")
	}
	return nil
}
