package access

import (
	"os"
	"strings"
	"testing"
)

// TestSecurityTableIsTheCode: the roles table of docs/security.md is the
// one this package enforces, cell by cell.
func TestSecurityTableIsTheCode(t *testing.T) {
	doc, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "<!-- roles table: generated from access.allows -->\n")
	if !ok {
		t.Fatal("docs/security.md has no roles table")
	}
	lines := strings.Split(table, "\n")
	header := cells(lines[0])
	if strings.Join(header[1:], ",") != strings.Join(Roles, ",") {
		t.Fatalf("columns %v, want %v", header[1:], Roles)
	}
	rows := 0
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		c := cells(l)
		if c[0] != Actions[rows] {
			t.Fatalf("row %d is %q, want %q", rows, c[0], Actions[rows])
		}
		for i, role := range Roles {
			if want := Allows(role, c[0]); (c[i+1] == "yes") != want {
				t.Errorf("%s may %s: the table says %q, the code %v", role, c[0], c[i+1], want)
			}
		}
		rows++
	}
	if rows != len(Actions) {
		t.Fatalf("%d rows, want one per action (%d)", rows, len(Actions))
	}
}

func cells(line string) []string {
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func TestGrants(t *testing.T) {
	g := Grants{"payments": {Developer}, AnyProject: {Viewer}}
	for _, c := range []struct {
		project, action string
		want            bool
	}{
		{"payments", Run, true}, {"payments", Approve, false}, {"search", Logs, true}, {"search", Run, false},
	} {
		if got := g.Allows(c.project, c.action); got != c.want {
			t.Errorf("%s in %s: %v, want %v", c.action, c.project, got, c.want)
		}
	}
	if errs := (Grants{"nope": {"boss"}}).Check("api_tokens[0].roles", []string{"payments"}); len(errs) != 2 {
		t.Fatalf("errors %v", errs)
	}
}
