// Package secrets reads the values of a project's pipeline secrets for one
// phase, inside the activity that hands them to a step or a Job. A run's
// workflow carries the names only (contract.Secrets); the reader checks
// again, against its own copy of the server's policy, that the project
// gives each name to that phase of that branch, then reads the value from
// its source: a key of a Kubernetes Secret, a file or an environment
// variable of the worker. Errors name the secret and its source, never the
// value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/policy"
)

// MinLength is the shortest value handed over: a shorter one could not be
// redacted from logs without redacting ordinary words (GitLab's masked
// variables have the same floor).
const MinLength = 8

// MaxLength bounds a value (an environment variable, a Secret's key).
const MaxLength = 64 << 10

// ErrRefused is a name the policy does not give the phase (any more): the
// request was built under another policy, or did not come from the server.
var ErrRefused = errors.New("secret refused")

// ErrUnreadable is a source that does not hold a usable value: a missing
// Secret, key, file or variable, or a value too short to redact. Retrying
// does not mend it; the message says what to fix.
var ErrUnreadable = errors.New("secret unreadable")

// Reader reads secrets. Projects is the server's policy as this worker's
// configuration has it.
type Reader struct {
	Projects []policy.Project
	// Kube reads Kubernetes Secret sources; nil: they fail, saying the
	// worker has no cluster.
	Kube kubernetes.Interface
	// LookupEnv reads environment sources; nil: os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Value is one secret handed to a phase.
type Value struct {
	Name string
	// Env is the environment variable it is given in: the value itself,
	// or with File the path of a file holding it.
	Env   string
	Value string
	File  bool
}

// Read returns the values of want's names, in order. A nil want is none.
func (r *Reader) Read(ctx context.Context, want *contract.Secrets) ([]Value, error) {
	if want == nil || len(want.Names) == 0 {
		return nil, nil
	}
	if r == nil {
		return nil, fmt.Errorf("%w: this worker was given no secrets; run it with the server's configuration (--config)", ErrRefused)
	}
	var p *policy.Project
	for i := range r.Projects {
		if r.Projects[i].Name == want.Project {
			p = &r.Projects[i]
		}
	}
	if p == nil {
		return nil, fmt.Errorf("%w: project %q is not in this worker's configuration; run it with the server's configuration (--config)", ErrRefused, want.Project)
	}
	out := make([]Value, 0, len(want.Names))
	for _, name := range want.Names {
		if why, field := p.Grant(name, want.Phase, want.Branch); why != "" {
			return nil, fmt.Errorf("%w: %s (policy: %s)", ErrRefused, why, field)
		}
		s, _ := p.Secret(name)
		v, err := r.value(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("secret %s (%s): %w", name, s.Source(), err)
		}
		out = append(out, Value{Name: name, Env: s.EnvName(), Value: v, File: s.AsFile()})
	}
	return out, nil
}

func (r *Reader) value(ctx context.Context, s *policy.Secret) (string, error) {
	var v string
	switch {
	case s.Kubernetes != nil:
		if r.Kube == nil {
			return "", fmt.Errorf("%w: this worker has no cluster to read it from (--kubeconfig or --in-cluster)", ErrUnreadable)
		}
		k := s.Kubernetes
		sec, err := r.Kube.CoreV1().Secrets(k.Namespace).Get(ctx, k.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return "", fmt.Errorf("%w: the Secret does not exist; create it (kubectl -n %s create secret generic %s --from-literal=%s=…)", ErrUnreadable, k.Namespace, k.Name, k.Key)
		case apierrors.IsForbidden(err):
			return "", fmt.Errorf("%w: the worker may not read it; grant its service account get on secrets in %s", ErrUnreadable, k.Namespace)
		case err != nil:
			return "", fmt.Errorf("read the Secret: %w", err)
		}
		b, ok := sec.Data[k.Key]
		if !ok {
			return "", fmt.Errorf("%w: the Secret has no key %s", ErrUnreadable, k.Key)
		}
		v = string(b)
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in the message already
			}
			return "", fmt.Errorf("%w: %v", ErrUnreadable, err) //nolint:errorlint // the class is ErrUnreadable; the cause is text without its path
		}
		v = strings.TrimSuffix(string(b), "\n")
	default:
		lookup := r.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		var ok bool
		if v, ok = lookup(s.Env); !ok {
			return "", fmt.Errorf("%w: the worker's environment does not set it", ErrUnreadable)
		}
	}
	switch {
	case len(v) < MinLength:
		return "", fmt.Errorf("%w: the value is shorter than %d characters, too short to redact from logs; use a longer one", ErrUnreadable, MinLength)
	case len(v) > MaxLength:
		return "", fmt.Errorf("%w: the value is longer than %d bytes", ErrUnreadable, MaxLength)
	case strings.IndexByte(v, 0) >= 0:
		return "", fmt.Errorf("%w: the value holds a NUL byte, which no environment variable can", ErrUnreadable)
	}
	return v, nil
}

// Env is the values handed over in the environment, by variable.
func Env(values []Value) map[string]string { return byEnv(values, false) }

// Files is the values handed over as files, by the variable that holds
// each file's path.
func Files(values []Value) map[string]string { return byEnv(values, true) }

// All is every value by its variable, however it is handed over: the keys
// of a Secret an application reads.
func All(values []Value) map[string]string {
	if len(values) == 0 {
		return nil
	}
	out := make(map[string]string, len(values))
	for _, v := range values {
		out[v.Env] = v.Value
	}
	return out
}

func byEnv(values []Value, files bool) map[string]string {
	var out map[string]string
	for _, v := range values {
		if v.File != files {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(values))
		}
		out[v.Env] = v.Value
	}
	return out
}

// Plain is the values alone, for redaction.
func Plain(values []Value) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v.Value
	}
	return out
}
