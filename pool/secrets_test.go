package pool

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsPrelude: the shell assignments a pool command's stdin carries
// set each secret exactly, whatever its characters — quotes, a command
// substitution, newlines, a trailing newline — and run none of it; a
// secret handed over as a file is a 0400 file holding exactly the value,
// gone when the shell ends.
func TestSecretsPrelude(t *testing.T) {
	values := map[string]string{
		"QUOTED":  `it's "quoted" \ back\slash`,
		"COMMAND": "$(touch /tmp/sluice-prelude-ran) `id` ${HOME}",
		"PEM":     "-----BEGIN KEY-----\nline two\n-----END KEY-----\n",
	}
	for name, want := range values {
		cmd := exec.Command("sh", "-c", secretsPrelude+`printf %s "$`+name+`"`)
		cmd.Stdin = strings.NewReader(exports(values, nil))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(out) != want {
			t.Errorf("%s = %q, want %q", name, out, want)
		}
	}
	if err := exec.Command("test", "-e", "/tmp/sluice-prelude-ran").Run(); err == nil {
		t.Fatal("a secret's value ran as a command")
	}
}

func TestSecretFilesPrelude(t *testing.T) {
	files := map[string]string{
		"PEM":     "-----BEGIN KEY-----\nline two\n-----END KEY-----\n",
		"COMMAND": "$(touch /tmp/sluice-prelude-file-ran) 'quoted' `id`",
	}
	for name, want := range files {
		cmd := exec.Command("sh", "-c", secretsPrelude+`echo "$`+name+`"; stat -c %a "$`+name+`"; cat "$`+name+`"`)
		cmd.Stdin = strings.NewReader(exports(map[string]string{"PLAIN": "plain-value-123"}, files))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path, rest, _ := strings.Cut(string(out), "\n")
		mode, got, _ := strings.Cut(rest, "\n")
		if mode != "400" || got != want {
			t.Errorf("%s: mode %s, content %q, want %q", name, mode, got, want)
		}
		if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) || !strings.HasSuffix(path, "/"+name) {
			t.Errorf("%s: the file's directory %s after the shell ended: %v", name, filepath.Dir(path), err)
		}
	}
	if err := exec.Command("test", "-e", "/tmp/sluice-prelude-file-ran").Run(); err == nil {
		t.Fatal("a secret's value ran as a command")
	}
}
