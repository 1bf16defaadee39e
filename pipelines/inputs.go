package pipelines

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Input types.
const (
	InputString  = "string"
	InputNumber  = "number"
	InputBoolean = "boolean"
	InputChoice  = "choice"
)

// Input is a value a person gives a manual run (`sluice run --input
// name=value`): typed, checked before anything starts, and handed to the
// steps as SLUICE_INPUT_<NAME>.
type Input struct {
	Type        string   `yaml:"type" json:"type,omitempty" doc:"string (default), number, boolean or choice." enum:"string,number,boolean,choice"`
	Description string   `yaml:"description" json:"description,omitempty" doc:"What the input is for, shown by sluice lint."`
	Required    bool     `yaml:"required" json:"required,omitempty" doc:"A manual run must give it (a push or a schedule takes the default)."`
	Default     string   `yaml:"default" json:"default,omitempty" doc:"The value when none is given; of the input's type."`
	Options     []string `yaml:"options" json:"options,omitempty" doc:"choice: the values it may take."`
}

var inputName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// InputEnv is the environment variable a step reads input name from.
func InputEnv(name string) string { return "SLUICE_INPUT_" + strings.ToUpper(name) }

// check is why value is not of the input's type ("" when it is), and the
// value as steps get it.
func (in Input) check(value string) (string, string) {
	switch in.Type {
	case InputNumber:
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return "", fmt.Sprintf("%q is not a number", value)
		}
	case InputBoolean:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return "", fmt.Sprintf("%q is not true or false", value)
		}
		value = strconv.FormatBool(b)
	case InputChoice:
		if !slices.Contains(in.Options, value) {
			return "", fmt.Sprintf("%q is not one of %s", value, strings.Join(in.Options, ", "))
		}
	}
	if strings.ContainsRune(value, 0) || len(value) > 4096 {
		return "", "a value is at most 4096 bytes, without NUL"
	}
	return value, ""
}

// Inputs is the value of every input of the spec for a run given these
// values: a given value checked against its type, else the default. An
// unknown name, a value of the wrong type or, when manual, a required
// input without a value is an error naming it.
func (s *Spec) Inputs(given map[string]string, manual bool) (map[string]string, error) {
	var errs []string
	out := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		in, ok := s.Input[name]
		if !ok {
			known := slices.Sorted(maps.Keys(s.Input))
			hint := "the spec declares no inputs"
			if len(known) > 0 {
				hint = "the spec's inputs are " + strings.Join(known, ", ")
			}
			errs = append(errs, fmt.Sprintf("input %s is not declared (%s)", name, hint))
			continue
		}
		v, why := in.check(given[name])
		if why != "" {
			errs = append(errs, fmt.Sprintf("input %s: %s", name, why))
			continue
		}
		out[name] = v
	}
	for _, name := range slices.Sorted(maps.Keys(s.Input)) {
		in := s.Input[name]
		if _, ok := given[name]; ok {
			continue
		}
		if in.Required && manual {
			errs = append(errs, fmt.Sprintf("input %s is required: give it with --input %s=VALUE", name, name))
			continue
		}
		if in.Default != "" {
			out[name], _ = in.check(in.Default)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (v *validator) inputs(s *Spec) {
	for _, name := range slices.Sorted(maps.Keys(s.Input)) {
		in := s.Input[name]
		p := "inputs." + name
		if !inputName.MatchString(name) {
			v.errf(p, "lower-case letters, digits and _, starting with a letter", "bad input name %q", name)
		}
		v.oneOf(p+".type", in.Type, InputString, InputNumber, InputBoolean, InputChoice)
		if in.Type == InputChoice && len(in.Options) == 0 {
			v.errf(p+".options", "list the values, like [staging, production]", "a choice needs options")
		}
		if len(in.Options) > 0 && in.Type != InputChoice {
			v.errf(p+".options", "set type: choice, or drop options", "options are for a choice")
		}
		if in.Default != "" {
			if _, why := in.check(in.Default); why != "" {
				v.errf(p+".default", "a default of the input's type", "default %s", why)
			}
		}
	}
}
