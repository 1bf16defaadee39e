package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	cosignmutate "github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/sluice-cd/sluice/contract"
)

// attest attaches predicate to repository@digest as an in-toto statement
// of predicateType in a DSSE envelope signed with the signer's key, among
// the image's attestations (the sha256-<digest>.att tag), in place of one
// of the same type attested before: a retried phase attests once.
func (s *Signer) attest(ctx context.Context, repository, digest, predicateType string, predicate any) error {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return err
	}
	pred, err := json.Marshal(predicate)
	if err != nil {
		return err
	}
	body, err := json.Marshal(statement{
		Type: "https://in-toto.io/Statement/v0.1", PredicateType: predicateType, Predicate: pred,
		Subject: []subject{{Name: ref.Context().String(), Digest: map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
	})
	if err != nil {
		return err
	}
	envelope, err := dsse.WrapSigner(s.sv, types.IntotoPayloadType).SignMessage(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sign the %s attestation of %s: %w", predicateType, ref, err)
	}
	att, err := static.NewAttestation(envelope, static.WithLayerMediaType(types.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": predicateType}))
	if err != nil {
		return err
	}
	opts := remoteOptions(ctx)
	se, err := ociremote.SignedEntity(ref, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", ref, err)
	}
	attested, err := cosignmutate.AttachAttestationToEntity(se, att, cosignmutate.WithReplaceOp(cremote.NewReplaceOp(predicateType)))
	if err != nil {
		return err
	}
	if err := ociremote.WriteAttestations(ref.Context(), attested, opts...); err != nil {
		return fmt.Errorf("push the %s attestation of %s: %w", predicateType, ref, err)
	}
	return nil
}

// verifiedPredicate decodes into out the predicate of the attestation of
// predicateType that the verifier's key signed for repository@digest
// itself; none (or one signed by another key, or about another digest) is
// ErrUntrusted.
func (v *Verifier) verifiedPredicate(ctx context.Context, repository, digest, predicateType string, out any) error {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return err
	}
	atts, _, err := cosign.VerifyImageAttestations(ctx, ref, &cosign.CheckOpts{
		SigVerifier: v.v, IgnoreTlog: true, IgnoreSCT: true, RegistryClientOpts: remoteOptions(ctx),
	})
	if err != nil {
		return fmt.Errorf("%w: the %s attestation of %s: %v", ErrUntrusted, predicateType, ref, err) //nolint:errorlint // only ErrUntrusted classifies it: the cause is text
	}
	want := strings.TrimPrefix(digest, "sha256:")
	for _, a := range atts {
		payload, err := a.Payload()
		if err != nil {
			continue
		}
		var env struct {
			Payload []byte `json:"payload"`
		}
		if json.Unmarshal(payload, &env) != nil {
			continue
		}
		var st statement
		if json.Unmarshal(env.Payload, &st) != nil || st.PredicateType != predicateType || !about(st, want) {
			continue
		}
		if err := json.Unmarshal(st.Predicate, out); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s has no %s attestation", ErrUntrusted, ref, predicateType)
}

// about tells whether a statement names the digest (hex) as its subject.
func about(st statement, digest string) bool {
	for _, s := range st.Subject {
		if s.Digest["sha256"] == digest {
			return true
		}
	}
	return false
}

// PredicateTestResult is in-toto's test-result predicate: Sluice attests
// it for a digest whose integration suite passed against it.
const PredicateTestResult = "https://in-toto.io/attestation/test-result/v0.1"

// TestResult is the test-result predicate: PASSED, which suite ran against
// which commit's image in which run, and its tests by name when it wrote a
// JUnit report.
type TestResult struct {
	Result        string               `json:"result"`
	Configuration []ResourceDescriptor `json:"configuration,omitempty"`
	URL           string               `json:"url,omitempty"`
	PassedTests   []string             `json:"passedTests,omitempty"`
	WarnedTests   []string             `json:"warnedTests,omitempty"`
	FailedTests   []string             `json:"failedTests,omitempty"`
}

// ResourceDescriptor names what a test ran with (in-toto's descriptor,
// the fields Sluice fills).
type ResourceDescriptor struct {
	Name   string            `json:"name,omitempty"`
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// AttestTestResult attaches a passed test result to repository@digest.
func (s *Signer) AttestTestResult(ctx context.Context, repository, digest string, r TestResult) error {
	return s.attest(ctx, repository, digest, PredicateTestResult, r)
}

// VerifiedTestResult returns the test result attested for
// repository@digest with the verifier's key. None, one signed by another
// key or for another digest, or one that did not pass is ErrUntrusted.
func (v *Verifier) VerifiedTestResult(ctx context.Context, repository, digest string) (TestResult, error) {
	var r TestResult
	if err := v.verifiedPredicate(ctx, repository, digest, PredicateTestResult, &r); err != nil {
		return TestResult{}, err
	}
	if r.Result != "PASSED" {
		return TestResult{}, fmt.Errorf("%w: the test result attested for %s@%s is %s", ErrUntrusted, repository, digest, r.Result)
	}
	return r, nil
}

// Attested checks that repository@digest carries the attestation an
// environment names (contract.AttestationTestResult), signed by the
// verifier's key. None, one signed by another key or for another digest,
// one that did not pass, or a name Sluice does not make is ErrUntrusted.
func (v *Verifier) Attested(ctx context.Context, repository, digest, attestation string) error {
	switch attestation {
	case contract.AttestationTestResult:
		_, err := v.VerifiedTestResult(ctx, repository, digest)
		return err
	}
	return fmt.Errorf("%w: attestation %q is not one Sluice makes", ErrUntrusted, attestation)
}
