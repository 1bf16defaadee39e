package devserver

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// narrowPorts makes freePort choose among 20 ports, under lock names of
// this test's own, so that other test binaries picking ports meanwhile do
// not disturb the count.
func narrowPorts(t *testing.T, prefix string) {
	low, high, old := portLow, portHigh, lockPrefix
	portLow, portHigh, lockPrefix = 29940, 29960, prefix
	t.Cleanup(func() { portLow, portHigh, lockPrefix = low, high, old })
}

// TestHelperHoldPorts is the other process of
// TestPortsPickedByAnotherProcessAreNotHandedOut: it picks ten ports,
// prints them and holds them until its stdin closes.
func TestHelperHoldPorts(t *testing.T) {
	prefix := os.Getenv("SLUICE_PORTS_HOLDER")
	if prefix == "" {
		t.Skip("run by TestPortsPickedByAnotherProcessAreNotHandedOut")
	}
	narrowPorts(t, prefix)
	var held []string
	for range 10 {
		p, err := freePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, strconv.Itoa(p))
	}
	os.Stdout.WriteString("held " + strings.Join(held, " ") + "\n")
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes it
}

func TestPortsPickedByAnotherProcessAreNotHandedOut(t *testing.T) {
	prefix := "@sluice-port-test-" + strconv.Itoa(os.Getpid()) + "-"
	holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldPorts$")
	holder.Env = append(os.Environ(), "SLUICE_PORTS_HOLDER="+prefix)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); holder.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "held ") {
		t.Fatalf("holder printed %q (%v)", line, err)
	}
	theirs := strings.Fields(strings.TrimPrefix(line, "held "))

	narrowPorts(t, prefix)
	var ours []int
	t.Cleanup(func() { release(ours...) })
	for range 10 {
		p, err := freePort("127.0.0.1")
		if err != nil {
			t.Fatalf("after %v: %v", ours, err)
		}
		if slices.Contains(theirs, strconv.Itoa(p)) {
			t.Fatalf("port %d handed out while the other process holds it (it holds %v)", p, theirs)
		}
		if slices.Contains(ours, p) {
			t.Fatalf("port %d handed out twice in this process", p)
		}
		ours = append(ours, p)
	}
	if p, err := freePort("127.0.0.1"); err == nil {
		t.Fatalf("all 20 ports are held, yet %d was handed out", p)
	}

	release(ours[0])
	if p, err := freePort("127.0.0.1"); err != nil || p != ours[0] {
		t.Fatalf("after releasing %d, freePort = %d, %v; want the released port", ours[0], p, err)
	}
}
