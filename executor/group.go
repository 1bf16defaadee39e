package executor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A command's process group is recorded in Root/.groups/<workspace> while it
// runs: the group id and the start time of its leader, so a later attempt can
// end exactly the processes of that group and never an unrelated group that
// reused the id.

func groupFile(workspace string) string {
	return filepath.Join(filepath.Dir(workspace), ".groups", filepath.Base(workspace))
}

func writeGroup(file string, pgid int) error {
	start, err := procStart(pgid)
	if err != nil {
		return fmt.Errorf("record process group: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("record process group: %w", err)
	}
	return os.WriteFile(file, fmt.Appendf(nil, "%d %d\n", pgid, start), 0o600)
}

// endEarlierAttempt kills what a lost attempt left running in the workspace
// and waits until it is gone.
func (l *Local) endEarlierAttempt(workspace string) error {
	file := groupFile(workspace)
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var pgid int
	var since uint64
	if _, err := fmt.Sscanf(string(b), "%d %d", &pgid, &since); err != nil || pgid <= 1 {
		return os.Remove(file)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := groupMembers(pgid, since)
		if len(left) == 0 {
			return os.Remove(file)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v of an earlier attempt in %s do not end", left, workspace)
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupMembers lists the live (not zombie) processes of group pgid that
// started no earlier than since (clock ticks after boot).
func groupMembers(pgid int, since uint64) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.pgrp != pgid || st.start < since || st.state == "Z" {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

type procStat struct {
	state string
	pgrp  int
	start uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// the command name (field 2) may hold spaces and parentheses
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("short stat of %d", pid)
	}
	pgrp, _ := strconv.Atoi(f[2])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procStat{state: f[0], pgrp: pgrp, start: start}, nil
}

func procStart(pid int) (uint64, error) {
	st, err := readStat(pid)
	return st.start, err
}
