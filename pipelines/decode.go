package pipelines

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder turns a YAML node tree into spec values by reflection, recording a
// Problem for every mismatch instead of stopping at the first, and remembering
// where each key path was written so validation can point at it.
type decoder struct {
	file     string
	problems Problems
	// pos maps a key path ("approval.timeout") to the node that set it.
	pos map[string]*yaml.Node
	// values and bytes count what was decoded, aliases expanded;
	// overflow: past MaxValues or MaxExpandedBytes, nothing more is.
	values, bytes int
	overflow      bool
	// origin is the file each node was read from, when a spec merges
	// included fragments (nil: every node is file's).
	origin map[*yaml.Node]string
}

// What one file may expand to once YAML aliases (*name) repeat what their
// anchors (&name) hold. A spec travels in every run's history: a few
// kilobytes of aliases must not become gigabytes of commands.
const (
	MaxValues        = 20_000
	MaxExpandedBytes = 1 << 20
)

// expand counts n (the alias itself, when it is one) and says whether the
// file is past its bounds; the first node past them is the problem's place.
func (d *decoder) expand(n, target *yaml.Node) bool {
	if d.overflow {
		return true
	}
	d.values++
	d.bytes += len(target.Value)
	if d.values <= MaxValues && d.bytes <= MaxExpandedBytes {
		return false
	}
	d.overflow = true
	d.add(n, "", fmt.Sprintf("the file expands to more than %d values or %d KiB of text", MaxValues, MaxExpandedBytes>>10),
		"YAML aliases (*name) repeat everything their anchor (&name) holds, and aliases of aliases multiply it: write the values out, or use fewer")
	return true
}

var durationType = reflect.TypeFor[Duration]()

func (d *decoder) add(n *yaml.Node, path, msg, hint string) {
	line, col, file := 1, 1, d.file
	if n != nil {
		line, col = n.Line, n.Column
		if f, ok := d.origin[n]; ok {
			file = f
		}
	}
	d.problems = append(d.problems, Problem{File: file, Line: line, Column: col, Path: path, Message: msg, Hint: hint})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "empty"
	}
	return fmt.Sprintf("%q", n.Value)
}

// fieldsOf returns the yaml keys of a struct type, in declaration order.
func fieldsOf(t reflect.Type) ([]string, map[string]int) {
	keys := make([]string, 0, t.NumField())
	idx := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		k := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		keys = append(keys, k)
		idx[k] = i
	}
	return keys, idx
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	target := n
	if n.Kind == yaml.AliasNode {
		target = n.Alias
	}
	if d.expand(n, target) {
		return
	}
	n = target
	d.pos[path] = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		if v.Kind() == reflect.Pointer {
			// "build:" with nothing under it enables the phase with defaults.
			v.Set(reflect.New(v.Type().Elem()))
		}
		return
	}
	if v.Type() == durationType {
		d.scalarDuration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.add(n, path, "expected a string, found "+kindName(n), "")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.add(n, path, "expected true or false, found "+kindName(n), "")
			return
		}
		v.SetBool(b)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode {
			d.add(n, path, "expected a whole number, found "+kindName(n), "")
			return
		}
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			d.add(n, path, "expected a whole number, found "+kindName(n), "")
			return
		}
		v.SetInt(int64(i))
	default:
		d.add(n, path, "unsupported field type "+v.Type().String(), "")
	}
}

func (d *decoder) scalarDuration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.add(n, path, "expected a duration, found "+kindName(n), `write it like "90s", "10m", "2h" or "3d"`)
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.add(n, path, fmt.Sprintf("bad duration %q", n.Value), `write it like "90s", "10m", "2h" or "3d", at most 366d`)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "expected a mapping of keys, found "+kindName(n), "")
		return
	}
	keys, idx := fieldsOf(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		if seen[k.Value] {
			d.add(k, kp, "key is written twice", "remove one of them")
			continue
		}
		seen[k.Value] = true
		fi, ok := idx[k.Value]
		if !ok {
			hint := "known keys here: " + strings.Join(keys, ", ")
			if s := suggest(k.Value, keys); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			}
			d.add(k, kp, fmt.Sprintf("unknown key %q", k.Value), hint)
			continue
		}
		d.pos[kp+"#key"] = k
		d.decode(val, v.Field(fi), kp)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
		// A single string where a list is expected is a one-element list,
		// as in GitLab CI's `script`.
		v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), reflect.ValueOf(n.Value).Convert(v.Type().Elem())))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.add(n, path, "expected a list, found "+kindName(n), "write one item per line, each starting with \"- \"")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "expected a mapping, found "+kindName(n), "")
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		elem := reflect.New(v.Type().Elem()).Elem()
		d.pos[join(path, k.Value)+"#key"] = k
		d.decode(val, elem, join(path, k.Value))
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
}
