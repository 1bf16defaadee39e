package executor

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/testenv"
)

// TestWallKeepsStepsFromTheControlPlane runs real steps as the step user:
// behind the wall, a connection to a walled port of this machine (as
// Temporal's frontend or the registry would listen on) is reset, on
// loopback and on the machine's other addresses alike, while the step's
// own listener and the worker's connections go through. Without the wall
// the same step reaches it.
func TestWallKeepsStepsFromTheControlPlane(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		if testenv.InCI() {
			t.Fatal("iptables is not installed; .ci/run installs it")
		}
		t.Skip("no iptables")
	}
	// a walled port listening on every address, as Temporal may, and one
	// that is not walled (a step's own test server's, say)
	port, ownPort := listen(t, "0.0.0.0:0"), listen(t, "127.0.0.1:0")
	data := reachableTempDir(t)
	l := &Local{Root: filepath.Join(data, "workspaces"), User: &DefaultStepUser}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	repo, commit := gitsrctest.Repo(t, "../examples/hello", "")
	ctx := context.Background()
	h, err := l.Prepare(ctx, Checkout{Key: "run1-build", CloneURL: repo, Commit: commit}, Handle{})
	if err != nil {
		t.Fatal(err)
	}
	// bash's /dev/tcp dials (steps run sh, which has none)
	dial := func(host string, port int) string {
		return fmt.Sprintf(`if bash -c 'exec 3<>/dev/tcp/%s/%d' 2>/dev/null; then echo "%s:%d reached"; else echo "%s:%d refused"; fi`, host, port, host, port, host, port)
	}
	other := outboundIP(t)
	script := strings.Join([]string{dial("127.0.0.1", port), dial(other, port), dial("127.0.0.1", ownPort)}, "; ")
	step := func() string {
		var out bytes.Buffer
		if _, err := l.Run(ctx, h, Command{Script: script}, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	before := step()
	if !strings.Contains(before, fmt.Sprintf("127.0.0.1:%d reached", port)) {
		t.Fatalf("without the wall the step should reach the port:\n%s", before)
	}
	down, err := Wall{UID: DefaultStepUser.UID, Ports: []int{port}}.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := step()
	for _, want := range []string{fmt.Sprintf("127.0.0.1:%d refused", port), fmt.Sprintf("%s:%d refused", other, port), fmt.Sprintf("127.0.0.1:%d reached", ownPort)} {
		if !strings.Contains(got, want) {
			t.Errorf("behind the wall, want %q:\n%s", want, got)
		}
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("the wall stopped the worker itself: %v", err)
	} else {
		c.Close()
	}
	down()
	if after := step(); !strings.Contains(after, fmt.Sprintf("127.0.0.1:%d reached", port)) {
		t.Errorf("the wall outlived its down:\n%s", after)
	}
	if out, _ := exec.Command("iptables", "-S").Output(); strings.Contains(string(out), wallPrefix) && strings.Contains(string(out), fmt.Sprint(port)) {
		t.Errorf("chain left behind:\n%s", out)
	}
}

// listen accepts and closes connections on addr until the test ends, and
// returns its port.
func listen(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// outboundIP is an address of this machine other than loopback.
func outboundIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Fatal("no non-loopback IPv4 address")
	return ""
}
