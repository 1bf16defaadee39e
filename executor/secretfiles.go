package executor

import (
	"fmt"
	"os"
	"path/filepath"
)

// secretFiles are one command's secrets written as files.
type secretFiles struct {
	dir string
	// env maps each variable to its file's path.
	env map[string]string
}

// writeSecretFiles writes each value of files (by variable) to a file of a
// new directory under SecretDir: the directory 0500 and the files 0400,
// both the step user's, so that neither another step user's command nor
// another process of the machine's users reads them.
func (l *Local) writeSecretFiles(files map[string]string) (*secretFiles, error) {
	if len(files) == 0 {
		return &secretFiles{}, nil
	}
	root := l.SecretDir
	if root == "" {
		root = os.TempDir()
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			root = "/dev/shm"
		}
	}
	dir, err := os.MkdirTemp(root, "sluice-secrets-")
	if err != nil {
		return nil, fmt.Errorf("a directory for the step's secret files under %s: %w", root, err)
	}
	out := &secretFiles{dir: dir, env: make(map[string]string, len(files))}
	for name, value := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(value), 0o400); err != nil {
			out.remove()
			// the error names the path, never the value
			return nil, fmt.Errorf("write the step's secret file for %s: %w", name, err)
		}
		out.env[name] = path
	}
	if err := l.User.own(dir); err != nil {
		out.remove()
		return nil, fmt.Errorf("give the step's secret files to the step user: %w", err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		out.remove()
		return nil, err
	}
	return out, nil
}

// remove deletes the files (nothing when there are none).
func (s *secretFiles) remove() {
	if s.dir == "" {
		return
	}
	_ = os.Chmod(s.dir, 0o700)
	_ = os.RemoveAll(s.dir)
}
