package release

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/environments"
)

// State is where a release stands.
type State string

// A release is pending while it is applied and verified, then live; a
// newer live release supersedes it; a failed verify, a later failure of
// its run or a rollback leaves it rolled back.
const (
	Pending    State = "pending"
	Live       State = "live"
	Superseded State = "superseded"
	RolledBack State = "rolled-back"
)

// Record is one release of a pipeline to a namespace, kept as a ConfigMap
// (sluice-release-<pipeline>-v<N>) next to what it released, so the
// history lives with the environment and any earlier release can be
// applied again.
type Record struct {
	Pipeline string `json:"pipeline"`
	Version  int    `json:"version"`
	Run      string `json:"run"`
	Commit   string `json:"commit"`
	Digest   string `json:"digest"`
	Strategy string `json:"strategy"`
	Color    string `json:"color,omitempty"`
	State    State  `json:"state"`
	Reason   string `json:"reason,omitempty"`
	// ApprovedBy are the people who approved the release.
	ApprovedBy []string `json:"approved_by,omitempty"`
	Previous   int      `json:"previous,omitempty"`
	// RollbackOf is the release whose objects a rollback applied again;
	// RolledBackBy who asked for it, as the server verified them.
	RollbackOf   int       `json:"rollback_of,omitempty"`
	RolledBackBy string    `json:"rolled_back_by,omitempty"`
	Created      time.Time `json:"created"`
	// Objects are the manifests as released (digest substituted, before
	// any blue-green renaming), so the release can be applied again.
	Objects []json.RawMessage `json:"objects"`
	// Secrets are the keys (names, never values) of the release's own
	// Secret (SecretName), which its objects' references to
	// environments.AppSecret point at; none: the release has no Secret.
	Secrets []string `json:"secrets,omitempty"`

	resourceVersion string
	uid             types.UID
}

// SecretName is the Secret of release v<N> of its pipeline, owned by its
// record.
func (r *Record) SecretName() string { return recordName(r.Pipeline, r.Version) + "-secrets" }

// Labels of a release record.
const (
	LabelRelease = "sluice.dev/release"
	LabelVersion = "sluice.dev/release-version"
)

// MaxRecordBytes is what one record may hold: a ConfigMap's limit, less room.
const MaxRecordBytes = 900 << 10

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// recordName is the ConfigMap of a pipeline's release n.
func recordName(pipeline string, n int) string {
	return fmt.Sprintf("sluice-release-%s-v%d", pipelineKey(pipeline), n)
}

// ownSecret tells whether name is the Secret of one of pipeline's
// releases: a release's manifests name it once their references to
// environments.AppSecret are pointed at it, and a rollback applies an
// earlier release's manifests as they were.
func ownSecret(pipeline string) func(string) bool {
	prefix := "sluice-release-" + pipelineKey(pipeline) + "-v"
	return func(name string) bool {
		v, ok := strings.CutPrefix(name, prefix)
		if !ok {
			return false
		}
		if v, ok = strings.CutSuffix(v, "-secrets"); !ok || v == "" {
			return false
		}
		_, err := strconv.ParseUint(v, 10, 32)
		return err == nil
	}
}

// pipelineKey fits a pipeline name into a name and a label value.
func pipelineKey(pipeline string) string {
	k := strings.Trim(notLabel.ReplaceAllString(strings.ToLower(pipeline), "-"), "-")
	if len(k) > 40 {
		k = strings.Trim(k[:40], "-")
	}
	return k
}

// objects decodes the record's manifests.
func (r *Record) objects() ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(r.Objects))
	for _, raw := range r.Objects {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("release v%d: %w", r.Version, err)
		}
		out = append(out, u)
	}
	if len(r.Secrets) > 0 {
		environments.PointSecrets(out, r.SecretName())
	}
	return out, nil
}

// records reads and writes release records in one namespace.
type records struct {
	client   kubernetes.Interface
	ns       string
	pipeline string
}

// list returns the pipeline's releases, oldest first.
func (rs records) list(ctx context.Context) ([]*Record, error) {
	cms, err := rs.client.CoreV1().ConfigMaps(rs.ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRelease + "=" + pipelineKey(rs.pipeline)})
	if err != nil {
		return nil, fmt.Errorf("list releases of %s in %s: %w", rs.pipeline, rs.ns, err)
	}
	out := make([]*Record, 0, len(cms.Items))
	for i := range cms.Items {
		r, err := decode(&cms.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func decode(cm *corev1.ConfigMap) (*Record, error) {
	r := &Record{}
	if err := json.Unmarshal([]byte(cm.Data["release.json"]), r); err != nil {
		return nil, fmt.Errorf("release record %s: %w", cm.Name, err)
	}
	r.resourceVersion, r.uid = cm.ResourceVersion, cm.UID
	return r, nil
}

// create stores r under the next free version: of two writers racing for
// one version, the second gets AlreadyExists and takes the next.
func (rs records) create(ctx context.Context, r *Record, after int) error {
	for n := after + 1; n < after+20; n++ {
		r.Version = n
		cm, err := rs.configMap(r)
		if err != nil {
			return err
		}
		got, err := rs.client.CoreV1().ConfigMaps(rs.ns).Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("record release v%d of %s in %s: %w", n, rs.pipeline, rs.ns, err)
		}
		r.resourceVersion, r.uid = got.ResourceVersion, got.UID
		return nil
	}
	return fmt.Errorf("record a release of %s in %s: 20 versions taken at once", rs.pipeline, rs.ns)
}

// update writes r back; a concurrent change is a conflict error.
func (rs records) update(ctx context.Context, r *Record) error {
	cm, err := rs.configMap(r)
	if err != nil {
		return err
	}
	cm.ResourceVersion = r.resourceVersion
	got, err := rs.client.CoreV1().ConfigMaps(rs.ns).Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update release v%d of %s: %w", r.Version, rs.pipeline, err)
	}
	r.resourceVersion = got.ResourceVersion
	return nil
}

func (rs records) configMap(r *Record) (*corev1.ConfigMap, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxRecordBytes {
		return nil, fmt.Errorf("release of %s: the manifests take %d KiB, a release record holds at most %d KiB", rs.pipeline, len(body)>>10, MaxRecordBytes>>10)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: recordName(rs.pipeline, r.Version),
			Labels: map[string]string{
				LabelRelease: pipelineKey(rs.pipeline), LabelVersion: strconv.Itoa(r.Version),
				"app.kubernetes.io/managed-by": "sluice",
			},
		},
		Data: map[string]string{"release.json": string(body)},
	}, nil
}
