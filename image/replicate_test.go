package image

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/testenv"
)

// TestReplicateCarriesSignatureAndProvenance bakes an image (an index with
// BuildKit's provenance), signs it, and replicates it to the platform's
// second registry: there the same digest verifies with the same key, has
// the same provenance, and is tagged; replicating again is harmless.
func TestReplicateCarriesSignatureAndProvenance(t *testing.T) {
	p := testenv.Require(t)
	ctx := context.Background()
	stamp := fmt.Sprint(time.Now().UnixNano())
	dir := dockerContext(t, fmt.Sprintf("FROM %s/sluice/busybox:latest\nRUN echo %s > /stamp\n", p.Registry, stamp))
	repo := p.Registry + "/sluice-test/replicate-" + stamp
	res, err := (&Builder{Addr: p.BuildKitAddr}).Bake(ctx, Bake{ContextDir: dir, Repository: repo, Tags: []string{"c1"}}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := LoadSigner(mustKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	commit := strings.Repeat("a", 40)
	if err := signer.Sign(ctx, repo, res.Digest, commit); err != nil {
		t.Fatal(err)
	}
	dst := p.ProdRegistry + "/sluice-test/replicate-" + stamp
	for range 2 {
		if err := Replicate(ctx, repo, res.Digest, dst, "available"); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := signer.Verifier().Verify(ctx, dst, res.Digest, commit); err != nil || got != commit {
		t.Fatalf("the replica does not verify: %q %v", got, err)
	}
	if got, err := Digest(ctx, dst, "available"); err != nil || got != res.Digest {
		t.Fatalf("replica tag available = %s %v", got, err)
	}
	src, err := ReadProvenance(ctx, repo, res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ReadProvenance(ctx, dst, res.Digest)
	if err != nil || rep.Image != src.Image || !bytes.Equal(rep.Statement, src.Statement) {
		t.Fatalf("the replica's provenance differs: %v", err)
	}
}

func mustKeys(t *testing.T) ([]byte, []byte) {
	t.Helper()
	priv, _, err := GenerateKeys([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	return priv, []byte("pw")
}
