package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestServerSecretsAreRedacted: the secrets a process holds outside its
// configuration file (the signing key's password, Temporal's API key and
// database password) are among the values the worker redacts from logs.
func TestServerSecretsAreRedacted(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "signing-password")
	if err := os.WriteFile(pw, []byte("password-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_SIGNING_PASSWORD", "signing-password-value")
	t.Setenv("SLUICE_TEMPORAL_API_KEY", "temporal-api-key-value")
	t.Setenv("SLUICE_TEMPORAL_DB_PASSWORD", "temporal-db-password")
	a, err := Open(Options{DataDir: filepath.Join(dir, "data"), SigningPasswordFile: pw, StepUser: "none"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := a.secrets()
	for _, want := range []string{"signing-password-value", "temporal-api-key-value", "temporal-db-password", "password-from-a-file"} {
		if !slices.Contains(got, want) {
			t.Errorf("%q is not redacted from logs (secrets: %d values)", want, len(got))
		}
	}
}
