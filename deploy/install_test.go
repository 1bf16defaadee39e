package deploy

import (
	"bytes"
	"os"
	"slices"
	"strings"
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

// TestDeployerRightsAreFenced reads the deployer component
// (kubernetes/deployer): its ClusterRole grants no wildcard, no secrets,
// nothing that grants rights (RBAC objects, escalate, bind, impersonate),
// no pod exec and no pod creation; nodes only read. Every resource it may write is
// matched by the fence's ValidatingAdmissionPolicy, which applies to the
// service account the ClusterRoleBinding names.
func TestDeployerRightsAreFenced(t *testing.T) {
	var role rbacv1.ClusterRole
	var binding rbacv1.ClusterRoleBinding
	for _, doc := range docs(t, "kubernetes/deployer/rbac.yaml") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "ClusterRole":
			if err := yaml.Unmarshal(doc, &role); err != nil {
				t.Fatal(err)
			}
		case "ClusterRoleBinding":
			if err := yaml.Unmarshal(doc, &binding); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(role.Rules) == 0 || len(binding.Subjects) != 1 || binding.RoleRef.Name != role.Name {
		t.Fatalf("deployer rbac.yaml: role %q with %d rules bound by %+v", role.Name, len(role.Rules), binding)
	}
	writes := map[string]bool{} // "group/resource"
	for _, r := range role.Rules {
		for _, list := range [][]string{r.Verbs, r.Resources, r.APIGroups} {
			if slices.Contains(list, "*") {
				t.Errorf("wildcard in %+v", r)
			}
		}
		for _, v := range []string{"escalate", "bind", "impersonate", "deletecollection"} {
			if slices.Contains(r.Verbs, v) {
				t.Errorf("grants %s: %+v", v, r)
			}
		}
		if slices.Contains(r.APIGroups, "rbac.authorization.k8s.io") || slices.Contains(r.APIGroups, "admissionregistration.k8s.io") {
			t.Errorf("grants rights over rights or the fence: %+v", r)
		}
		for _, res := range r.Resources {
			if res == "secrets" || res == "pods/exec" || res == "pods/attach" || res == "nodes/proxy" || res == "serviceaccounts/token" {
				t.Errorf("grants %s: %+v", res, r)
			}
		}
		write := slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })
		if !write {
			continue
		}
		for _, res := range r.Resources {
			if res == "nodes" || (res == "pods" && slices.Contains(r.Verbs, "create")) {
				t.Errorf("writes %s: %+v", res, r)
			}
			for _, g := range r.APIGroups {
				writes[g+"/"+res] = true
			}
		}
	}

	var policy struct {
		Kind string
		Spec struct {
			MatchConstraints struct {
				ResourceRules []struct {
					APIGroups  []string `json:"apiGroups"`
					Resources  []string `json:"resources"`
					Operations []string `json:"operations"`
				} `json:"resourceRules"`
			} `json:"matchConstraints"`
			MatchConditions []struct{ Expression string } `json:"matchConditions"`
		}
	}
	fenced := map[string]bool{}
	for _, doc := range docs(t, "kubernetes/deployer/fence.yaml") {
		if err := yaml.Unmarshal(doc, &policy); err != nil {
			t.Fatal(err)
		}
		if policy.Kind != "ValidatingAdmissionPolicy" {
			continue
		}
		for _, r := range policy.Spec.MatchConstraints.ResourceRules {
			if !slices.Equal(r.Operations, []string{"CREATE", "UPDATE", "DELETE"}) {
				t.Errorf("fence rule %+v: want CREATE, UPDATE, DELETE", r)
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					fenced[g+"/"+res] = true
				}
			}
		}
		account := "system:serviceaccount:" + binding.Subjects[0].Namespace + ":" + binding.Subjects[0].Name
		if len(policy.Spec.MatchConditions) != 1 || !strings.Contains(policy.Spec.MatchConditions[0].Expression, "'"+account+"'") {
			t.Errorf("the fence's match conditions %+v do not name %s", policy.Spec.MatchConditions, account)
		}
	}
	for w := range writes {
		if !fenced[w] {
			t.Errorf("the deployer may write %s, which the fence does not match", w)
		}
	}
}

func docs(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(raw, []byte("\n---\n"))
}
