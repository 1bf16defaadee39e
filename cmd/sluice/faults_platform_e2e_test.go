package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/environments"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/worker"
	"github.com/sluice-cd/sluice/workflows"
)

// crashedActivities are the platform phases' activities whose worker the
// platform harness kills right after their work, before Temporal hears of
// it (worker crash points): each then runs again on another worker.
var crashedActivities = []string{contract.Bake.Name, contract.Deploy.Name, contract.Integration.Name, contract.MarkAvailable.Name, contract.Production.Name}

// TestFaultHarnessOnThePlatform runs the fault harness over the sample
// app's whole pipeline on the local platform — build and test in warm pool
// pods, bake with BuildKit (signed, SBOM attested), deploy to a test
// environment, integration, promote (scanned, tagged, replicated),
// approval, production blue-green — each app with its own image repository
// and production namespace. Beside the harness's random kills, every
// platform activity of every run loses its worker once right after its
// work. Then it audits the platform at its sources: each image carries one
// signature, one SBOM and one test-result attestation (here and in the production
// registry), its commit and "available" tags name the run's digest, each
// production Deployment has one ReplicaSet (its template applied once),
// each app has one release record, and no test environment or claimed
// pool pod is left.
func TestFaultHarnessOnThePlatform(t *testing.T) {
	pe := newPoolEnv(t)
	ctx := context.Background()
	runs := envInt("SLUICE_FAULT_PLATFORM_RUNS", 2)
	sample, err := os.ReadFile("../../examples/hello/.sluice.yml")
	if err != nil {
		t.Fatal(err)
	}
	// the chaos phase drains nodes: not beside other runs' rollouts
	noChaos := regexp.MustCompile(`(?ms)^chaos:.*?\n\n`).ReplaceAll(sample, nil)
	if strings.Contains(string(noChaos), "experiments:") {
		t.Fatal("the sample's chaos section was not removed")
	}
	apps := make([]faultApp, runs)
	images := make([]string, runs)
	prods := make([]string, runs)
	for i := range apps {
		apps[i].name = fmt.Sprintf("app-%02d", i)
		prods[i], _ = pe.sampleProduction("-" + apps[i].name)
		// the manifests' container names its image "hello"
		images[i] = fmt.Sprintf("%s/sluice-faults/%s-%s/hello", pe.platform.Registry, pe.ns, apps[i].name)
		spec := strings.Replace(string(noChaos), "namespace: sluice-demo-hello", "namespace: "+prods[i], 1)
		spec = strings.Replace(spec, "image: 127.0.0.1:5000/sluice-demo/hello", "image: "+images[i], 1)
		apps[i].repo, apps[i].commit = gitsrctest.Repo(t, "../../examples/hello", spec)
	}
	// a harness that fails leaves its runs' test environments (its Temporal
	// goes with it): remove them
	t.Cleanup(func() {
		nss, _ := pe.client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: environments.LabelManagedBy + "=sluice"})
		for _, ns := range nss.Items {
			for _, a := range apps {
				if strings.HasPrefix(ns.Annotations[environments.AnnotationWorkflow], workflows.WorkflowID("acme/"+a.name, "main")) {
					_ = pe.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
				}
			}
		}
	})
	pools, err := os.ReadFile(pe.config)
	if err != nil {
		t.Fatal(err)
	}
	crashDir := t.TempDir()
	h := runFaults(t, pe.env, faultSetup{
		apps:   apps,
		kills:  envInt("SLUICE_FAULT_PLATFORM_KILLS", 2),
		config: string(pools),
		workerArgs: []string{"--kubeconfig", pe.kubeconfig, "--vulnerability-db", "../../examples/vulndb",
			"--buildkit-addr", pe.platform.BuildKitAddr, "--registry", pe.platform.Registry},
		workerEnv:    []string{worker.EnvCrashAfter + "=" + strings.Join(crashedActivities, ","), worker.EnvCrashDir + "=" + crashDir},
		wait:         10 * time.Minute,
		shareNothing: true,
	})
	h.audit(t)

	// every crash point fired once per run, and its worker died of it (or
	// of a random kill in between)
	crashes, _ := os.ReadDir(crashDir)
	if h.crashed < len(crashes)-h.killed {
		t.Errorf("%d crash points fired but only %d workers died by themselves", len(crashes), h.crashed)
	}
	for _, name := range crashedActivities {
		n := 0
		for _, c := range crashes {
			if strings.HasSuffix(c.Name(), "."+name) {
				n++
			}
		}
		if n != runs {
			t.Errorf("%d workers died after %s, want one per run (%d)", n, name, runs)
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "%-8s %-16s %7s %10s %12s %10s %12s %12s %8s\n", "app", "digest", "images", "signatures", "attestations", "replica sig", "replica att", "replicasets", "releases")
	for i, a := range apps {
		digest, err := image.Digest(ctx, images[i], a.commit)
		if err != nil {
			t.Fatalf("%s: the commit's tag: %v", a.name, err)
		}
		if got, err := image.Digest(ctx, images[i], "available"); err != nil || got != digest {
			t.Errorf("%s: tag available = %s %v, want the commit's %s", a.name, got, err, digest)
		}
		// every image a bake pushes is signed: more signed digests in the
		// app's repository than one is an image pushed twice
		tags, err := crane.ListTags(images[i])
		if err != nil {
			t.Fatal(err)
		}
		var signed []string
		for _, tag := range tags {
			if strings.HasSuffix(tag, ".sig") {
				signed = append(signed, tag)
			}
		}
		if len(signed) != 1 {
			t.Errorf("%s: %d signed images in %s, want the run's one: %v", a.name, len(signed), images[i], signed)
		}
		replica := contract.ReplicaRepository(pe.platform.ProdRegistry, images[i])
		sigs, atts := len(attached(t, images[i], digest, "sig")), attached(t, images[i], digest, "att")
		rsigs, ratts := len(attached(t, replica, digest, "sig")), attached(t, replica, digest, "att")
		if sigs != 1 || rsigs != 1 || !oneEach(atts) || !oneEach(ratts) {
			t.Errorf("%s: %d signatures and attestations %v (replica: %d, %v), want one signature, one SBOM and one test result", a.name, sigs, atts, rsigs, ratts)
		}
		// one ReplicaSet per production Deployment: its template applied once
		rsets, err := pe.client.AppsV1().ReplicaSets(prods[i]).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		perDeployment := map[string]int{}
		for _, rs := range rsets.Items {
			for _, o := range rs.OwnerReferences {
				perDeployment[o.Name]++
			}
		}
		if len(perDeployment) == 0 {
			t.Errorf("%s: no Deployment in %s", a.name, prods[i])
		}
		most := 0
		for d, n := range perDeployment {
			most = max(most, n)
			if n != 1 {
				t.Errorf("%s: Deployment %s has %d ReplicaSets, want 1", a.name, d, n)
			}
		}
		out, errOut, code := pe.sluice("releases", "-f", filepath.Join(a.repo, ".sluice.yml"), "--kubeconfig", pe.kubeconfig)
		releases := regexp.MustCompile(`(?m)^v\d+\s`).FindAllString(out, -1)
		if code != 0 || len(releases) != 1 || !regexp.MustCompile(`(?m)^v1\s+live\s.*`+a.commit[:12]).MatchString(out) {
			t.Errorf("%s: want one release, v1, live: %d\n%s%s", a.name, code, out, errOut)
		}
		fmt.Fprintf(&report, "%-8s %-16s %7d %10d %12d %10d %12d %12d %8d\n", a.name, digest[:16], len(signed), sigs, len(atts), rsigs, len(ratts), most, len(releases))
	}
	t.Log("platform audit:\n" + report.String())

	// no test environment left (a namespace being deleted is gone), no
	// pool pod held by a run: the runs' clean-up may still be going on when
	// they report success, and a worker lost during it is noticed by its
	// heartbeat (20 s)
	var left []string
	t.Cleanup(func() {
		if len(left) > 0 {
			t.Logf("left behind: %v", left)
		}
	})
	poll.UntilWithin(t, 2*time.Minute, "the runs' test environments and pool pods to be released", func() bool {
		left = nil
		nss, err := pe.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: environments.LabelManagedBy + "=sluice"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range nss.Items {
			if slices.Contains(h.runIDs, ns.Annotations[environments.AnnotationRun]) && ns.DeletionTimestamp == nil {
				left = append(left, "namespace "+ns.Name)
			}
		}
		pods, err := pe.client.CoreV1().Pods(pe.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if run := p.Annotations["sluice.dev/run"]; run != "" && p.DeletionTimestamp == nil {
				left = append(left, "pool pod "+p.Name+" of "+run)
			}
		}
		return len(left) == 0
	})
}

// oneEach tells whether an image's attestations (by predicate type) are
// one SBOM and one test result.
func oneEach(atts []string) bool {
	return len(atts) == 2 && slices.Contains(atts, image.PredicateSPDX) && slices.Contains(atts, image.PredicateTestResult)
}

// attached lists the layers of repository's cosign tag for digest by
// their predicate type: "sig" holds one layer per signature, "att" one per
// attestation.
func attached(t *testing.T, repository, digest, kind string) []string {
	t.Helper()
	raw, err := crane.Manifest(repository + ":" + strings.Replace(digest, ":", "-", 1) + "." + kind)
	if err != nil {
		t.Errorf("%s %s of %s: %v", repository, kind, digest, err)
		return nil
	}
	var m struct {
		Layers []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Annotations["predicateType"])
	}
	return out
}
