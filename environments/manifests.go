// Package environments puts a run's image on Kubernetes: a per-run test
// namespace (labelled with its run, deleted by the run's compensation),
// the repository's manifests server-side applied into it with the baked
// digest in place of the image they name, rollout waited for, and the
// integration suite run as a Job next to the deployment. No Temporal here;
// the deploy and integration activities adapt it.
package environments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/sluice-cd/sluice/deploy"
)

// maxManifestBytes bounds what a repository's manifest directory may hold.
const maxManifestBytes = 4 << 20

// ReadManifests reads the manifests of dir as ReadManifestsAs does, for a
// release named "sluice".
func ReadManifests(dir string) ([]*unstructured.Unstructured, error) {
	return ReadManifestsAs(dir, "sluice", "")
}

// ReadManifestsAs reads the manifests of dir: a Helm chart rendered as
// release in namespace when dir has a Chart.yaml, a kustomization rendered
// by kustomize, or else every .yaml/.yml/.json file of dir (not recursive,
// in name order), one object per document.
func ReadManifestsAs(dir, release, namespace string) ([]*unstructured.Unstructured, error) {
	render := func() ([]byte, error) { return buildKustomization(dir) }
	_, kustomized := kustomization(dir)
	if isChart(dir) {
		kustomized, render = true, func() ([]byte, error) { return renderChart(dir, release, namespace) }
	}
	if kustomized {
		b, err := render()
		if err != nil {
			return nil, err
		}
		if len(b) > maxManifestBytes {
			return nil, fmt.Errorf("manifests of %s are over %d MiB", dir, maxManifestBytes>>20)
		}
		objs, err := decodeManifests("rendered "+filepath.Base(dir), b)
		if err == nil && len(objs) == 0 {
			err = fmt.Errorf("%s renders no objects", dir)
		}
		return objs, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	var objs []*unstructured.Unstructured
	total := 0
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || !slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if total += len(b); total > maxManifestBytes {
			return nil, fmt.Errorf("manifests in %s are over %d MiB", dir, maxManifestBytes>>20)
		}
		more, err := decodeManifests(e.Name(), b)
		if err != nil {
			return nil, err
		}
		objs = append(objs, more...)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("no manifests (.yaml, .yml, .json) in %s", dir)
	}
	return objs, nil
}

// decodeManifests decodes the YAML or JSON documents of one source.
func decodeManifests(source string, b []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	starts := documentLines(b)
	for i := 1; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: document %d has no kind or apiVersion", source, i)
		}
		if i <= len(starts) {
			ann := u.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[deploy.AnnotationSource] = fmt.Sprintf("%s:%d", source, starts[i-1])
			u.SetAnnotations(ann)
		}
		if u.GetKind() == "Namespace" {
			return nil, fmt.Errorf("%s: document %d is a Namespace: Sluice makes the environment's namespace itself", source, i)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// SetImage points every container whose image names the baked repository
// (its full name, or just its last path element, with any tag) at
// repository@digest, and returns how many it changed. Other images (a
// database the app needs) are left as they are.
func SetImage(objs []*unstructured.Unstructured, repository, digest string) int {
	return SetImageFrom(objs, repository, repository, digest)
}

// SetImageFrom is SetImage pulling from another repository (a replica of
// the baked one in the production registry).
func SetImageFrom(objs []*unstructured.Unstructured, baked, repository, digest string) int {
	n := 0
	want := []string{baked, path.Base(baked)}
	for _, o := range objs {
		p, ok := deploy.PodSpecPath(o.GetKind())
		if !ok {
			continue
		}
		for _, field := range []string{"containers", "initContainers"} {
			cs, found, _ := unstructured.NestedSlice(o.Object, append(slices.Clone(p), field)...)
			if !found {
				continue
			}
			for _, c := range cs {
				m, ok := c.(map[string]any)
				if !ok {
					continue
				}
				img, _ := m["image"].(string)
				if slices.Contains(want, imageName(img)) {
					m["image"] = repository + "@" + digest
					n++
				}
			}
			_ = unstructured.SetNestedSlice(o.Object, cs, append(slices.Clone(p), field)...)
		}
	}
	return n
}

// imageName strips a tag or digest: "reg:5000/app:1.2@sha256:…" → "reg:5000/app".
func imageName(img string) string {
	if i := strings.Index(img, "@"); i >= 0 {
		img = img[:i]
	}
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		img = img[:i]
	}
	return img
}

// documentLines is the line each YAML document of b starts on, as the
// decoder splits them at "---" lines.
func documentLines(b []byte) []int {
	starts := []int{1}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimLeft(line, "-")) == "" {
			starts = append(starts, i+2)
		}
	}
	return starts
}
