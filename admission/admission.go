// Package admission is Sluice's validating admission webhook: the cluster
// itself refuses, in the namespaces it is installed for, a Pod (or a
// workload's pod template) whose image is not named by digest, whose
// digest lacks this installation's signature, or which lacks an
// attestation the namespace's environment requires. What Sluice checks at
// its own gates then also holds for `kubectl apply`, a Helm release made
// by hand, or another controller.
package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/deploy"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/policy"
)

// LabelBreakGlass on an object admits it whatever its images, for an
// emergency: its value says why. Every such admission is logged with the
// user who asked, and recorded in the API server's audit log.
const LabelBreakGlass = "sluice.dev/break-glass"

// Verifier checks an image's signature and attestations
// (image.Verifier).
type Verifier interface {
	Verify(ctx context.Context, repository, digest, commit string) (string, error)
	Attested(ctx context.Context, repository, digest, attestation string) error
}

// Webhook answers the API server's AdmissionReview requests.
type Webhook struct {
	Verifier Verifier
	// Attestations are, per namespace, what a digest must carry there
	// besides the signature (contract.AttestationTestResult): the
	// namespaces of production environments whose policy requires them.
	Attestations map[string][]string
	// Allow are image name prefixes that need only a digest, not Sluice's
	// signature ("registry.example.com/mirror/"): images Sluice does not
	// bake, pinned.
	Allow []string
	Log   *slog.Logger
	// TTL is how long a digest found good stays good without asking the
	// registry again (default 10 minutes); refusals are never cached.
	TTL time.Duration

	cache        sync.Map // key → time.Time it expires
	hits, misses atomic.Int64
}

// CacheStats are how many images were found in the cache and how many
// were checked at the registry.
func (wh *Webhook) CacheStats() (hits, misses int64) { return wh.hits.Load(), wh.misses.Load() }

// maxReview bounds an AdmissionReview's body.
const maxReview = 4 << 20

// ServeHTTP implements http.Handler.
func (wh *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReview+1))
	if err != nil || len(body) > maxReview {
		http.Error(w, "an AdmissionReview of at most 4 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	review.Response = wh.Review(r.Context(), review.Request)
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// Review decides one admission request.
func (wh *Webhook) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Operation == admissionv1.Delete || len(req.Object.Raw) == 0 {
		return allow
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(req.Object.Raw); err != nil {
		return deny(req, fmt.Sprintf("sluice: the object cannot be read: %v", err))
	}
	images := imagesOf(obj)
	if len(images) == 0 {
		return allow
	}
	what := fmt.Sprintf("%s %s/%s", obj.GetKind(), req.Namespace, obj.GetName())
	if reason := obj.GetLabels()[LabelBreakGlass]; reason != "" {
		wh.logger().Warn("admitted under break-glass: images not checked", "object", what, "user", req.UserInfo.Username, "reason", reason, "images", images)
		allow.Warnings = []string{fmt.Sprintf("sluice: %s admitted under %s (%s): its images were not checked; this is logged", what, LabelBreakGlass, reason)}
		allow.AuditAnnotations = map[string]string{"break-glass": reason}
		return allow
	}
	for _, img := range images {
		if err := wh.check(ctx, req.Namespace, img); err != nil {
			return deny(req, fmt.Sprintf("sluice: %s: image %s: %v", what, img, err))
		}
	}
	return allow
}

func deny(req *admissionv1.AdmissionRequest, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{UID: req.UID, Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: msg,
	}}
}

func (wh *Webhook) logger() *slog.Logger {
	if wh.Log == nil {
		return slog.Default()
	}
	return wh.Log
}

// ErrRefused is an image the namespace may not run.
var ErrRefused = errors.New("refused")

// check holds one image to the namespace's rules.
func (wh *Webhook) check(ctx context.Context, ns, img string) error {
	if !contract.Pinned(img) {
		return fmt.Errorf("%w: not named by digest; name it REPOSITORY@sha256:<digest> (Sluice's releases do)", ErrRefused)
	}
	if slices.ContainsFunc(wh.Allow, func(p string) bool { return strings.HasPrefix(img, p) }) {
		return nil
	}
	ref, err := name.NewDigest(img)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err) //nolint:errorlint // the parser's words, classified as a refusal
	}
	repo, digest := ref.Context().Name(), ref.DigestStr()
	required := wh.Attestations[ns]
	key := repo + "@" + digest + "|" + strings.Join(required, ",")
	if exp, ok := wh.cache.Load(key); ok && time.Now().Before(exp.(time.Time)) {
		wh.hits.Add(1)
		return nil
	}
	wh.misses.Add(1)
	if _, err := wh.Verifier.Verify(ctx, repo, digest, ""); err != nil {
		if errors.Is(err, image.ErrUntrusted) {
			return fmt.Errorf("%w: it lacks this installation's signature (%v)", ErrRefused, err) //nolint:errorlint // ErrRefused classifies it; the cause is text
		}
		return fmt.Errorf("the signature cannot be checked now: %w", err)
	}
	for _, a := range required {
		err := wh.Verifier.Attested(ctx, repo, digest, a)
		if errors.Is(err, image.ErrUntrusted) {
			return fmt.Errorf("%w: namespace %s requires the %s attestation (an integration suite that passed against it), which it lacks", ErrRefused, ns, a)
		}
		if err != nil {
			return fmt.Errorf("the %s attestation cannot be checked now: %w", a, err)
		}
	}
	ttl := wh.TTL
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	wh.cache.Store(key, time.Now().Add(ttl))
	return nil
}

// Rules are what the webhook is called for: creating and updating pods
// and every workload kind that holds a pod template.
func Rules() []admissionregv1.RuleWithOperations {
	ops := []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update}
	rule := func(group string, resources ...string) admissionregv1.RuleWithOperations {
		return admissionregv1.RuleWithOperations{Operations: ops, Rule: admissionregv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: resources}}
	}
	return []admissionregv1.RuleWithOperations{
		rule("", "pods", "podtemplates"),
		rule("apps", "deployments", "statefulsets", "daemonsets", "replicasets"),
		rule("batch", "jobs", "cronjobs"),
	}
}

// imagesOf lists the images of every container an object runs: a Pod's,
// or a workload's pod template's.
func imagesOf(obj *unstructured.Unstructured) []string {
	path, ok := deploy.PodSpecPath(obj.GetKind())
	if !ok {
		return nil
	}
	pod, found, _ := unstructured.NestedMap(obj.Object, path...)
	if !found {
		return nil
	}
	var out []string
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		cs, _, _ := unstructured.NestedSlice(pod, list)
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				if img, _ := m["image"].(string); img != "" && !slices.Contains(out, img) {
					out = append(out, img)
				}
			}
		}
	}
	return out
}

// AttestationsOf is what each production namespace of the projects
// requires (policy's environments.production.attestations).
func AttestationsOf(projects []policy.Project) map[string][]string {
	out := map[string][]string{}
	for _, p := range projects {
		prod := p.Environments.Production
		if prod == nil || len(prod.Attestations) == 0 {
			continue
		}
		for _, ns := range prod.Namespaces {
			out[ns] = append(out[ns], prod.Attestations...)
		}
	}
	return out
}
