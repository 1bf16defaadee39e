package pipelines

import (
	"slices"
	"strings"
	"testing"
)

const goTemplate = `build:
  commands: [go build ./...]
  env: {CGO_ENABLED: "0"}
  timeout: 20m
test:
  commands: [go vet ./..., go test -race ./...]
`

// TestParseWithIncludes: a fragment's keys are the spec's defaults — a
// mapping merged key by key, a list or value of the spec replacing the
// fragment's — and the merged spec is validated as one.
func TestParseWithIncludes(t *testing.T) {
	spec := "version: 1\ninclude: [{repo: acme/t, ref: v1, file: go.yml}]\nbuild:\n  commands: [make]\n  env: {GOFLAGS: -mod=vendor}\n"
	s, err := ParseWith(FileName, []byte(spec), []Fragment{{Name: "acme/t@v1:go.yml", Data: []byte(goTemplate)}}, "app")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Build.Commands, []string{"make"}) || s.Build.Env["CGO_ENABLED"] != "0" || s.Build.Env["GOFLAGS"] != "-mod=vendor" || s.Build.Timeout.String() != "20m" {
		t.Errorf("build %+v", s.Build)
	}
	if s.Test == nil || len(s.Test.Commands) != 2 || len(s.Include) != 1 {
		t.Errorf("test %+v, include %+v", s.Test, s.Include)
	}
	// a later fragment overrides an earlier one
	s, err = ParseWith(FileName, []byte("version: 1\n"), []Fragment{{Name: "a", Data: []byte(goTemplate)}, {Name: "b", Data: []byte("test: {commands: [make test]}\n")}}, "app")
	if err != nil || !slices.Equal(s.Test.Commands, []string{"make test"}) || s.Build == nil {
		t.Errorf("two fragments: %+v %v", s, err)
	}
}

// TestIncludeProblemsNameTheirFile: a problem written in a fragment is
// reported in the fragment, at its line; one in the spec, in the spec;
// a fragment that includes others, or is not YAML, is refused.
func TestIncludeProblemsNameTheirFile(t *testing.T) {
	bad := "build:\n  commands: [make]\n  timeout: soon\n"
	_, err := ParseWith(FileName, []byte("version: 1\ntest:\n  comands: [x]\n"), []Fragment{{Name: "acme/t@v1:go.yml", Data: []byte(bad)}}, "app")
	ps, _ := AsProblems(err)
	var where []string
	for _, p := range ps {
		where = append(where, p.Error())
	}
	got := strings.Join(where, "\n")
	if !strings.Contains(got, `acme/t@v1:go.yml:3:12: build.timeout: bad duration "soon"`) || !strings.Contains(got, `.sluice.yml:3:3: test.comands: unknown key "comands"`) {
		t.Errorf("problems:\n%s", got)
	}
	for frag, want := range map[string]string{
		"include: [{repo: a, ref: v1, file: b.yml}]\n": "an included fragment includes others",
		"build: [\n": "not valid YAML",
		"- a\n":      "expected a mapping",
	} {
		_, err := ParseWith(FileName, []byte("version: 1\nbuild: {commands: [a]}\n"), []Fragment{{Name: "frag.yml", Data: []byte(frag)}}, "app")
		if err == nil || !strings.Contains(err.Error(), "frag.yml:") || !strings.Contains(err.Error(), want) {
			t.Errorf("fragment %q: %v, want %q", frag, err, want)
		}
	}
	for src, want := range map[string]string{
		"include: [{repo: acme/t, file: go.yml}]":                       `bad ref ""`,
		"include: [{repo: acme/t, ref: v1, commit: abc, file: go.yml}]": `bad commit "abc"`,
		"include: [{repo: acme/t, ref: v1, file: ../go.yml}]":           "leaves the repository",
	} {
		if _, err := Parse(FileName, []byte("version: 1\nbuild: {commands: [a]}\n"+src+"\n"), "app"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
	if ins := Includes([]byte("version: 1\ninclude: [{repo: acme/t, ref: v1, file: go.yml}]\n")); len(ins) != 1 || ins[0].String() != "acme/t@v1:go.yml" {
		t.Errorf("Includes = %+v", ins)
	}
}

// TestExtendsATemplateOfAnIncludedFragment: the templates a job extends
// may come from a fragment; a problem in one is reported in the fragment.
func TestExtendsATemplateOfAnIncludedFragment(t *testing.T) {
	frag := Fragment{Name: "acme/t@v1:jobs.yml", Data: []byte("templates:\n  go:\n    pool: go\n    timeout: 10m\n")}
	spec := "version: 1\ninclude: [{repo: acme/t, ref: v1, file: jobs.yml}]\ntest:\n  jobs:\n    unit: {extends: go, commands: [go test ./...]}\n"
	s, err := ParseWith(FileName, []byte(spec), []Fragment{frag}, "app")
	if err != nil {
		t.Fatal(err)
	}
	if u := s.Test.Jobs["unit"]; u.Pool != "go" || u.Timeout.String() != "10m" {
		t.Fatalf("unit %+v", u)
	}
	frag.Data = []byte("templates:\n  go:\n    pool: go\n    timeout: soon\n")
	_, err = ParseWith(FileName, []byte(spec), []Fragment{frag}, "app")
	ps, _ := AsProblems(err)
	if len(ps) == 0 || ps[0].File != frag.Name || ps[0].Line != 4 {
		t.Fatalf("a bad template: %v", err)
	}
}
