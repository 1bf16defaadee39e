package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/sluice-cd/sluice/testenv"
)

// TestSignAndVerify signs an image in the local registry the way cosign
// does and verifies it: the right key and commit pass; an unsigned digest,
// another commit and another key's signature are ErrUntrusted; a wrong
// password cannot load the key; signing twice stores one signature.
func TestSignAndVerify(t *testing.T) {
	p := testenv.Require(t)
	ctx := context.Background()
	repo := fmt.Sprintf("%s/sluice-test/signed-%d", p.Registry, time.Now().UnixNano())
	// two distinct images: busybox copied, and a tag-only variant
	busybox := p.Registry + "/sluice/busybox:latest"
	if err := crane.Copy(busybox, repo+":a", crane.Insecure, crane.WithJobs(1)); err != nil {
		t.Fatal(err)
	}
	digest, err := Digest(ctx, repo, "a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := Digest(ctx, p.Registry+"/sluice/pause", "3.10")
	if err != nil {
		t.Fatal(err)
	}
	if err := crane.Copy(p.Registry+"/sluice/pause:3.10", repo+":b", crane.Insecure, crane.WithJobs(1)); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	key := filepath.Join(dir, "signing.key")
	s, err := EnsureKeys(key, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureKeys(key, []byte("wrong")); err == nil {
		t.Fatal("a wrong password loaded the key")
	}
	commit := strings.Repeat("c", 40)
	for range 2 {
		if err := s.Sign(ctx, repo, digest, commit); err != nil {
			t.Fatal(err)
		}
	}
	v := s.Verifier()
	if got, err := v.Verify(ctx, repo, digest, commit); err != nil || got != commit {
		t.Fatalf("verify the signed digest: %q %v", got, err)
	}
	if _, err := v.Verify(ctx, repo, digest, strings.Repeat("d", 40)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("verify for another commit: %v", err)
	}
	if _, err := v.Verify(ctx, repo, other, ""); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("verify an unsigned digest: %v", err)
	}
	stranger, err := EnsureKeys(filepath.Join(dir, "other.key"), []byte("another one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Verifier().Verify(ctx, repo, digest, ""); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("verify with another key: %v", err)
	}
	// the .sig tag holds one signature however often the digest was signed
	sigTag := repo + ":sha256-" + strings.TrimPrefix(digest, "sha256:") + ".sig"
	m, err := crane.Manifest(sigTag, crane.Insecure)
	if err != nil {
		t.Fatalf("signature tag %s: %v", sigTag, err)
	}
	if n := strings.Count(string(m), `"dev.cosignproject.cosign/signature"`); n != 1 {
		t.Fatalf("%d signatures stored, want 1:\n%s", n, m)
	}
	// the public key alone verifies
	pub, err := LoadVerifierFile(PublicKeyPath(key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Verify(ctx, repo, digest, commit); err != nil {
		t.Fatal(err)
	}
}

// TestWorkersStartingTogetherShareOneKey: workers that start at once on one
// data dir each make the missing key pair; they must end up with the same
// one, or one worker's signatures fail the others' verification.
func TestWorkersStartingTogetherShareOneKey(t *testing.T) {
	key := filepath.Join(t.TempDir(), "signing.key")
	signers := make([]*Signer, 8)
	errs := make([]error, len(signers))
	var wg sync.WaitGroup
	for i := range signers {
		wg.Go(func() { signers[i], errs[i] = EnsureKeys(key, []byte("pw")) })
	}
	wg.Wait()
	pub, err := LoadVerifierFile(PublicKeyPath(key))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("payload")
	for i, s := range signers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		sig, err := s.sv.SignMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			t.Fatalf("signer %d holds another key than %s: %v", i, PublicKeyPath(key), err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(key), ".signing-key-*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
