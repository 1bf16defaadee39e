package gitsrc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrLinkEscapes is a committed symbolic link whose target lies outside
// the checkout: followed by a process that reads the checkout (a worker
// applying manifests, rendering a chart, sending a build context), it
// would read the worker's own files.
var ErrLinkEscapes = errors.New("symbolic link leaves the repository")

// CheckLinks refuses a checkout at root that holds a symbolic link whose
// target, absolute or relative, lies outside root. Links within the
// checkout are fine; every link is checked, so a chain of links cannot
// leave either.
func CheckLinks(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		resolved := filepath.Join(filepath.Dir(path), target)
		if filepath.IsAbs(target) {
			resolved = target
		}
		inside, err := filepath.Rel(root, resolved)
		if err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) || filepath.IsAbs(inside) {
			return fmt.Errorf("%w: %s points to %s; keep links inside the repository", ErrLinkEscapes, rel, target)
		}
		return nil
	})
}
