package pipelines

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it must never panic, and it
// must return either a spec or a non-empty problem list with positions.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	if b, err := os.ReadFile("../examples/hello/.sluice.yml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{"", "version: 1", "a: [", "version: 1\nbuild: &a {commands: [x]}\ntest: *a\n", "- 1", "version: 1\napproval:\n  approvers: {users: [a, a]}\n", "version: !!binary aGk=\n", "{version: 1, build: {commands: x, timeout: 1d}}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(FileName, data, "fuzz")
		if err == nil {
			if s == nil || s.Version != 1 {
				t.Fatalf("accepted spec must be version 1: %+v", s)
			}
			return
		}
		ps, ok := AsProblems(err)
		if !ok || len(ps) == 0 {
			t.Fatalf("error is not a problem list: %v", err)
		}
		for _, p := range ps {
			if p.Line < 1 || p.Column < 1 || strings.TrimSpace(p.Message) == "" {
				t.Fatalf("problem without position or message: %+v", p)
			}
		}
	})
}
