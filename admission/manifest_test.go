package admission

import (
	"os"
	"reflect"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

// TestWebhookManifestMatchesRules: the webhook deploy/kubernetes installs
// is called for what the tests install it for, fails closed, and selects
// the namespaces labelled for it.
func TestWebhookManifestMatchesRules(t *testing.T) {
	raw, err := os.ReadFile("../deploy/kubernetes/admission/webhook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionregv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(cfg.Webhooks))
	}
	w := cfg.Webhooks[0]
	if !reflect.DeepEqual(w.Rules, Rules()) {
		t.Errorf("rules %+v, want admission.Rules() %+v", w.Rules, Rules())
	}
	if w.FailurePolicy == nil || *w.FailurePolicy != admissionregv1.Fail {
		t.Errorf("failurePolicy %v, want Fail", w.FailurePolicy)
	}
	if w.NamespaceSelector == nil || w.NamespaceSelector.MatchLabels["sluice.dev/admission"] != "enforce" {
		t.Errorf("namespaceSelector %+v, want sluice.dev/admission=enforce", w.NamespaceSelector)
	}
}
