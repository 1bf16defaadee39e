package pipelines

import (
	"slices"
	"strings"
	"testing"
)

func TestMatchPath(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"services/api/**", "services/api/main.go", true},
		{"services/api/**", "services/api/internal/db/db.go", true},
		{"services/api/**", "services/apiv2/main.go", false},
		{"services/api/**", "services/api", true},
		{"**/*.md", "README.md", true},
		{"**/*.md", "docs/guide/intro.md", true},
		{"**/*.md", "docs/guide/intro.go", false},
		{"go.mod", "go.mod", true},
		{"go.mod", "lib/go.mod", false},
		{"*.go", "main.go", true},
		{"*.go", "cmd/main.go", false},
		{"lib/*/x", "lib/a/x", true},
		{"lib/*/x", "lib/a/b/x", false},
	}
	for _, c := range cases {
		if got := MatchPath([]string{c.pattern}, c.name); got != c.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestRuleMatch(t *testing.T) {
	main := Facts{Event: EventPush, Branch: "main", Changed: []string{"services/api/main.go"}, ChangesKnown: true}
	feature := Facts{Event: EventPush, Branch: "feature/x", Changed: []string{"docs/a.md"}, ChangesKnown: true}
	tag := Facts{Event: EventTag, Tag: "v1.2.0"}
	manual := Facts{Event: EventManual, Branch: "feature/x"}
	cases := []struct {
		name  string
		rule  *Rule
		facts Facts
		want  bool
		why   string
	}{
		{"no rule", nil, feature, true, ""},
		{"branch", &Rule{Branches: []string{"main"}}, main, true, ""},
		{"other branch", &Rule{Branches: []string{"main"}}, feature, false, "branch feature/x not in branches [main]"},
		{"branches alone refuse a tag", &Rule{Branches: []string{"main"}}, tag, false, "tag v1.2.0 not in tags []"},
		{"tags", &Rule{Branches: []string{"main"}, Tags: []string{"v*"}}, tag, true, ""},
		{"tags alone refuse a branch", &Rule{Tags: []string{"v*"}}, main, false, "branch main not in branches []"},
		{"event", &Rule{Events: []string{EventPush, EventTag}}, manual, false, "event manual not in events [push tag]"},
		{"paths", &Rule{Paths: []string{"services/api/**"}}, main, true, ""},
		{"paths unchanged", &Rule{Paths: []string{"services/api/**"}}, feature, false, "no changed file under paths [services/api/**]"},
		{"paths unknown hold", &Rule{Paths: []string{"services/api/**"}}, manual, true, ""},
		{"every condition", &Rule{Branches: []string{"main"}, Paths: []string{"docs/**"}}, main, false, "no changed file"},
	}
	for _, c := range cases {
		ok, why := c.rule.Match(c.facts)
		if ok != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: Match = %v %q, want %v %q", c.name, ok, why, c.want, c.why)
		}
	}
}

// TestStarts: `on` decides which pushes start a run; a tag starts one
// only where on.tags names it; a manual run always starts.
func TestStarts(t *testing.T) {
	s := &Spec{On: Triggers{Branches: []string{"main"}, Tags: []string{"v*"}, Paths: []string{"services/api/**", "go.mod"}}}
	for _, c := range []struct {
		facts Facts
		want  bool
		why   string
	}{
		{Facts{Event: EventPush, Branch: "main", Changed: []string{"go.mod"}, ChangesKnown: true}, true, ""},
		{Facts{Event: EventPush, Branch: "main", Changed: []string{"services/web/a.go"}, ChangesKnown: true}, false, "no changed file is under on.paths"},
		{Facts{Event: EventPush, Branch: "dev"}, false, "branch dev is not in on.branches"},
		{Facts{Event: EventTag, Tag: "v1"}, true, ""},
		{Facts{Event: EventTag, Tag: "nightly"}, false, "tag nightly is not in on.tags"},
		{Facts{Event: EventManual, Branch: "dev"}, true, ""},
	} {
		ok, why := s.Starts(c.facts)
		if ok != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%+v: Starts = %v %q, want %v %q", c.facts, ok, why, c.want, c.why)
		}
	}
	if ok, _ := (&Spec{}).Starts(Facts{Event: EventTag, Tag: "v1"}); ok {
		t.Error("a spec without on.tags started a tag's run")
	}
	merge := &Spec{On: Triggers{Events: []string{EventPush}}}
	if ok, why := merge.Starts(Facts{Event: EventMergeRequest, Branch: "x"}); ok || !strings.Contains(why, "on.events") {
		t.Errorf("a merge request against on.events [push]: %v %q", ok, why)
	}
}

