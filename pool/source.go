package pool

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-cd/sluice/executor"
	"github.com/sluice-cd/sluice/gitsrc"
)

// commitFile records, in the pod, which commit its workspace holds.
const commitFile = "/tmp/.sluice-commit"

// copySource checks the commit out on the worker (any repository the
// worker can reach: a path, file:// or http(s)) and streams it into the
// pod's workspace as a tar archive, so the pod needs no Git and no
// credentials.
func (x *Executor) copySource(ctx context.Context, ns, pod string, co executor.Checkout) error {
	tmp, err := os.MkdirTemp("", "sluice-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "src")
	if err := gitsrc.CheckoutMerged(ctx, co.CloneURL, co.Commit, co.Merge, dir); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, dir)) }()
	script := "mkdir -p " + Workdir + " && tar -xf - -C " + Workdir + " && echo " + tree(co) + " > " + commitFile
	var errOut strings.Builder
	code, err := x.Exec.Exec(ctx, ns, pod, []string{"sh", "-c", script}, pr, io.Discard, &errOut)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("copy source into pod %s: %w", pod, err)
	}
	if code != 0 {
		return fmt.Errorf("copy source into pod %s: tar exited %d: %s", pod, code, strings.TrimSpace(errOut.String()))
	}
	return nil
}

// writeTar writes the tree at dir (Git metadata included, so tools that
// read it work) to w.
func writeTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
