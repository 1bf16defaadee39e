package agent

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// podNetNS finds the network namespace of the pod with uid: the
// /proc/PID/ns/net of a process in the pod's cgroup (kubelet names it
// pod<uid>, or pod<uid with _ for -> under the systemd driver).
func podNetNS(proc, uid string) (string, error) {
	marks := []string{"pod" + uid, "pod" + strings.ReplaceAll(uid, "-", "_")}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if inCgroup(filepath.Join(proc, e.Name(), "cgroup"), marks) {
			return filepath.Join(proc, e.Name(), "ns", "net"), nil
		}
	}
	return "", fmt.Errorf("no process of pod %s on this node (is the agent sharing the host's PID namespace?)", uid)
}

func inCgroup(file string, marks []string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		for _, m := range marks {
			if strings.Contains(s.Text(), "/"+m+"/") || strings.HasSuffix(s.Text(), "/"+m) || strings.Contains(s.Text(), "-"+m+".slice") {
				return true
			}
		}
	}
	return false
}

// withNetNS calls fn with a descriptor of the network namespace at path.
func withNetNS(path string, fn func(fd int) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	return fn(fd)
}

// sameNetNS says whether the two namespace files name one namespace
// (same device and inode).
func sameNetNS(a, b string) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return false, err
	}
	if err := unix.Stat(b, &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
