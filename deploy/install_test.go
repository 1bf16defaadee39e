package deploy

import (
	"bytes"
	"os"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestInstallRBACIsLeastPrivilege reads the in-cluster install's RBAC
// (kubernetes/rbac.yaml): only namespaced Roles, no wildcard, no secrets,
// no verb that grants more rights (escalate, bind, impersonate).
func TestInstallRBACIsLeastPrivilege(t *testing.T) {
	raw, err := os.ReadFile("kubernetes/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	roles := 0
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "ClusterRole", "ClusterRoleBinding":
			t.Errorf("cluster-wide %s: the install needs none", meta.Kind)
		case "Role":
			roles++
			var role rbacv1.Role
			if err := yaml.Unmarshal(doc, &role); err != nil {
				t.Fatal(err)
			}
			for _, r := range role.Rules {
				for _, list := range [][]string{r.Verbs, r.Resources, r.APIGroups} {
					if slices.Contains(list, "*") {
						t.Errorf("role %s: wildcard in %+v", role.Name, r)
					}
				}
				for _, v := range []string{"escalate", "bind", "impersonate"} {
					if slices.Contains(r.Verbs, v) {
						t.Errorf("role %s grants %s", role.Name, v)
					}
				}
				if slices.Contains(r.Resources, "secrets") {
					t.Errorf("role %s reads secrets: %+v", role.Name, r)
				}
			}
		}
	}
	if roles == 0 {
		t.Fatal("no Role in rbac.yaml")
	}
}

// TestAgentRBACIsOnlyPods: the node agent's ClusterRole (it must reach
// pods in every namespace) grants pods get/list/watch/patch and nothing
// else.
func TestAgentRBACIsOnlyPods(t *testing.T) {
	raw, err := os.ReadFile("kubernetes/agent/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind != "ClusterRole" && meta.Kind != "Role" {
			continue
		}
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &role); err != nil {
			t.Fatal(err)
		}
		for _, r := range role.Rules {
			found = true
			if !slices.Equal(r.APIGroups, []string{""}) || !slices.Equal(r.Resources, []string{"pods"}) ||
				!slices.Equal(r.Verbs, []string{"get", "list", "watch", "patch"}) || len(r.ResourceNames)+len(r.NonResourceURLs) > 0 {
				t.Errorf("role %s: rule %+v, want pods get/list/watch/patch only", role.Name, r)
			}
		}
	}
	if !found {
		t.Fatal("no rule in agent/rbac.yaml")
	}
}
