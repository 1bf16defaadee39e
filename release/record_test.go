package release

import "testing"

// TestOwnSecret: a pipeline's releases' Secrets, and none of another
// pipeline's, even one whose name begins with this one's.
func TestOwnSecret(t *testing.T) {
	own := ownSecret("Pay")
	for name, want := range map[string]bool{
		"sluice-release-pay-v3-secrets":      true,
		"sluice-release-pay-v12-secrets":     true,
		"sluice-release-pay-v1-v3-secrets":   false, // pipeline pay-v1's
		"sluice-release-payments-v3-secrets": false,
		"sluice-release-pay-v-secrets":       false,
		"sluice-release-pay-v3":              false, // the record, not a Secret
		"sluice-secrets":                     false,
		"sluice-smoke-secrets":               false,
	} {
		if got := own(name); got != want {
			t.Errorf("ownSecret(pay)(%s) = %v, want %v", name, got, want)
		}
	}
}
