package activities

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/image"
)

// TestReleasesNeedATestedDigest: under an environment that requires the
// test-result attestation, an integration suite that fails against a
// digest attests nothing, and a rollback to a release of it and a
// production release of it are refused (UntrustedImage, not retried),
// naming the attestation; once a suite passed against the digest it is
// attested, signed, and the rollback goes through.
func TestReleasesNeedATestedDigest(t *testing.T) {
	p, plat, signer := signingPlatform(t)
	ctx := context.Background()
	ns, repo, commit, img, digest := releasedTwice(t, plat)
	var suite testsuite.WorkflowTestSuite
	activity := func(component, fn any, in any, out any) error {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(component)
		v, err := env.ExecuteActivity(fn, in)
		if err == nil && out != nil {
			err = v.Get(out)
		}
		return err
	}
	environments, releases := plat.Environments(), plat.Releases()
	integration := func(command string) error {
		return activity(environments, environments.Integration, contract.IntegrationInput{
			RunID: "run-3", Namespace: ns, Image: p.Registry + "/sluice/busybox:latest", Commands: []string{command},
			Subject: img + ":x", Digest: digest, Commit: commit,
		}, &contract.IntegrationResult{})
	}
	tested := contract.Guard{Attestations: []string{contract.AttestationTestResult}}
	rollback := func() (contract.RollbackResult, error) {
		var res contract.RollbackResult
		err := activity(releases, releases.RollbackRelease, contract.RollbackInput{Pipeline: "web", Namespace: ns, By: "rita", Reason: "v2 is slow", Guard: tested}, &res)
		return res, err
	}
	refused := func(what string, err error) {
		t.Helper()
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != contract.ErrUntrusted || !appErr.NonRetryable() || !strings.Contains(err.Error(), "requires the test-result attestation") {
			t.Fatalf("%s: want a non-retryable UntrustedImage naming the test-result attestation, got %v", what, err)
		}
	}

	if err := integration("false"); err == nil {
		t.Fatal("the failing suite passed")
	}
	if _, err := signer.Verifier().VerifiedTestResult(ctx, img, digest); !errors.Is(err, image.ErrUntrusted) {
		t.Fatalf("a failed suite left a test result: %v", err)
	}
	_, err := rollback()
	refused("a rollback to an untested digest", err)
	_, err = releases.Production(ctx, contract.ProductionInput{RunID: "r", Pipeline: "web", Namespace: ns, Source: contract.Source{CloneURL: repo, Commit: commit},
		Image: img + ":x", Digest: digest, Manifests: "deploy", Guard: tested})
	refused("a production release of an untested digest", err)

	if err := integration("true"); err != nil {
		t.Fatalf("the passing suite: %v", err)
	}
	if r, err := signer.Verifier().VerifiedTestResult(ctx, img, digest); err != nil || r.Result != "PASSED" {
		t.Fatalf("the passed suite's test result: %+v %v", r, err)
	}
	if res, err := rollback(); err != nil || res.RollbackOf != 1 {
		t.Fatalf("the rollback to the tested digest: %+v %v", res, err)
	}
}
