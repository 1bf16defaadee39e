package environments

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// isChart reports whether dir is a Helm chart.
func isChart(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil && !st.IsDir()
}

// renderChart renders the chart in dir the way `helm template` does: its
// own values (values.yaml), release name and namespace given, no cluster
// contacted (lookup finds nothing) and no dependency downloaded — a chart's
// subcharts must be in its charts/ directory.
func renderChart(dir, release, namespace string) ([]byte, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("helm chart %s: %w", filepath.Base(dir), err)
	}
	if err := action.CheckDependencies(ch, ch.Metadata.Dependencies); err != nil {
		return nil, fmt.Errorf("helm chart %s: %w (vendor the subcharts into charts/: dependencies are not downloaded)", filepath.Base(dir), err)
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
	}
	install := action.NewInstall(cfg)
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = release, namespace
	rel, err := install.Run(ch, map[string]any{})
	if err != nil {
		return nil, fmt.Errorf("helm chart %s: %w", filepath.Base(dir), err)
	}
	return []byte(rel.Manifest), nil
}
