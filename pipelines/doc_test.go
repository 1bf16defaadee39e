package pipelines

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSpecReferenceCoversSchema: the spec reference (docs/spec.md) shows
// every key of the spec's JSON schema, which is generated from the spec's
// types (TestSchemaIsCurrent), so a new or renamed key fails here until
// the reference says it.
func TestSpecReferenceCoversSchema(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	var example strings.Builder
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1) {
		example.Write(m[1])
	}
	raw, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	schemaKeys(schema, keys)
	var missing []string
	for k := range keys {
		if !regexp.MustCompile(`(^|[\s{,\[-])` + regexp.QuoteMeta(k) + `:`).MatchString(example.String()) {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("docs/spec.md's examples do not show these keys of pipelines/schema.json: %v", missing)
	}
	if len(keys) < 30 {
		t.Errorf("only %d keys found in the schema: the walk is broken", len(keys))
	}
}

// schemaKeys collects every property name below node.
func schemaKeys(node any, keys map[string]bool) {
	switch n := node.(type) {
	case map[string]any:
		if props, ok := n["properties"].(map[string]any); ok {
			for k, v := range props {
				keys[k] = true
				schemaKeys(v, keys)
			}
		}
		for k, v := range n {
			if k != "properties" {
				schemaKeys(v, keys)
			}
		}
	case []any:
		for _, v := range n {
			schemaKeys(v, keys)
		}
	}
}

// TestReadmeSpecIsValid: the spec the README's tour shows parses and
// passes every check.
func TestReadmeSpecIsValid(t *testing.T) {
	doc, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("the README shows no spec")
	}
	if _, err := Parse("README.md", m[1], "hello"); err != nil {
		t.Errorf("the README's spec is invalid: %v", err)
	}
}
