package executor

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Archive packs paths of a local workspace. It reads through an os.Root of
// the workspace, so a link a step planted cannot take it outside; links
// themselves are left out.
func (l *Local) Archive(_ context.Context, h Handle, paths []string, limit int64) ([]byte, error) {
	root, err := l.root(h)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	n := 0
	for _, p := range paths {
		p = path.Clean(p)
		if !filepath.IsLocal(p) {
			return nil, fmt.Errorf("%q is not a path inside the workspace", p)
		}
		if _, err := root.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		err := fs.WalkDir(root.FS(), p, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			hdr, err := tar.FileInfoHeader(info, "")
			if err != nil {
				return err
			}
			hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = name, 0, 0, "", ""
			if d.IsDir() {
				hdr.Name += "/"
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			n++
			if d.IsDir() {
				return nil
			}
			f, err := root.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.CopyN(tw, f, info.Size()); err != nil {
				return err
			}
			if int64(buf.Len()) > limit {
				return fmt.Errorf("%w: the archive of %v is over %d bytes", ErrTooLarge, paths, limit)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, nil
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Extract unpacks an archive into a local workspace through an os.Root of
// it and gives what it wrote to the step user. It runs before the job's
// first command, so no step has had the chance to plant a link.
func (l *Local) Extract(_ context.Context, h Handle, data []byte) error {
	root, err := l.root(h)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimSuffix(hdr.Name, "/"))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("archive entry %q leaves the workspace", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
				return err
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, hdr.FileInfo().Mode().Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q is neither a file nor a directory", hdr.Name)
		}
	}
	return l.User.own(h.Path)
}
