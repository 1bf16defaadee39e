package pipelines

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxIncludes bounds the fragments one spec includes.
const MaxIncludes = 10

// Include names a spec fragment in another repository, read at a tag or
// a commit: its keys are the spec's defaults, which the spec's own keys
// override (mappings merge key by key; lists and values are replaced).
type Include struct {
	Repo   string `yaml:"repo" json:"repo" doc:"The repository: one of the server's configuration by name (acme/ci-templates); on a server without repositories, a path or URL." required:"true"`
	Ref    string `yaml:"ref" json:"ref" doc:"A tag (v1.2.0) or a full commit SHA; never a branch, which moves under every run." required:"true"`
	Commit string `yaml:"commit" json:"commit,omitempty" doc:"The commit the tag names, pinned: a tag moved since is reported and nothing runs."`
	File   string `yaml:"file" json:"file" doc:"The fragment's path in that repository (templates/go.yml)." required:"true"`
}

// Fragment is an included file as read: Name says where it came from in
// problems ("acme/ci-templates@v1.2.0:templates/go.yml").
type Fragment struct {
	Name string
	Data []byte
}

// String names the include as its problems do.
func (in Include) String() string { return in.Repo + "@" + in.Ref + ":" + in.File }

var shaRef = regexp.MustCompile(`^[0-9a-f]{40}$`)

func (v *validator) includes(s *Spec) {
	if len(s.Include) > MaxIncludes {
		v.errf("include", fmt.Sprintf("merge fragments into fewer files (at most %d)", MaxIncludes), "%d includes", len(s.Include))
	}
	for i, in := range s.Include {
		p := fmt.Sprintf("include[%d]", i)
		if in.Repo == "" {
			v.errf(p+".repo", "name the repository, like acme/ci-templates", "include needs a repo")
		}
		if in.Ref == "" || strings.HasPrefix(in.Ref, "-") || strings.ContainsAny(in.Ref, " ~^:?*[\\") {
			v.errf(p+".ref", "a tag like v1.2.0, or a full commit SHA", "bad ref %q", in.Ref)
		}
		if in.Commit != "" && !shaRef.MatchString(in.Commit) {
			v.errf(p+".commit", "the full 40-character SHA the tag names (git rev-parse TAG^{commit})", "bad commit %q", in.Commit)
		}
		if in.File == "" {
			v.errf(p+".file", "the fragment's path in the repository, like templates/go.yml", "include needs a file")
		} else {
			v.relative(p+".file", in.File)
		}
	}
}

// Includes reads the include list of a spec, before it is parsed: what
// must be fetched. A file that is not YAML has none (Parse reports it).
func Includes(data []byte) []Include {
	var s struct {
		Include []Include `yaml:"include"`
	}
	if len(data) > MaxSpecSize || yaml.Unmarshal(data, &s) != nil {
		return nil
	}
	return s.Include
}

// ParseWith is Parse of a spec that includes fragments: the fragments,
// in order, then the spec are merged into one document, which is decoded,
// defaulted and validated as one spec; a problem names the file it was
// written in. A fragment that includes others is refused (one level).
func ParseWith(file string, data []byte, fragments []Fragment, name string) (*Spec, error) {
	var s Spec
	d := &decoder{file: file, pos: map[string]*yaml.Node{}}
	if len(fragments) > 0 {
		d.origin = map[*yaml.Node]string{}
	}
	doc := &Document{v: validator{d: d}}
	merged, ok := d.readTop(file, data, "spec", "start with `version: 1` and at least one phase, for example `build:`")
	if !ok {
		return nil, doc.Err()
	}
	var base *yaml.Node
	for _, f := range fragments {
		top, ok := d.readTop(f.Name, f.Data, "included fragment", "a fragment is part of a spec: keys like build: or test:")
		if !ok {
			continue
		}
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == "include" {
				d.add(top.Content[i], "include", "an included fragment includes others", "include every fragment from the spec itself")
			}
		}
		base = mergeNodes(base, top)
	}
	if len(d.problems) > 0 {
		return nil, doc.Err()
	}
	top := mergeNodes(base, merged)
	d.extend(top)
	d.decode(top, reflect.ValueOf(&s).Elem(), "")
	applyDefaults(&s, name)
	doc.v.spec(&s)
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return &s, nil
}

// readTop reads a file's top mapping; when the decoder merges files it
// remembers which file each node came from. A file that is too large, not
// YAML, empty or not a mapping is a problem, and no node.
func (d *decoder) readTop(file string, data []byte, kind, start string) (*yaml.Node, bool) {
	bad := func(line int, msg, hint string) (*yaml.Node, bool) {
		d.problems = append(d.problems, Problem{File: file, Line: line, Column: 1, Message: msg, Hint: hint})
		return nil, false
	}
	if len(data) > MaxSpecSize {
		return bad(1, kind+" is larger than 1 MiB", "a "+kind+" is a few dozen lines; is this the right file?")
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line := 1
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		return bad(line, "not valid YAML: "+strings.TrimPrefix(err.Error(), "yaml: "), "check indentation (spaces, not tabs) and quoting")
	}
	if len(root.Content) == 0 {
		return bad(1, kind+" is empty", start)
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		d.problems = append(d.problems, Problem{File: file, Line: top.Line, Column: top.Column, Message: "expected a mapping of keys at the top, found " + kindName(top), Hint: start})
		return nil, false
	}
	if d.origin != nil {
		var mark func(n *yaml.Node)
		mark = func(n *yaml.Node) {
			d.origin[n] = file
			for _, c := range n.Content {
				mark(c)
			}
		}
		mark(top)
	}
	return top, true
}

// mergeNodes overlays mapping over on base: a key in both whose values
// are both mappings is merged, any other value of over replaces base's.
func mergeNodes(base, over *yaml.Node) *yaml.Node {
	if base == nil {
		return over
	}
	if base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: over.Tag, Line: over.Line, Column: over.Column}
	index := map[string]int{}
	for i := 0; i+1 < len(base.Content); i += 2 {
		index[base.Content[i].Value] = len(out.Content)
		out.Content = append(out.Content, base.Content[i], base.Content[i+1])
	}
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		if j, ok := index[k.Value]; ok {
			out.Content[j], out.Content[j+1] = k, mergeNodes(out.Content[j+1], v)
			continue
		}
		out.Content = append(out.Content, k, v)
	}
	return out
}