// TestApplyRules: a phase whose rule does not hold leaves the spec, and
// so does every phase that needs it, each with its reason.
func TestApplyRules(t *testing.T) {
	src := "version: 1\nbuild: {commands: [make]}\ntest: {commands: [make test], when: {paths: [src/**]}}\n" +
		"bake: {image: 127.0.0.1:5000/app, when: {branches: [main], tags: [v*]}}\ndeploy: {manifests: k8s}\n" +
		"environments: {production: {namespace: app}}\nproduction: {manifests: prod, when: {tags: [v*]}}\n"
	parse := func() *Spec {
		s, err := Parse(FileName, []byte(src), "app")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	feature := parse()
	skipped := feature.ApplyRules(Facts{Event: EventPush, Branch: "feature/x", Changed: []string{"README.md"}, ChangesKnown: true})
	want := []Skip{
		{Phase: PhaseTest, Rule: "test.when: no changed file under paths [src/**]"},
		{Phase: PhaseBake, Rule: "bake.when: branch feature/x not in branches [main]"},
		{Phase: PhaseDeploy, Rule: "needs bake, which its rule skips"},
		{Phase: PhaseProduction, Rule: "production.when: branch feature/x not in branches []"},
	}
	if !slices.Equal(skipped, want) {
		t.Errorf("feature branch skipped %v, want %v", skipped, want)
	}
	if feature.Build == nil || feature.Test != nil || feature.Bake != nil || feature.Deploy != nil || feature.Production != nil {
		t.Errorf("feature branch's spec kept the wrong phases: %+v", feature)
	}
	release := parse()
	if skipped := release.ApplyRules(Facts{Event: EventTag, Tag: "v2"}); len(skipped) != 0 || release.Production == nil || release.Test == nil {
		t.Errorf("a release tag skipped %v", skipped)
	}
	if !parse().NeedsChanges() {
		t.Error("a spec with when.paths does not ask for the changes")
	}
}

// TestUnusedKeysAreReported: build.image and build.cache, which no run
// acts on, are reported at their lines, so lint can warn.
func TestUnusedKeysAreReported(t *testing.T) {
	data := []byte("version: 1\nbuild:\n  commands: [make]\n  image: 127.0.0.1:5000/go:1\n  cache: [/root/.cache]\n")
	s, err := Parse(FileName, data, "app")
	if err != nil {
		t.Fatal(err)
	}
	ps := Unused(FileName, data, s)
	if len(ps) != 2 || ps[0].Path != "build.image" || ps[0].Line != 4 || ps[1].Path != "build.cache" || ps[1].Line != 5 {
		t.Fatalf("unused keys: %v", ps)
	}
	clean, _ := Parse(FileName, []byte("version: 1\nbuild: {commands: [make]}\n"), "app")
	if ps := Unused(FileName, nil, clean); len(ps) != 0 {
		t.Fatalf("a spec without them: %v", ps)
	}
}

func TestInputDeclarations(t *testing.T) {
	for src, want := range map[string]string{
		"inputs: {env: {type: choice}}":                           "a choice needs options",
		"inputs: {env: {type: text}}":                             `unknown value "text"`,
		"inputs: {n: {type: number, default: many}}":              `default "many" is not a number`,
		"inputs: {Env: {}}":                                       `bad input name "Env"`,
		"inputs: {env: {options: [a]}}":                           "options are for a choice",
		"inputs: {env: {type: choice, options: [a], default: b}}": `default "b" is not one of a`,
	} {
		_, err := Parse(FileName, []byte("version: 1\nbuild: {commands: [make]}\n"+src+"\n"), "app")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ".sluice.yml:3:") {
			t.Errorf("%s: %v, want %q at line 3", src, err, want)
		}
	}
}
