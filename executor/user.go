package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// StepUser is the unprivileged account local commands run as when the
// worker runs as root. A step then cannot read the worker's environment
// (/proc/<worker>/environ is readable by its owner only), its secret files,
// its logs or its Temporal database: it owns its workspace and its home
// directory, and nothing else.
type StepUser struct {
	UID, GID uint32
}

// DefaultStepUser is the account steps run as when a root worker is given no
// other: a numeric id outside the range distributions hand out, with no
// password entry and no files of its own on the machine.
var DefaultStepUser = StepUser{UID: 65532, GID: 65532}

func (u StepUser) String() string { return fmt.Sprintf("%d:%d", u.UID, u.GID) }

// ParseStepUser reads the --step-user flag: "auto" (DefaultStepUser when the
// worker is root, nobody else otherwise), "none" (steps run as the worker's
// own user, which lets them read everything the worker can), or UID[:GID].
func ParseStepUser(s string) (*StepUser, error) {
	switch s {
	case "", "auto":
		if os.Geteuid() != 0 {
			return nil, nil
		}
		u := DefaultStepUser
		return &u, nil
	case "none":
		return nil, nil
	}
	uidS, gidS, hasGID := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(uidS, 10, 32)
	if err != nil || uid == 0 {
		return nil, fmt.Errorf("step user %q: want auto, none, or a numeric non-root UID[:GID]", s)
	}
	gid := uid
	if hasGID {
		if gid, err = strconv.ParseUint(gidS, 10, 32); err != nil || gid == 0 {
			return nil, fmt.Errorf("step user %q: the GID must be a number other than 0", s)
		}
	}
	if os.Geteuid() != 0 && uint64(os.Geteuid()) != uid {
		return nil, fmt.Errorf("step user %s: only a worker running as root can run steps as another user; run as root or pass --step-user none", s)
	}
	return &StepUser{UID: uint32(uid), GID: uint32(gid)}, nil
}

func (u *StepUser) credential() *syscall.Credential {
	if u == nil || uint32(os.Geteuid()) == u.UID {
		return nil
	}
	// no supplementary groups: root's would follow the step otherwise
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}
}

// own gives the tree at dir to the step user. It runs right after the
// worker wrote the tree (checkout), before any step could plant a link, and
// never follows symbolic links.
func (u *StepUser) own(dir string) error {
	if u.credential() == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(u.UID), int(u.GID))
	})
}

// ErrUnreachable is returned (wrapped) by Init when the step user cannot
// enter the workspace root.
var ErrUnreachable = errors.New("workspace root unreachable by the step user")

// reachable checks that the step user can enter dir: every directory above
// it must let others through (the x bit). A workspace under a 0700 data
// directory would fail every command with a bare "permission denied".
func (u *StepUser) reachable(dir string) error {
	if u.credential() == nil {
		return nil
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%w: steps run as user %s and cannot reach %s: %s is %#o; give others search permission (chmod o+x %s) or choose a data directory elsewhere",
				ErrUnreachable, u, dir, d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// Init prepares Root for commands: it creates Root (enterable, not
// listable, by the step user) and the step user's home, and checks the
// step user can reach them. Call it once before using l.
func (l *Local) Init() error {
	if err := os.MkdirAll(l.Root, 0o700); err != nil {
		return fmt.Errorf("workspace dir: %w", err)
	}
	if l.User.credential() == nil {
		return nil
	}
	if err := os.Chmod(l.Root, 0o711); err != nil {
		return err
	}
	if err := l.User.reachable(l.Root); err != nil {
		return err
	}
	home := l.home()
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("step home: %w", err)
	}
	if err := l.User.reachable(home); err != nil {
		return err
	}
	if fi, err := os.Lstat(home); err != nil || !fi.IsDir() {
		return errors.Join(errors.New("step home must be a directory"), err)
	}
	return os.Lchown(home, int(l.User.UID), int(l.User.GID))
}

// home is HOME for commands run as the step user: their caches (Go build
// and module caches, ~/.m2, ~/.npm) live there and are shared by the runs
// of this worker.
func (l *Local) home() string {
	if l.Home != "" {
		return l.Home
	}
	return filepath.Join(l.Root, ".home")
}
