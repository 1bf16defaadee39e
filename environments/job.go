package environments

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// Suite is an integration suite run as a Job in the environment.
type Suite struct {
	Name     string
	Image    string
	Commands []string
	Env      map[string]string
	// Secrets are environment variables whose values the Job reads from a
	// Secret made beside it (SecretName), never from its own spec.
	Secrets map[string]string
	// SecretFiles are secrets the Job reads as files: each variable holds
	// the path of a file under SecretFilesDir, from the same Secret,
	// mounted read-only (a Secret volume lives in memory).
	SecretFiles map[string]string
	// JUnit is the path of a JUnit report the commands write; its content
	// comes back in SuiteResult.Report, whether the suite passed or not.
	JUnit string
	// Resume follows a Job of the run that runs this same suite (an earlier
	// attempt's, whose worker was lost) instead of starting it again.
	Resume bool
}

// SuiteResult is how the suite ended.
type SuiteResult struct {
	Passed   bool
	ExitCode int32
	Duration time.Duration
	// Report is the JUnit report (nil when none was asked for or written).
	Report []byte
}

// The suite's output carries its JUnit report between these lines; they
// and the report are kept out of the run log.
const (
	reportBegin = "::sluice-junit-report::"
	reportEnd   = "::sluice-junit-report-end::"
)

// script is the suite's shell script: its commands in order, stopping at
// the first that fails, and the report printed whatever happened.
func (s Suite) script() string {
	script := "set -e\n"
	if s.JUnit != "" {
		script += fmt.Sprintf("trap 'echo; echo %s; cat %s 2>/dev/null; echo; echo %s' EXIT\n", reportBegin, shellQuote(s.JUnit), reportEnd)
	}
	return script + strings.Join(s.Commands, "\n")
}

// AnnotationSuite on a suite's Job is a digest of what it runs (image,
// script, environment): a Job with the same digest runs the same suite.
const AnnotationSuite = "sluice.dev/suite"

// job is the suite's Job in ns for run.
func (s Suite) job(run, ns string) *batchv1.Job {
	env := []corev1.EnvVar{{Name: "CI", Value: "true"}, {Name: "SLUICE_ENVIRONMENT", Value: ns}}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(s.Secrets)) {
		env = append(env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s.SecretName()}, Key: k}}})
	}
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	if len(s.SecretFiles) > 0 {
		// 0444: the file belongs to root, and the suite's image may run as
		// another user; the pod's one container is its only reader
		mode := int32(0o444)
		var items []corev1.KeyToPath
		for _, k := range slices.Sorted(maps.Keys(s.SecretFiles)) {
			env = append(env, corev1.EnvVar{Name: k, Value: SecretFilesDir + "/" + k})
			items = append(items, corev1.KeyToPath{Key: k, Path: k, Mode: &mode})
		}
		volumes = []corev1.Volume{{Name: "sluice-secrets", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: s.SecretName(), Items: items}}}}
		mounts = []corev1.VolumeMount{{Name: "sluice-secrets", MountPath: SecretFilesDir, ReadOnly: true}}
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%q %q", s.Image, s.script())
	for _, e := range env {
		fmt.Fprintf(sum, " %q=%q", e.Name, e.Value) // a secret's value is not in e
	}
	zero, noToken := int32(0), false
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: map[string]string{LabelRun: LabelValue(run), LabelManagedBy: "sluice"},
			Annotations: map[string]string{AnnotationSuite: hex.EncodeToString(sum.Sum(nil))[:32]}},
		Spec: batchv1.JobSpec{
			BackoffLimit: &zero,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelRun: LabelValue(run), "job-name": s.Name}},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: &noToken,
					Volumes:                      volumes,
					Containers: []corev1.Container{{
						Name: "suite", Image: s.Image, Env: env, VolumeMounts: mounts,
						Command: []string{"sh", "-c", s.script()},
					}},
				},
			},
		},
	}
}

// SecretFilesDir is where a suite's secret files are mounted.
const SecretFilesDir = "/var/run/sluice/secrets"

// hasSecrets tells whether the suite needs its Secret.
func (s Suite) hasSecrets() bool { return len(s.Secrets)+len(s.SecretFiles) > 0 }

// SecretName is the Secret holding the suite's secrets.
func (s Suite) SecretName() string {
	if strings.HasPrefix(s.Name, "sluice-") {
		return s.Name + "-secrets"
	}
	return "sluice-" + s.Name + "-secrets"
}

// putSecret makes the suite's Secret, owned by nothing yet. One left by an
// earlier Job of the name is deleted first and made anew: updated in
// place it keeps its UID, and the garbage collector, deleting the earlier
// Job's dependents by UID, could still take it.
func (c *Cluster) putSecret(ctx context.Context, ns, run string, s Suite) error {
	data := make(map[string][]byte, len(s.Secrets)+len(s.SecretFiles))
	for _, m := range []map[string]string{s.Secrets, s.SecretFiles} {
		for k, v := range m {
			data[k] = []byte(v)
		}
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.SecretName(), Labels: map[string]string{LabelRun: LabelValue(run), LabelManagedBy: "sluice"}},
		Type:       corev1.SecretTypeOpaque, Data: data,
	}
	api := c.Client.CoreV1().Secrets(ns)
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := api.Create(ctx, sec, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err == nil, err
		}
		if err := api.Delete(ctx, sec.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		return false, nil // made anew once the old one is gone
	})
	if err != nil {
		return fmt.Errorf("secret %s for job %s: %w", sec.Name, s.Name, err)
	}
	return nil
}

