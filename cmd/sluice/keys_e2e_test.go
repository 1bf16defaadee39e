package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestKeysAreMadeOnceAndNeverSilently: `sluice keys init` makes the
// installation's keys and refuses to make them again; a process told to
// use a key that is not there refuses to start and says what to do,
// instead of making a new key that would not verify what the old signed;
// with the keys there it starts and uses them.
func TestKeysAreMadeOnceAndNeverSilently(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "keys")
	out, errOut, code := e.sluice("keys", "init", dir)
	if code != 0 {
		t.Fatalf("keys init: %d %s", code, errOut)
	}
	for _, f := range []string{"signing.key", "signing.key.pub", "decision-key"} {
		if !strings.Contains(out, filepath.Join(dir, f)) {
			t.Errorf("keys init did not report %s:\n%s", f, out)
		}
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f != "signing.key.pub" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %#o, want 0600", f, fi.Mode().Perm())
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "decision-key"))
	if _, errOut, code := e.sluice("keys", "init", dir); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("keys init again: %d %s", code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "decision-key")); string(after) != string(before) {
		t.Fatal("keys init replaced the decision key")
	}

	missing := filepath.Join(t.TempDir(), "decision-key")
	p := e.start("dev", "--data-dir", e.dataDir, "--temporal-port", strconv.Itoa(e.temporal), "--http-port", strconv.Itoa(e.http), "--ui-port", "-1",
		"--decision-key", missing)
	_ = p.cmd.Wait()
	if p.cmd.ProcessState.ExitCode() != 1 || !strings.Contains(p.out.String(), "--decision-key "+missing+" does not exist") || !strings.Contains(p.out.String(), "sluice keys init") {
		t.Fatalf("dev with a missing decision key: exit %d\n%s", p.cmd.ProcessState.ExitCode(), p.out.String())
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a decision key was made where the operator named one")
	}
	e.startDev("--decision-key", filepath.Join(dir, "decision-key"), "--signing-key", filepath.Join(dir, "signing.key"))
	if _, err := os.Stat(filepath.Join(e.dataDir, "decision-key")); err == nil {
		t.Error("the data dir got a decision key of its own beside the one named")
	}
}
