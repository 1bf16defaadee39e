package pipelines

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"

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
	return ParseWith(file, data, nil, name)
}

// Document is a YAML file decoded the way a spec is: every mismatch is a
// Problem located in the file, unknown keys come with suggestions, and
// Duration fields take values like "90s". Other files Sluice reads (chaos
// experiments) use it for the same errors as .sluice.yml.
type Document struct {
	v validator
	// failed: the file is not YAML, is empty or is not a mapping; nothing
	// was decoded.
	failed bool
}

// DecodeDocument decodes data into out, a pointer to a struct with yaml
// tags. kind names the file in problems ("spec"); start is the hint for an empty file or one that is not a mapping.
// Check Err after adding the file kind's own problems with Errorf.
func DecodeDocument(file string, data []byte, out any, kind, start string) *Document {
	d := &decoder{file: file, pos: map[string]*yaml.Node{}}
	doc := &Document{v: validator{d: d}}
	top, ok := d.readTop(file, data, kind, start)
	if !ok {
		doc.failed = true
		return doc
	}
	d.decode(top, reflect.ValueOf(out).Elem(), "")
	return doc
}

// Failed tells whether nothing could be decoded (not YAML, empty, not a
// mapping): validating the result would only add noise.
func (d *Document) Failed() bool { return d.failed }

// Errorf records a problem at key path p ("faults[1].duration"): where it
// was written, or its nearest written parent.
func (d *Document) Errorf(p, hint, format string, args ...any) { d.v.errf(p, hint, format, args...) }

// Written tells whether key path p appears in the file.
func (d *Document) Written(p string) bool {
	_, ok := d.v.d.pos[p]
	return ok
}

// Err is every problem found, in file order, as Problems; nil when none.
func (d *Document) Err() error {
	if len(d.v.d.problems) == 0 {
		return nil
	}
	return d.v.d.problems.sorted()
}

// AsProblems extracts the problem list from an error returned by Parse.
func AsProblems(err error) (Problems, bool) {
	var ps Problems
	ok := errors.As(err, &ps)
	return ps, ok
}

// Locate finds where each problem's Path is written in the spec data (or
// its nearest written parent), for problems found outside the parser: a
// spec asking beyond the server's policy.
func Locate(file string, data []byte, ps Problems) Problems {
	var s Spec
	doc := DecodeDocument(file, data, &s, "spec", "")
	for i := range ps {
		ps[i].File, ps[i].Line, ps[i].Column = file, 1, 1
		if n := doc.v.at(ps[i].Path); n != nil {
			ps[i].Line, ps[i].Column = n.Line, n.Column
		}
	}
	return ps.sorted()
}
