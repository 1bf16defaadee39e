package release

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-cd/sluice/environments"
)

// verify runs the request's checks as a Job in the namespace. Each Service
// of the release is given to it as <NAME>_URL ("hello" → HELLO_URL,
// http://<cluster IP>:<first port>) — of its preview when suffix is
// "-preview" — with SLUICE_COMMIT, SLUICE_DIGEST and SLUICE_RELEASE. A
// failing check returns ErrVerifyFailed.
func (r *Releaser) verify(ctx context.Context, req Request, cur *Record, services []*unstructured.Unstructured, suffix string, log io.Writer) error {
	if req.Verify == nil || len(req.Verify.Commands) == 0 {
		return nil
	}
	env := map[string]string{
		"SLUICE_COMMIT": cur.Commit, "SLUICE_DIGEST": cur.Digest, "SLUICE_RELEASE": fmt.Sprint(cur.Version),
	}
	for _, s := range services {
		svc, err := r.Cluster.Client.CoreV1().Services(req.Namespace).Get(ctx, s.GetName()+suffix, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("service %s: %w", s.GetName()+suffix, err)
		}
		if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == "None" || len(svc.Spec.Ports) == 0 {
			continue
		}
		if err := r.Cluster.WaitEndpoints(ctx, req.Namespace, svc.Name); err != nil {
			return err
		}
		key := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(s.GetName())) + "_URL"
		env[key] = fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
	}
	parent := ctx
	if req.Verify.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Verify.Timeout)
		defer cancel()
	}
	name := fmt.Sprintf("sluice-verify-%s-v%d", pipelineKey(req.Pipeline), cur.Version)
	fmt.Fprintf(log, "verify: job %s\n", name)
	res, err := r.Cluster.RunSuite(ctx, req.Namespace, req.Run, environments.Suite{
		Name: name, Image: req.Verify.Image, Commands: req.Verify.Commands, Env: env, Secrets: req.Verify.Secrets, SecretFiles: req.Verify.SecretFiles,
	}, log)
	r.Cluster.DeleteJob(context.WithoutCancel(ctx), req.Namespace, name)
	if err != nil && ctx.Err() != nil && parent.Err() == nil {
		return fmt.Errorf("%w: not done within %s", ErrVerifyFailed, req.Verify.Timeout)
	}
	if err != nil {
		return err
	}
	if !res.Passed {
		return fmt.Errorf("%w: exit %d", ErrVerifyFailed, res.ExitCode)
	}
	fmt.Fprintf(log, "verify passed in %s\n", res.Duration.Round(100*time.Millisecond))
	return nil
}
