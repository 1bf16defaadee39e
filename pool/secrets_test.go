package pool

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSecretsPrelude: the shell assignments a pool command's stdin carries
// set each secret exactly, whatever its characters — quotes, a command
// substitution, newlines, a trailing newline — and run none of it.
func TestSecretsPrelude(t *testing.T) {
	values := map[string]string{
		"QUOTED":  `it's "quoted" \ back\slash`,
		"COMMAND": "$(touch /tmp/sluice-prelude-ran) `id` ${HOME}",
		"PEM":     "-----BEGIN KEY-----\nline two\n-----END KEY-----\n",
	}
	for name, want := range values {
		cmd := exec.Command("sh", "-c", secretsPrelude+`printf %s "$`+name+`"`)
		cmd.Stdin = strings.NewReader(exports(values))
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
