package pipelines

import (
	"encoding/json"
	"reflect"
	"strings"
)

// JSONSchema returns a JSON Schema (draft 2020-12) for `.sluice.yml`,
// generated from the spec types so it can never drift from the parser.
// Editors use it for completion and inline errors.
func JSONSchema() ([]byte, error) {
	root := schemaOf(reflect.TypeFor[Spec]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "Sluice pipeline (.sluice.yml)"
	root["required"] = []string{"version"}
	return json.MarshalIndent(root, "", "  ")
}

func schemaOf(t reflect.Type) map[string]any {
	if t == durationType {
		return map[string]any{"type": "string", "pattern": `^([0-9]+d|([0-9.]+(ns|us|µs|ms|s|m|h))+)$`}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		s := map[string]any{"type": "array", "items": schemaOf(t.Elem())}
		if t.Elem().Kind() == reflect.String {
			// a single string is accepted as a one-item list
			return map[string]any{"oneOf": []any{s, map[string]any{"type": "string"}}}
		}
		return s
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			p := schemaOf(f.Type)
			if doc := f.Tag.Get("doc"); doc != "" {
				p["description"] = doc
			}
			if enum := f.Tag.Get("enum"); enum != "" {
				p["enum"] = strings.Split(enum, ",")
			}
			props[key] = p
			if f.Tag.Get("required") == "true" {
				required = append(required, key)
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return map[string]any{}
}
