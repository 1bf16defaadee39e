package image

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/sluice-cd/sluice/testenv"
)

// TestTestResultAttestation attests a passed test result beside the SBOM
// on the platform's registry: both verify, each once however often
// attested; a digest without one, another key's, and a result that did not
// pass are ErrUntrusted, naming the test result.
func TestTestResultAttestation(t *testing.T) {
	p := testenv.Require(t)
	ctx := context.Background()
	repo := fmt.Sprintf("%s/sluice-test/tested-%d", p.Registry, time.Now().UnixNano())
	if err := crane.Copy(p.Registry+"/sluice/busybox:latest", repo+":a", crane.Insecure, crane.WithJobs(1)); err != nil {
		t.Fatal(err)
	}
	if err := crane.Copy(p.Registry+"/sluice/pause:3.10", repo+":b", crane.Insecure, crane.WithJobs(1)); err != nil {
		t.Fatal(err)
	}
	tested, err := Digest(ctx, repo, "a")
	if err != nil {
		t.Fatal(err)
	}
	untested, err := Digest(ctx, repo, "b")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := EnsureKeys(filepath.Join(dir, "signing.key"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	result := TestResult{Result: "PASSED", Configuration: []ResourceDescriptor{{Name: "integration", URI: "git+https://example.com/acme/app@" + strings.Repeat("c", 40)}}, PassedTests: []string{"TestCheckout"}}
	if err := s.AttestSBOM(ctx, repo, tested, SBOM{SPDXID: "SPDXRef-DOCUMENT"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.AttestTestResult(ctx, repo, tested, result); err != nil {
			t.Fatal(err)
		}
	}
	v := s.Verifier()
	got, err := v.VerifiedTestResult(ctx, repo, tested)
	if err != nil || got.Result != "PASSED" || len(got.PassedTests) != 1 {
		t.Fatalf("the attested test result: %+v %v", got, err)
	}
	if _, err := v.VerifiedSBOM(ctx, repo, tested); err != nil {
		t.Fatalf("the SBOM beside it: %v", err)
	}
	m, err := crane.Manifest(repo+":sha256-"+strings.TrimPrefix(tested, "sha256:")+".att", crane.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(m), PredicateTestResult); n != 1 {
		t.Fatalf("%d test-result attestations stored, want 1", n)
	}
	if _, err := v.VerifiedTestResult(ctx, repo, untested); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "test-result") {
		t.Fatalf("a digest without a test result: %v", err)
	}
	stranger, err := EnsureKeys(filepath.Join(dir, "other.key"), []byte("pw2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Verifier().VerifiedTestResult(ctx, repo, tested); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("verified with another key: %v", err)
	}
	if err := s.AttestTestResult(ctx, repo, untested, TestResult{Result: "FAILED"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifiedTestResult(ctx, repo, untested); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "FAILED") {
		t.Fatalf("a failed result: %v", err)
	}
}
