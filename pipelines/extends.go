package pipelines

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxExtends bounds how deep templates may extend templates.
const maxExtends = 8

// mapValue is the value of key in mapping n (aliases followed), or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

// names is an extends value: one name or a list of them.
func names(n *yaml.Node) []*yaml.Node {
	switch n.Kind {
	case yaml.ScalarNode:
		return []*yaml.Node{n}
	case yaml.SequenceNode:
		return n.Content
	}
	return nil
}

// extend resolves `extends` in build's and test's jobs before the spec is decoded: each
// named template (top-level `templates`, which may extend others) is merged
// beneath the job in order, the job's own keys last, as include merges
// fragments — so lint, the schema and the server's policy see the merged
// job. Unknown names and cycles are problems at the name.
func (d *decoder) extend(top *yaml.Node) {
	templates := mapValue(top, "templates")
	known := func() string {
		if templates == nil || templates.Kind != yaml.MappingNode || len(templates.Content) == 0 {
			return "define it under templates: at the top of the spec (or of an included fragment)"
		}
		var ns []string
		for i := 0; i < len(templates.Content); i += 2 {
			ns = append(ns, templates.Content[i].Value)
		}
		return "the templates are " + strings.Join(ns, ", ")
	}
	resolved := map[string]*yaml.Node{}
	var resolve func(n *yaml.Node, path string, seen []string) *yaml.Node
	resolve = func(n *yaml.Node, path string, seen []string) *yaml.Node {
		ext := mapValue(n, "extends")
		if ext == nil {
			return n
		}
		var base *yaml.Node
		for _, nameNode := range names(ext) {
			name := nameNode.Value
			switch {
			case slices.Contains(seen, name):
				d.add(nameNode, path+".extends", fmt.Sprintf("templates extend each other in a cycle: %s → %s", strings.Join(seen, " → "), name), "drop one of these extends")
				return n
			case len(seen) >= maxExtends:
				d.add(nameNode, path+".extends", fmt.Sprintf("templates extend templates more than %d deep", maxExtends), "flatten the chain")
				return n
			}
			t := mapValue(templates, name)
			if t == nil || nameNode.Kind != yaml.ScalarNode {
				d.add(nameNode, path+".extends", fmt.Sprintf("extends %q, which is not a template", name), known())
				continue
			}
			r, ok := resolved[name]
			if !ok {
				r = resolve(t, "templates."+name, append(slices.Clone(seen), name))
				resolved[name] = r
			}
			base = mergeNodes(base, r)
		}
		if base == nil {
			return n
		}
		return mergeNodes(base, n)
	}
	for _, phase := range []string{PhaseBuild, PhaseTest} {
		jobs := mapValue(mapValue(top, phase), "jobs")
		if jobs == nil || jobs.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(jobs.Content); i += 2 {
			name, job := jobs.Content[i].Value, jobs.Content[i+1]
			if job.Kind == yaml.AliasNode {
				job = job.Alias
			}
			jobs.Content[i+1] = resolve(job, phase+".jobs."+name, nil)
		}
	}
}