// ownSecret makes the suite's Secret the Job's, so that deleting the Job
// (or its namespace) deletes the Secret too.
func (c *Cluster) ownSecret(ctx context.Context, ns string, s Suite, job *batchv1.Job) error {
	api := c.Client.CoreV1().Secrets(ns)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := api.Get(ctx, s.SecretName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID}}
		_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// splitReport takes the JUnit report out of the suite's output.
func splitReport(out []byte) (log, report []byte) {
	begin := bytes.Index(out, []byte(reportBegin+"\n"))
	if begin < 0 {
		return out, nil
	}
	rest := out[begin+len(reportBegin)+1:]
	end := bytes.LastIndex(rest, []byte(reportEnd))
	if end < 0 {
		return out[:begin], bytes.TrimSpace(rest)
	}
	return append(out[:begin:begin], rest[end+len(reportEnd):]...), bytes.TrimSpace(rest[:end])
}

// RunSuite runs the suite's commands (in order, stopping at the first that
// fails) as a Job in ns, next to the deployment: the pod finds the app's
// Services through the usual environment variables and DNS, and gets
// SLUICE_ENVIRONMENT. Its output goes to log. A Job of the same name left
// by an earlier call is replaced, unless s.Resume and it is this run's Job
// for this same suite (an attempt whose worker was lost started it): then
// it is followed, and the suite runs once per run whatever becomes of the
// workers watching it.
func (c *Cluster) RunSuite(ctx context.Context, ns, run string, s Suite, log io.Writer) (SuiteResult, error) {
	jobs := c.Client.BatchV1().Jobs(ns)
	job := s.job(run, ns)
	start := time.Now()
	created, err := jobs.Get(ctx, s.Name, metav1.GetOptions{})
	switch {
	case s.Resume && err == nil && created.DeletionTimestamp == nil && created.Labels[LabelRun] == LabelValue(run) &&
		created.Annotations[AnnotationSuite] == job.Annotations[AnnotationSuite]:
		fmt.Fprintf(log, "following job/%s, which an earlier attempt started %s ago, rather than running the suite again\n",
			s.Name, time.Since(created.CreationTimestamp.Time).Round(time.Second))
		start = created.CreationTimestamp.Time
	case err != nil && !apierrors.IsNotFound(err):
		return SuiteResult{}, err
	default:
		if err == nil { // an earlier Job of this name: replaced
			bg := metav1.DeletePropagationBackground
			if err := jobs.Delete(ctx, s.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
				return SuiteResult{}, err
			}
			if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				_, err := jobs.Get(ctx, s.Name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			}); err != nil {
				return SuiteResult{}, err
			}
		}
		if s.hasSecrets() {
			if err := c.putSecret(ctx, ns, run, s); err != nil {
				return SuiteResult{}, err
			}
		}
		if created, err = jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
			return SuiteResult{}, fmt.Errorf("create job %s: %w", s.Name, err)
		}
		if s.hasSecrets() {
			if err := c.ownSecret(ctx, ns, s, created); err != nil {
				return SuiteResult{}, fmt.Errorf("secret %s for job %s: %w", s.SecretName(), s.Name, err)
			}
		}
	}
	defer func() {
		if ctx.Err() != nil { // cancelled or timed out: the suite stops too
			c.DeleteJob(context.WithoutCancel(ctx), ns, s.Name)
		}
	}()
	var pod *corev1.Pod
	// this Job's pod only: an earlier attempt's may still be terminating
	mine := batchv1.ControllerUidLabel + "=" + string(created.UID)
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: mine})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" || w.Reason == "InvalidImageName") {
				return false, fmt.Errorf("%w: integration image %s: %s: %s", ErrCannotRun, s.Image, w.Reason, w.Message)
			}
		}
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				return false, fmt.Errorf("%w: the suite's pod %s is Unschedulable: %s (the test environment's quota and limits, environments.test.quota, or the cluster's free capacity)", ErrCannotRun, pod.Name, cond.Message)
			}
		}
		return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed, nil
	})
	res := SuiteResult{Duration: time.Since(start)}
	if pod != nil {
		if rc, lerr := c.Client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "suite"}).Stream(context.WithoutCancel(ctx)); lerr == nil {
			out, _ := io.ReadAll(io.LimitReader(rc, 16<<20))
			rc.Close()
			var shown []byte
			shown, res.Report = splitReport(out)
			_, _ = log.Write(shown)
		}
	}
	if err != nil {
		return res, err
	}
	res.Passed = pod.Status.Phase == corev1.PodSucceeded
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			res.ExitCode = t.ExitCode
		}
	}
	return res, nil
}

// DeleteJob deletes a finished suite's Job and its pod, best effort.
func (c *Cluster) DeleteJob(ctx context.Context, ns, name string) {
	bg := metav1.DeletePropagationBackground
	_ = c.Client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	// its Secret, when it had one, is owned by it; deleted at once anyway
	_ = c.Client.CoreV1().Secrets(ns).Delete(ctx, Suite{Name: name}.SecretName(), metav1.DeleteOptions{})
}
