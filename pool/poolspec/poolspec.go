// Package poolspec is a warm build-pod pool as the server configuration
// declares it: names, image, sizes, placement and lease. It is a leaf, so
// the configuration can be read without the Kubernetes client; package
// pool operates the pods.
package poolspec

import (
	"fmt"
	"regexp"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Spec is one pool, as the server configuration declares it.
type Spec struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
	Image     string `yaml:"image"`
	// MinIdle pods are kept Ready and unclaimed; MaxTotal bounds idle,
	// starting and claimed pods together (one pipeline cannot take more).
	MinIdle  int `yaml:"min_idle"`
	MaxTotal int `yaml:"max_total"`
	// NodeSelector and Tolerations place the pool's pods (GPU builds on GPU
	// nodes, arm64 pools on arm64 nodes).
	NodeSelector map[string]string `yaml:"node_selector"`
	Tolerations  []Toleration      `yaml:"tolerations"`
	Requests     Resources         `yaml:"requests"`
	Limits       Resources         `yaml:"limits"`
	// Cache is the dependency cache the pool's pods share.
	Cache *Cache `yaml:"cache"`
	// ServiceAccount the pods run as; its token is mounted only with
	// MountToken (a build step rarely needs the Kubernetes API).
	ServiceAccount string `yaml:"service_account"`
	MountToken     bool   `yaml:"mount_service_account_token"`
	// LeaseTTL is how long a claim lives without renewal before the keeper
	// deletes the pod. Default 2m.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// Project, on a server with projects, is the project whose admins may
	// size the pool; empty: only admins of every project ("*").
	Project string `yaml:"project"`
}

// Toleration lets the pool's pods onto tainted nodes.
type Toleration struct {
	Key      string `yaml:"key"`
	Operator string `yaml:"operator"`
	Value    string `yaml:"value"`
	Effect   string `yaml:"effect"`
}

// Resources are CPU and memory quantities ("500m", "2Gi").
type Resources struct {
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
}

// Cache is a volume mounted at each of Paths (one sub-directory each):
// HostPath on a single node, or a ReadWriteMany PersistentVolumeClaim.
type Cache struct {
	HostPath    string   `yaml:"host_path"`
	VolumeClaim string   `yaml:"volume_claim"`
	Paths       []string `yaml:"paths"`
}

// Duration reads "2m" in YAML.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$`)

// WithDefaults fills what the configuration left out.
func (s Spec) WithDefaults() Spec {
	if s.Namespace == "" {
		s.Namespace = "sluice-builds"
	}
	if s.MaxTotal == 0 {
		s.MaxTotal = max(s.MinIdle*4, 4)
	}
	if s.LeaseTTL == 0 {
		s.LeaseTTL = Duration(2 * time.Minute)
	}
	return s
}

// Validate says what is wrong with s, naming the pool and the field.
func (s Spec) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("pool %q: %s: %s", s.Name, field, fmt.Sprintf(format, a...))
	}
	if !dnsLabel.MatchString(s.Name) {
		return bad("name", "want a lowercase DNS label of at most 40 characters")
	}
	if s.Image == "" {
		return bad("image", "required (the build pod's image, e.g. 127.0.0.1:5000/sluice/go-builder:latest)")
	}
	if !dnsLabel.MatchString(s.Namespace) {
		return bad("namespace", "%q is not a namespace name", s.Namespace)
	}
	if s.MinIdle < 0 || s.MaxTotal < 1 || s.MinIdle > s.MaxTotal {
		return bad("min_idle/max_total", "want 0 <= min_idle <= max_total and max_total >= 1, got %d and %d", s.MinIdle, s.MaxTotal)
	}
	for field, r := range map[string]Resources{"requests": s.Requests, "limits": s.Limits} {
		for name, q := range map[string]string{"cpu": r.CPU, "memory": r.Memory} {
			if q == "" {
				continue
			}
			if _, err := resource.ParseQuantity(q); err != nil {
				return bad(field+"."+name, "%q is not a quantity (like 500m, 2, 512Mi, 4Gi)", q)
			}
		}
	}
	for _, pair := range [][3]string{{"cpu", s.Requests.CPU, s.Limits.CPU}, {"memory", s.Requests.Memory, s.Limits.Memory}} {
		if pair[1] == "" || pair[2] == "" {
			continue
		}
		req, lim := resource.MustParse(pair[1]), resource.MustParse(pair[2])
		if req.Cmp(lim) > 0 {
			return bad("requests."+pair[0], "%s is more than the limit %s", pair[1], pair[2])
		}
	}
	if c := s.Cache; c != nil {
		if (c.HostPath == "") == (c.VolumeClaim == "") {
			return bad("cache", "set exactly one of host_path and volume_claim")
		}
		if len(c.Paths) == 0 {
			return bad("cache.paths", "name the directories the cache backs (like /root/.cache/go-build)")
		}
	}
	if s.LeaseTTL < Duration(10*time.Second) {
		return bad("lease_ttl", "at least 10s")
	}
	return nil
}

// Status is what `sluice pool list` and the console show of a pool: its
// pods by state, read from the cluster by package pool.
type Status struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Idle      int    `json:"idle"`
	Starting  int    `json:"starting"`
	Claimed   int    `json:"claimed"`
	MinIdle   int    `json:"min_idle"`
	MaxTotal  int    `json:"max_total"`
	// OldestClaim is when the longest-held claimed pod was claimed.
	OldestClaim time.Time `json:"oldest_claim,omitzero"`
	// Problems are Kubernetes' reasons why pods cannot start.
	Problems []string `json:"problems,omitempty"`
}
