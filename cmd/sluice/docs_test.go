package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// docCommand is one `sluice …` command line the docs show.
type docCommand struct {
	where string // file:line
	text  string // from the command's first word on
}

var (
	fence      = regexp.MustCompile("^\\s*```")
	inlineCode = regexp.MustCompile("`([^`]+)`")
	// an invocation: at the start of a code line or span, after a prompt,
	// a shell operator or bin/
	invocation = regexp.MustCompile(`(?:^|\$ |[;&|(]\s*|bin/)sluice\s+([a-z].*)$`)
	longFlag   = regexp.MustCompile(`(?:^|[\s\[(])--([a-z][a-z0-9-]*)`)
	shortFlag  = regexp.MustCompile(`(?:^|[\s\[(])-([a-zA-Z])(?:[\s\]=)]|$)`)
)

// docCommands finds the command lines of README.md and docs/*.md: in
// fenced blocks and in inline code.
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	var out []docCommand
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inFence := false
		for i, line := range strings.Split(string(b), "\n") {
			where := filepath.Base(f) + ":" + strconv.Itoa(i+1)
			if fence.MatchString(line) {
				inFence = !inFence
				continue
			}
			var spans []string
			if inFence {
				spans = []string{line}
			} else {
				for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
					spans = append(spans, m[1])
				}
			}
			for _, s := range spans {
				s, _, _ = strings.Cut(s, " #") // a shell comment
				if m := invocation.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
					out = append(out, docCommand{where: where, text: m[1]})
				}
			}
		}
	}
	return out
}

// resolve finds the command a doc line names and the commands its flags may
// belong to: one, or each of the alternatives "pool list|drain" offers.
func resolve(root *cobra.Command, text string) ([]*cobra.Command, string, error) {
	cmd := root
	rest := strings.Fields(strings.NewReplacer(`\|`, "|").Replace(text))
	for len(rest) > 0 {
		alts := strings.Split(strings.Trim(rest[0], "[]"), "|")
		if len(alts) > 1 { // "list|drain NAME|resize NAME": every alternative named
			alts = nil
			for _, w := range rest {
				alts = append(alts, strings.Split(strings.Trim(w, "[]"), "|")...)
			}
		}
		var found []*cobra.Command
		for _, a := range alts {
			for _, c := range cmd.Commands() {
				if c.Name() == a || c.HasAlias(a) {
					found = append(found, c)
				}
			}
		}
		if len(found) == 0 {
			break
		}
		if len(found) > 1 {
			return found, strings.Join(rest[1:], " "), nil
		}
		cmd, rest = found[0], rest[1:]
	}
	if cmd == root {
		return nil, "", errNoCommand
	}
	return []*cobra.Command{cmd}, strings.Join(rest, " "), nil
}

type docError string

func (e docError) Error() string { return string(e) }

const errNoCommand = docError("names no sluice command")

// hasFlag says whether one of cmds takes the flag (its own or inherited).
func hasFlag(cmds []*cobra.Command, long, short string) bool {
	for _, c := range cmds {
		if long != "" && c.Flag(long) != nil {
			return true
		}
		if short != "" && (c.Flags().ShorthandLookup(short) != nil || c.InheritedFlags().ShorthandLookup(short) != nil) {
			return true
		}
	}
	return false
}

// problems says what is wrong with one documented command line: a command
// that does not exist, a flag the command does not take.
func problems(d docCommand) []string {
	targets, args, err := resolve(newRoot(), d.text)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, m := range longFlag.FindAllStringSubmatch(args, -1) {
		if !hasFlag(targets, m[1], "") {
			out = append(out, targets[0].CommandPath()+" takes no --"+m[1])
		}
	}
	for _, m := range shortFlag.FindAllStringSubmatch(args, -1) {
		if !hasFlag(targets, "", m[1]) {
			out = append(out, targets[0].CommandPath()+" takes no -"+m[1])
		}
	}
	return out
}

// TestDocsCommands: every `sluice …` command line in the README and docs
// names a command that exists and only flags it takes, so a renamed
// command or flag fails the build until the docs follow.
func TestDocsCommands(t *testing.T) {
	cmds := docCommands(t)
	if len(cmds) < 40 {
		t.Fatalf("found only %d command lines in the docs: the scan is broken", len(cmds))
	}
	for _, d := range cmds {
		for _, p := range problems(d) {
			t.Errorf("%s: `sluice %s`: %s", d.where, d.text, p)
		}
	}
	t.Logf("%d command lines checked", len(cmds))
}

// TestDocsCommandsRefuseStaleOnes: the check refuses a planted stale flag,
// shorthand and command, in a fenced line and in a usage synopsis.
func TestDocsCommandsRefuseStaleOnes(t *testing.T) {
	for _, text := range []string{
		"run --repo ~/src/myapp --ref main --wiat",
		"status RUN -w",
		"pool list|drain NAME|resize NAME --min N --config FILE [--kube-config]",
		"promote RUN",
	} {
		if len(problems(docCommand{text: text})) == 0 {
			t.Errorf("`sluice %s` passed the docs check", text)
		}
	}
	if p := problems(docCommand{text: "run --repo ~/src/myapp --ref main --wait -o json"}); len(p) > 0 {
		t.Errorf("a good line refused: %v", p)
	}
}
