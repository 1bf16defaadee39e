# Sluice — `make help` lists the targets.
GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
BIN       := bin/sluice
WORKFLOWCHECK_VERSION := v0.6.0
GOLANGCI_VERSION      := v2.15.0
export PATH := $(GOBIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help build seaweedfs image test unit lint demo bench bench-start-dev faults fuzz schema console-docs histories tools clean platform-up platform-down platform-status platform-env platform-build

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/sluice
	$(GO) build -o $(BIN) ./cmd/sluice

seaweedfs: ## build SeaweedFS's weed once (the S3-compatible server the log-store tests start), into the platform's cache
	@testenv/s3test/build-seaweedfs.sh

image: ## build the Sluice image FROM scratch with the platform's BuildKit and push it (deploy/kubernetes; needs make platform-up)
	@eval "$$(testenv/platform/env.sh)" && deploy/kubernetes/build-image.sh

# Packages cheap enough to test under the race detector on every run; the
# rest (embedded server, platform) run without it.
RACE_DIRS := workflows executor logstore secrets pipelines contract activities runs config pool release environments metrics chaos console analysis
# Faults that take whole nodes down disturb every pod on them: their tests
# run alone, after the rest.
NODE_PKGS := ./chaos/nodefaults
RACE_PKGS  = $(shell $(GO) list $(addprefix ./,$(addsuffix /...,$(RACE_DIRS))) | grep -v /chaos/nodefaults)
OTHER_PKGS = $(shell $(GO) list ./... | grep -vE '/($(subst $(space),|,$(RACE_DIRS)))(/|$$)')
space := $(empty) $(empty)

test: ## run every test: unit, workflow, replay, fuzz seeds, end-to-end on the embedded Temporal server and the local platform; -race where affordable
	@rm -f bin/test-times
	scripts/gotest.sh -count=1 -race -timeout 20m $(RACE_PKGS)
	scripts/gotest.sh -count=1 -timeout 50m $(OTHER_PKGS)
	scripts/gotest.sh -count=1 -timeout 15m $(NODE_PKGS)
	@scripts/gotest.sh --slowest 10

unit: ## the tests that need neither the platform nor the sluice binary (-short), with -race where make test uses it; minutes, not half an hour
	$(GO) test -short -count=1 -race -timeout 10m $(RACE_PKGS)
	$(GO) test -short -count=1 -timeout 10m $(OTHER_PKGS)

lint: tools ## golangci-lint (depguard layers, staticcheck, errcheck, errorlint, vet, gofmt), workflowcheck, transitive layers, planted violations refused
	golangci-lint run ./...
	workflowcheck ./workflows/...
	scripts/check-layers.sh
	scripts/lint-plants.sh

demo: build platform-up ## the sample app through all nine phases (with a chaos experiment) on the embedded server and the local platform, two blue-green releases and a rollback (DEMO=core: build, test, approval only)
	./examples/demo.sh

bench: ## benchmarks: orchestration overhead, throughput, memory of a cached and of an uncached waiting run, replay of an uncached run, webhook acknowledgement, Temporal's authorization per request, records list over 100,000 runs vs 1,000 (SQLite, PostgreSQL), the DORA figures a scrape computes among 100,000 runs vs 1,000, a log line's delay to a reader of the object store (file, S3) vs of the writer's file, the admission webhook's decision per pod with its cache vs without (local platform), the console's runs and run pages with 10,000 runs vs 100, a log line's delay to the console vs to `sluice logs --follow`, worker start (embedded server), a local step's start with and without its guard, a run under a project quota vs none and beside another project's backlog; test's jobs side by side vs their critical path and their sum (local platform); warm pool claim vs cold pod, per-phase overhead, a pod phase with client-go's default request limits vs Sluice's, cache benefit, blue-green switch-back vs rolling rollback, the failed requests users see of a bad release judged by its metrics with rolling, blue-green and canary, deploy vs kubectl apply + rollout status, bake cold vs one-line change vs no-change, chaos error windows with 1 and 3 replicas (local platform)
	$(GO) test -run '^$$' -bench 'OrchestrationOverhead|Throughput' -benchtime 30x ./worker
	$(GO) test -run '^$$' -bench CachedWaitingRun -benchtime 1x -count 5 ./worker
	$(GO) test -run '^$$' -bench UncachedWaitingRuns -benchtime 1x -count 3 ./worker
	$(GO) test -run '^$$' -bench Replay -benchtime 200x -count 5 ./workflows
	$(GO) test -run '^$$' -bench WebhookAck -benchtime 200x ./webhooks
	$(GO) test -run '^$$' -bench Govern -count 5 ./request
	$(GO) test -run '^$$' -bench Authorization -benchtime 2000x -count 5 ./devserver
	$(GO) test -run '^$$' -bench List -benchtime 500x ./records
	$(GO) test -run '^$$' -bench Dora -benchtime 200x ./records
	$(GO) test -run '^$$' -bench LogLineDelay -benchtime 100x ./logstore
	$(GO) test -run '^$$' -bench Admission -benchtime 500x ./admission
	$(GO) test -run '^$$' -bench WorkerStart -benchtime 10x ./cmd/sluice
	$(GO) test -run '^$$' -bench Quota -benchtime 20x -count 3 ./worker
	$(GO) test -run '^$$' -bench StepGuard -benchtime 100x ./cmd/sluice
	$(GO) test -run '^$$' -bench ConsolePages -benchtime 200x ./cmd/sluice
	$(GO) test -run '^$$' -bench ConsoleLogDelay -benchtime 1x ./cmd/sluice
	$(GO) test -run '^$$' -bench JobsPhase -benchtime 5x ./cmd/sluice
	$(GO) test -run '^$$' -bench BadReleaseExposure -benchtime 1x -timeout 30m ./cmd/sluice
	$(GO) test -run '^$$' -bench 'ClaimVsColdStart|PhaseOverhead' -benchtime 20x ./pool
	$(GO) test -run '^$$' -bench PhaseClientLimits -benchtime 15x -count 3 ./pool
	$(GO) test -run '^$$' -bench CacheBenefit -benchtime 3x ./pool
	$(GO) test -run '^$$' -bench Undo -benchtime 5x -count 3 ./release
	$(GO) test -run '^$$' -bench Deploy -benchtime 5x -count 3 ./environments
	$(GO) test -run '^$$' -bench Bake -benchtime 1x -count 3 ./image
	$(GO) test -run '^$$' -bench ErrorWindow -benchtime 3x ./chaos

bench-start-dev: ## the orchestration benchmark on the embedded server and on `temporal server start-dev` (temporalio/cli v1.5.1, built once), in-memory and file, side by side
	scripts/bench-start-dev.sh

faults: ## the fault harness at length: 50 pipelines on Temporal over PostgreSQL, 2 workers kill -9ed at random (24 times) and during every side effect, one Temporal server kill; then 3 of the sample's full pipelines at once on the platform (what its 4 CPUs hold), every platform activity's worker killed after its work; audits side effects and leftovers (make test runs short ones)
	SLUICE_FAULT_RUNS=$${SLUICE_FAULT_RUNS:-50} SLUICE_FAULT_KILLS=$${SLUICE_FAULT_KILLS:-24} \
	SLUICE_FAULT_PLATFORM_RUNS=$${SLUICE_FAULT_PLATFORM_RUNS:-3} SLUICE_FAULT_PLATFORM_KILLS=$${SLUICE_FAULT_PLATFORM_KILLS:-6} \
	$(GO) test -count=1 -run '^TestFaultHarness(OnThePlatform)?$$' -v -timeout 90m ./cmd/sluice

fuzz: ## fuzz the spec parser for 60s
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./pipelines

schema: ## regenerate pipelines/schema.json from the spec types
	$(GO) test ./pipelines -run TestSchemaIsCurrent -update

console-docs: ## photograph the web console's pages into docs/console (the browser test, in headless Chromium)
	SLUICE_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run TestConsoleInChromium -timeout 10m ./cmd/sluice

histories: ## record a replay history: make histories ONLY=<scenario> (never rewrite the old ones)
	$(GO) test ./worker -run TestRecord -record -record-only "$(ONLY)" -v

tools: ## install workflowcheck and golangci-lint (pinned versions)
	@command -v workflowcheck >/dev/null || $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)
	@golangci-lint version 2>/dev/null | grep -q "version $(GOLANGCI_VERSION:v%=%)" || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

platform-build: ## build (once, cached by version) Kubernetes, etcd, BuildKit, registry and crane
	testenv/platform/build.sh

platform-up: ## start the local Kubernetes (two nodes, two zones), BuildKit, the registries, Prometheus and Alertmanager (idempotent); prints the exports
	testenv/platform/up.sh

platform-down: ## stop the local platform and restore the host
	testenv/platform/down.sh

platform-status: ## what of the platform runs and is healthy (exit 0 only when all is)
	testenv/platform/status.sh

platform-env: ## the platform's shell exports: eval "$(make -s platform-env)"
	@testenv/platform/env.sh

clean: ## remove build outputs and the demo's data
	rm -rf bin .sluice
