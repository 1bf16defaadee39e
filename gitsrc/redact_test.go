package gitsrc

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRedacted(t *testing.T) {
	for raw, want := range map[string]string{
		"https://bot:s3cret-pass@git.example.com/acme/app.git":   "https://xxxxx@git.example.com/acme/app.git",
		"https://glpat-token0123456789@gitlab.example.com/a.git": "https://xxxxx@gitlab.example.com/a.git",
		"https://git.example.com/acme/app.git":                   "https://git.example.com/acme/app.git",
		"/srv/git/app.git":                                       "/srv/git/app.git",
	} {
		if got := Redacted(raw); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestErrorsNeverShowCredentials reads from a URL with credentials that no
// server answers: the error must name the repository without them, and
// still classify.
func TestErrorsNeverShowCredentials(t *testing.T) {
	raw := "http://deploy-bot:Sup3r-Secret-Pass@127.0.0.1:1/acme/app.git"
	_, _, err := ReadFile(context.Background(), raw, "main", strings.Repeat("a", 40), ".sluice.yml")
	if err == nil {
		t.Fatal("read from a closed port succeeded")
	}
	if strings.Contains(err.Error(), "Sup3r-Secret-Pass") {
		t.Fatalf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1/acme/app.git") {
		t.Errorf("error no longer names the repository: %v", err)
	}
	_, err = Resolve(context.Background(), raw, "main")
	if err == nil || strings.Contains(err.Error(), "Sup3r-Secret-Pass") {
		t.Fatalf("resolve error shows the password: %v", err)
	}
	var re *redactedError
	if !errors.As(err, &re) {
		t.Fatalf("resolve error not scrubbed: %T", err)
	}
}
