package environments

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizationFiles are the names kustomize reads in a directory.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomization returns the kustomization file of dir, if it has one.
func kustomization(dir string) (string, bool) {
	for _, n := range kustomizationFiles {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// buildKustomization renders dir with kustomize (the library kubectl uses:
// files outside a kustomization's root are refused, Helm inflation and
// plugins are off). Remote bases are refused before kustomize runs: a
// pushed commit must not make the worker fetch from anywhere it names.
func buildKustomization(dir string) ([]byte, error) {
	if err := noRemoteBases(dir, map[string]bool{}); err != nil {
		return nil, err
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", filepath.Base(dir), err)
	}
	return res.AsYaml()
}

// noRemoteBases walks the kustomizations dir refers to and refuses any
// resource, base or component that is not a path in the checkout.
func noRemoteBases(dir string, seen map[string]bool) error {
	if seen[dir] {
		return nil
	}
	seen[dir] = true
	file, ok := kustomization(dir)
	if !ok {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var k struct {
		Resources  []string `json:"resources"`
		Bases      []string `json:"bases"`
		Components []string `json:"components"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for _, ref := range append(append(k.Resources, k.Bases...), k.Components...) {
		p := filepath.Join(dir, ref)
		st, err := os.Stat(p)
		if err != nil || strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") {
			return fmt.Errorf("%s: %q is not a file or directory of the repository: remote bases are not fetched; vendor them into the repository", file, ref)
		}
		if st.IsDir() {
			if err := noRemoteBases(p, seen); err != nil {
				return err
			}
		}
	}
	return nil
}
