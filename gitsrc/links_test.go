package gitsrc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckLinks: a link that leaves the checkout, relative or absolute,
// refuses it; links that stay inside do not.
func TestCheckLinks(t *testing.T) {
	for name, tc := range map[string]struct {
		link, target string
		escapes      bool
	}{
		"relative, out":      {"deploy/secret.yaml", "../../../../etc/passwd", true},
		"relative, just out": {"deploy/up", "../..", true},
		"absolute":           {"chart/files/key", "/root/.kube/config", true},
		"inside":             {"deploy/app.yaml", "../manifests/app.yaml", false},
		"to the root":        {"deploy/all", "..", false},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"deploy", "manifests", "chart/files"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(tc.target, filepath.Join(root, tc.link)); err != nil {
				t.Fatal(err)
			}
			err := CheckLinks(root)
			if got := errors.Is(err, ErrLinkEscapes); got != tc.escapes {
				t.Fatalf("%s -> %s: %v", tc.link, tc.target, err)
			}
		})
	}
}
