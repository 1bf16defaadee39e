package pipelines

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxSpecSize bounds the spec file; a pipeline definition is never this big.
const MaxSpecSize = 1 << 20

// Load reads and parses a spec file. name is the pipeline's default name.
func Load(path, name string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(filepath.Base(path), data, name)
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// Parse decodes, defaults and validates a spec. file names the source in
// problems. On any problem it returns nil and a Problems error listing all of
// them in file order.
func Parse(file string, data []byte, name string) (*Spec, error) {
	if len(data) > MaxSpecSize {
		return nil, Problems{{File: file, Line: 1, Column: 1, Message: "spec is larger than 1 MiB", Hint: "a pipeline spec is a few dozen lines; is this the right file?"}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p := Problem{File: file, Line: 1, Column: 1, Message: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Hint: "check indentation (spaces, not tabs) and quoting"}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
		}
		return nil, Problems{p}
	}
	if len(root.Content) == 0 {
		return nil, Problems{{File: file, Line: 1, Column: 1, Message: "spec is empty", Hint: "start with `version: 1` and at least one phase, for example `build:`"}}
	}
	d := &decoder{file: file, pos: map[string]*yaml.Node{}}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		d.add(doc, "", "expected a mapping of keys at the top, found "+kindName(doc), "start with `version: 1` and at least one phase, for example `build:`")
		return nil, d.problems
	}
	var s Spec
	d.decode(doc, reflect.ValueOf(&s).Elem(), "")
	applyDefaults(&s, name)
	v := &validator{d: d}
	v.spec(&s)
	if len(d.problems) > 0 {
		return nil, d.problems.sorted()
	}
	return &s, nil
}

// AsProblems extracts the problem list from an error returned by Parse.
func AsProblems(err error) (Problems, bool) {
	var ps Problems
	ok := errors.As(err, &ps)
	return ps, ok
}
