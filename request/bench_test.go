package request

import (
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/pipelines"
)

const benchSpec = `version: 1
build: {commands: [make]}
bake: {image: registry.acme/hello}
deploy: {manifests: deploy/k8s}
integration: {image: registry.acme/it, commands: [./it]}
promote: {}
approval: {approvers: {groups: [release-managers]}, required: 2}
environments:
  production: {namespace: hello-prod, context: prod}
production: {manifests: deploy/k8s}
`

const benchPolicy = `approver_groups: {release-managers: [rita, ravi, olga]}
projects:
  - name: hello
    repositories: [acme/hello]
    environments:
      test: {registries: [registry.acme]}
      production:
        branches: [main]
        namespaces: [hello-prod]
        contexts: [prod]
        registries: [registry.acme]
        approval: {required: 2, groups: [release-managers]}
`

// BenchmarkGovern is the policy's cost on a delivery's spec:
// "parse-baseline" reads the spec as every delivery does;
// "parse-and-govern" also applies a project's policy (request.Govern).
func BenchmarkGovern(b *testing.B) {
	cfg, err := config.Parse("bench.yml", []byte(benchPolicy), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(benchSpec)
	b.Run("parse-baseline", func(b *testing.B) {
		for b.Loop() {
			if _, err := pipelines.Parse(pipelines.FileName, data, "hello"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse-and-govern", func(b *testing.B) {
		for b.Loop() {
			spec, err := pipelines.Parse(pipelines.FileName, data, "hello")
			if err != nil {
				b.Fatal(err)
			}
			g, err := Govern(cfg, "acme/hello", "main", *spec, data)
			if err != nil || g.Governance == nil {
				b.Fatal(g, err)
			}
		}
	})
}
