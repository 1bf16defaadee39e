package activities

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// TestCheckoutRefusesLinksOut: a commit whose deploy directory holds a
// relative link to a file of the worker (../../../etc/passwd) is refused
// when the worker checks it out to read manifests, a chart or a build
// context — before any of them reads it — and the refusal is permanent.
func TestCheckoutRefusesLinksOut(t *testing.T) {
	dir, _ := gitsrctest.Repo(t, "../examples/hello", "version: 1\nbuild: {commands: [make]}\n")
	if err := os.Symlink("../../../../../../../../etc/passwd", filepath.Join(dir, "deploy", "passwd.yaml")); err != nil {
		t.Fatal(err)
	}
	commit := gitsrctest.Commit(t, dir, "a link out")
	_, done, err := checkout(context.Background(), contract.Source{CloneURL: dir, Commit: commit})
	if err == nil {
		done()
		t.Fatal("a checkout with a link out of it was accepted")
	}
	if !errors.Is(err, gitsrc.ErrLinkEscapes) {
		t.Fatalf("error %v", err)
	}
	classify(&err)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != contract.ErrInvalidInput || !app.NonRetryable() {
		t.Fatalf("classified as %v", err)
	}
}
