package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/testenv"
)

// TestSBOMAttestation bakes the sample app, lists the Go program in the
// image with its module and standard library, attaches the list as a
// signed SPDX attestation and reads it back with the public key; another
// key does not accept it.
func TestSBOMAttestation(t *testing.T) {
	p := testenv.Require(t)
	ctx := context.Background()
	repo := fmt.Sprintf("%s/sluice-test/sbom-%d", p.Registry, time.Now().UnixNano())
	res, err := (&Builder{Addr: p.BuildKitAddr}).Bake(ctx, Bake{ContextDir: "../examples/hello", Repository: repo, Tags: []string{"x"}}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := GenerateSBOM(ctx, repo, res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pkg := range doc.Packages {
		names = append(names, pkg.Name+"@"+pkg.VersionInfo)
	}
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	if !strings.Contains(strings.Join(names, " "), "example.com/hello@") || !strings.Contains(strings.Join(names, " "), "stdlib@"+goVersion) {
		t.Fatalf("SBOM packages %v lack the program or its standard library", names)
	}
	signer, err := EnsureKeys(filepath.Join(t.TempDir(), "k"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.AttestSBOM(ctx, repo, res.Digest, doc); err != nil {
		t.Fatal(err)
	}
	got, err := signer.Verifier().VerifiedSBOM(ctx, repo, res.Digest)
	if err != nil || len(got.Packages) != len(doc.Packages) || got.SPDXVersion != "SPDX-2.3" {
		t.Fatalf("read back: %d packages, %v", len(got.Packages), err)
	}
	stranger, err := EnsureKeys(filepath.Join(t.TempDir(), "other"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Verifier().VerifiedSBOM(ctx, repo, res.Digest); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("another key accepted the SBOM: %v", err)
	}
}
