package gitsrc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// TestCheckoutMerged: a merge request's checkout holds its branch's and
// its target's changes, as the host would merge them, with the same merge
// commit on every checkout (local and over HTTP); a conflict is
// ErrMergeConflict naming the file.
func TestCheckoutMerged(t *testing.T) {
	m := newMonorepo(t) // main changed services/api; feature added docs/guide.md
	ctx := context.Background()
	var heads []string
	for _, url := range []string{m.dir, m.url} {
		dir := filepath.Join(t.TempDir(), "ws")
		if err := CheckoutMerged(ctx, url, m.feature, m.second, dir); err != nil {
			t.Fatal(err)
		}
		for file, want := range map[string]string{"docs/guide.md": "# guide\n", "services/api/main.go": "package main // changed\n"} {
			if got, err := os.ReadFile(filepath.Join(dir, file)); err != nil || string(got) != want {
				t.Errorf("%s: %q %v, want %q", file, got, err, want)
			}
		}
		if !MergedAt(dir, m.feature, m.second) || MergedAt(dir, m.feature, "") || MergedAt(dir, m.second, m.feature) {
			t.Error("MergedAt does not know the merge")
		}
		head, _ := Head(dir)
		heads = append(heads, head)
	}
	if heads[0] != heads[1] || heads[0] == m.feature {
		t.Errorf("merge commits %v: want one, the same on every checkout", heads)
	}

	// a change of the same line on both sides
	gitsrctest.Git(t, m.dir, "checkout", "-q", "feature")
	write(t, m.dir, "services/api/main.go", "package main // ours\n")
	ours := gitsrctest.Commit(t, m.dir, "ours")
	gitsrctest.Git(t, m.dir, "checkout", "-q", "main")
	write(t, m.dir, "services/api/main.go", "package main // theirs\n")
	theirs := gitsrctest.Commit(t, m.dir, "theirs")
	err := CheckoutMerged(ctx, m.dir, ours, theirs, filepath.Join(t.TempDir(), "ws"))
	if !errors.Is(err, ErrMergeConflict) || !strings.Contains(err.Error(), "services/api/main.go") {
		t.Fatalf("a conflict: %v", err)
	}
	if err := CheckoutMerged(ctx, m.dir, ours, strings.Repeat("e", 40), filepath.Join(t.TempDir(), "ws")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a target that is not there: %v", err)
	}
}
