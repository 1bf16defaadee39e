package devservertest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
)

// serveEnv tells a copy of the test binary to be the server of StartProcess.
const serveEnv = "SLUICE_DEVSERVERTEST_SERVE"

// A test binary started by StartProcess serves instead of testing: it
// prints the server's address and serves until its stdin closes.
func init() {
	dir := os.Getenv(serveEnv)
	if dir == "" {
		return
	}
	srv, err := serve(dir)
	if err != nil {
		os.Stderr.WriteString("devservertest: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("address " + srv.Address + "\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Stop()
	os.Exit(0)
}

// StartProcess runs the server in a child process (a copy of the test
// binary) and returns a connected client: for measuring what a worker in
// this process costs without the server's memory in it.
func StartProcess(tb testing.TB) client.Client {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"="+tb.TempDir())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "address ")
	if err != nil || !ok {
		tb.Fatalf("the server process did not start: %q %v", line, err)
	}
	return dial(tb, addr)
}
