package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocumentedConfiguration: the example of docs/configuration.md is a
// configuration the server loads (unknown keys stop it), and it names every
// key the server reads, so the page cannot fall behind the code.
func TestDocumentedConfiguration(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/configuration.md has no yaml example")
	}
	env := func(name string) (string, bool) { return "documented-secret-of-" + name, true }
	c, err := Parse("docs/configuration.md", m[1], env)
	if err != nil {
		t.Fatalf("the documented configuration does not load: %v", err)
	}
	// every secret the configuration holds, whatever its key, is redacted
	// from run logs
	secrets := c.Secrets()
	uncommented := regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(string(m[1]), "")
	for _, name := range regexp.MustCompile(`\{env: ([A-Z_]+)\}`).FindAllStringSubmatch(uncommented, -1) {
		if v, _ := env(name[1]); !slices.Contains(secrets, v) {
			t.Errorf("the secret of %s is not among the values redacted from logs", name[1])
		}
	}
	for _, key := range yamlKeys(reflect.TypeOf(Config{}), map[reflect.Type]bool{}) {
		if !strings.Contains(string(m[1]), key+":") {
			t.Errorf("docs/configuration.md does not show the key %q", key)
		}
	}
}

// yamlKeys are the yaml keys of t's fields and of the structs they hold.
func yamlKeys(t reflect.Type, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		keys = append(keys, name)
		keys = append(keys, yamlKeys(f.Type, seen)...)
	}
	return keys
}
