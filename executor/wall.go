package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Wall keeps the step user's processes from connecting to the TCP ports of
// this machine that belong to the control plane: Temporal's frontend and
// internal services, the HTTP API, the registries. Local steps run as the
// step user, so the kernel can tell their connections from the worker's:
// a chain of the OUTPUT table, jumped to first, rejects (TCP reset) every
// new connection of that user to one of the ports on an address of this
// machine (loopback or any other it owns). Every other connection of a
// step — its own test servers on loopback, the module proxy — is left
// alone.
//
// The chain is the wall's own (SLUICE-STEPS-<pid>-<n>), removed by down;
// chains of processes that are gone (a worker killed with SIGKILL) are
// removed by the next Up. It needs root and iptables (or ip6tables for
// ::1; without it only IPv4 is walled).
type Wall struct {
	UID   uint32
	Ports []int
}

const wallPrefix = "SLUICE-STEPS-"

var (
	wallChain = regexp.MustCompile(`^-N (` + wallPrefix + `([0-9]+)-[0-9]+)$`)
	walls     atomic.Int32
)

// Up puts the wall in place and returns what takes it down.
func (w Wall) Up(ctx context.Context) (down func(), err error) {
	if len(w.Ports) == 0 {
		return func() {}, nil
	}
	ports := slices.Clone(w.Ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	chain := fmt.Sprintf("%s%d-%d", wallPrefix, os.Getpid(), walls.Add(1))
	tables := []string{"iptables"}
	if _, err := exec.LookPath("ip6tables"); err == nil {
		tables = append(tables, "ip6tables")
	}
	var up []string
	defer func() {
		if err != nil {
			for _, t := range up {
				removeChain(t, chain)
			}
		}
	}()
	for _, t := range tables {
		sweepChains(ctx, t)
		if err := ipt(ctx, t, "-N", chain); err != nil {
			return nil, fmt.Errorf("wall off build steps: %w (run the worker as root, with iptables installed)", err)
		}
		up = append(up, t)
		// at most 15 ports per multiport match
		for chunk := range slices.Chunk(ports, 15) {
			list := make([]string, len(chunk))
			for i, p := range chunk {
				list[i] = strconv.Itoa(p)
			}
			if err := ipt(ctx, t, "-A", chain, "-p", "tcp", "-m", "addrtype", "--dst-type", "LOCAL",
				"-m", "multiport", "--dports", strings.Join(list, ","),
				"-m", "owner", "--uid-owner", strconv.FormatUint(uint64(w.UID), 10),
				"-j", "REJECT", "--reject-with", "tcp-reset"); err != nil {
				return nil, fmt.Errorf("wall off build steps: %w", err)
			}
		}
		if err := ipt(ctx, t, "-I", "OUTPUT", "1", "-j", chain); err != nil {
			return nil, fmt.Errorf("wall off build steps: %w", err)
		}
	}
	return func() {
		for _, t := range tables {
			removeChain(t, chain)
		}
	}, nil
}

// ipt runs one iptables command, waiting for the table's lock.
func ipt(ctx context.Context, table string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, table, append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", table, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeChain takes a wall's chain out of OUTPUT and deletes it.
func removeChain(table, chain string) {
	ctx := context.Background()
	for range 8 { // one jump, unless a crash left more
		if ipt(ctx, table, "-D", "OUTPUT", "-j", chain) != nil {
			break
		}
	}
	_ = ipt(ctx, table, "-F", chain)
	_ = ipt(ctx, table, "-X", chain)
}

// sweepChains removes the walls of processes that are gone.
func sweepChains(ctx context.Context, table string) {
	out, err := exec.CommandContext(ctx, table, "-w", "5", "-S").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		m := wallChain.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[2])
		if pid != os.Getpid() && !alive(pid) {
			removeChain(table, m[1])
		}
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
