package pool

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations: Sluice's pool state lives on the pods, so a
// restarted worker (or another one) reads it from the cluster.
const (
	LabelPool  = "sluice.dev/pool"
	LabelState = "sluice.dev/state" // StateIdle or StateClaimed
	// AnnotationRun is the run a claimed pod belongs to.
	AnnotationRun = "sluice.dev/run"
	// AnnotationLeaseUntil is when the claim expires unless renewed (RFC 3339).
	AnnotationLeaseUntil = "sluice.dev/lease-until"
	// AnnotationHolder is the worker that claimed or last renewed the pod.
	AnnotationHolder = "sluice.dev/holder"
	// AnnotationClaimedAt is when the pod was claimed (RFC 3339).
	AnnotationClaimedAt = "sluice.dev/claimed-at"
	// AnnotationProject names the project whose run claimed the pod (its
	// share of the pool counts it).
	AnnotationProject = "sluice.dev/project"

	StateIdle    = "idle"
	StateClaimed = "claimed"
)

// container is the name of the build container in a pool pod.
const container = "build"

// idleCommand keeps the container alive and ends at once on SIGTERM.
var idleCommand = []string{"sh", "-c", "mkdir -p " + Workdir + "; trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"}

// podFor is the pod the keeper creates for s.
func podFor(s Spec) *corev1.Pod {
	zero := int64(0)
	mount := s.MountToken
	c := corev1.Container{
		Name:            container,
		Image:           s.Image,
		Command:         idleCommand,
		WorkingDir:      "/",
		ImagePullPolicy: corev1.PullIfNotPresent,
		Resources: corev1.ResourceRequirements{
			Requests: quantities(s.Requests),
			Limits:   quantities(s.Limits),
		},
		Env: []corev1.EnvVar{{Name: "CI", Value: "true"}, {Name: "SLUICE", Value: "true"}, {Name: "SLUICE_WORKSPACE", Value: Workdir}},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "sluice-" + s.Name + "-",
			Namespace:    s.Namespace,
			Labels:       map[string]string{LabelPool: s.Name, LabelState: StateIdle, "app.kubernetes.io/managed-by": "sluice"},
		},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{c},
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &zero,
			NodeSelector:                  s.NodeSelector,
			ServiceAccountName:            s.ServiceAccount,
			AutomountServiceAccountToken:  &mount,
			EnableServiceLinks:            new(bool),
		},
	}
	for _, t := range s.Tolerations {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value, Effect: corev1.TaintEffect(t.Effect),
		})
	}
	if ch := s.Cache; ch != nil {
		vol := corev1.Volume{Name: "cache"}
		if ch.HostPath != "" {
			kind := corev1.HostPathDirectoryOrCreate
			vol.HostPath = &corev1.HostPathVolumeSource{Path: ch.HostPath, Type: &kind}
		} else {
			vol.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ch.VolumeClaim}
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, vol)
		for _, p := range ch.Paths {
			pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{
				Name: "cache", MountPath: p, SubPath: subPath(p),
			})
		}
	}
	return pod
}

// subPath is the cache sub-directory backing path: "/root/.cache/go-build"
// → "root_.cache_go-build".
func subPath(p string) string {
	return strings.ReplaceAll(strings.TrimPrefix(path.Clean(p), "/"), "/", "_")
}

func quantities(r Resources) corev1.ResourceList {
	out := corev1.ResourceList{}
	if r.CPU != "" {
		out[corev1.ResourceCPU] = resource.MustParse(r.CPU)
	}
	if r.Memory != "" {
		out[corev1.ResourceMemory] = resource.MustParse(r.Memory)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ready reports whether pod can be claimed: running, its container ready,
// and not being deleted.
func ready(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
