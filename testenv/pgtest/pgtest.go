// Package pgtest runs a real PostgreSQL server (Debian's postgresql
// package) for a test: its own cluster in a temporary directory, on a free
// loopback port, with password authentication, removed when the test ends.
// `.ci/run` installs the package; without it a test fails under CI and is
// skipped elsewhere.
package pgtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// Server is a running PostgreSQL cluster. Its superuser is User.
type Server struct {
	Host     string
	Port     int
	User     string
	Password string
	cmd      *exec.Cmd
	out      *bytes.Buffer
	dir      string
	asUser   *user.User
}

// URL is the server's postgres:// address for database (no password).
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://%s@%s/%s", s.User, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), database)
}

// binDir finds Debian's server binaries (/usr/lib/postgresql/<major>/bin).
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(dirs) == 0 {
		return "", fmt.Errorf("PostgreSQL server not installed: apt-get install postgresql (.ci/run does)")
	}
	sort.Strings(dirs)
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

// Start initialises and starts a cluster, stopped and removed at the end
// of the test.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		if testenv.InCI() {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	// PostgreSQL refuses to run as root: a root test runs it as "postgres",
	// whose files live in a directory of its own.
	var as *user.User
	if os.Geteuid() == 0 {
		if as, err = user.Lookup("postgres"); err != nil {
			tb.Fatalf("running as root, PostgreSQL needs the postgres user (made by the package): %v", err)
		}
	}
	dir, err := os.MkdirTemp("", "sluice-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	s := &Server{Host: "127.0.0.1", User: "sluice", Password: hex.EncodeToString(raw), dir: dir, asUser: as, out: &bytes.Buffer{}}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if as != nil {
		if err := s.chown(dir, pwfile); err != nil {
			tb.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := s.command(filepath.Join(bin, "initdb"), "-D", data, "-U", s.User, "--pwfile", pwfile,
		"--auth", "scram-sha-256", "--no-sync", "--encoding", "UTF8", "--locale", "C").CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	if s.Port, err = devserver.FreePort(); err != nil {
		tb.Fatal(err)
	}
	s.cmd = s.command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=200")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	// TCP is accepted before the server takes logins: ask pg_isready
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	poll.Until(tb, "PostgreSQL on "+addr+" to accept logins", func() bool {
		return exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", s.Host, "-p", strconv.Itoa(s.Port)).Run() == nil
	})
	return s
}

// Stop shuts the server down (fast shutdown) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	if s.asUser != nil {
		uid, _ := strconv.Atoi(s.asUser.Uid)
		gid, _ := strconv.Atoi(s.asUser.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	return cmd
}

func (s *Server) chown(paths ...string) error {
	uid, _ := strconv.Atoi(s.asUser.Uid)
	gid, _ := strconv.Atoi(s.asUser.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}
