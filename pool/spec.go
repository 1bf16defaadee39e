// Package pool keeps warm build pods on Kubernetes and hands them to runs:
// a keeper holds MinIdle pods Ready per pool, a claim takes one atomically
// (optimistic concurrency on the pod) as a lease the run renews, and a
// released or expired pod is deleted, never handed to another run. The
// pool's Executor runs a phase's commands in its pod. Nothing here knows
// Temporal; activities use the Executor.
package pool

import "github.com/sluice-cd/sluice/pool/poolspec"

// The pool's declaration lives in poolspec, a leaf the configuration
// reads without the Kubernetes client.
type (
	// Spec is one pool, as the server configuration declares it.
	Spec = poolspec.Spec
	// Toleration lets the pool's pods onto tainted nodes.
	Toleration = poolspec.Toleration
	// Resources are CPU and memory quantities.
	Resources = poolspec.Resources
	// Cache is the dependency cache the pool's pods share.
	Cache = poolspec.Cache
	// Duration reads "2m" in YAML.
	Duration = poolspec.Duration
)

// Workdir is where a pod's workspace lives.
const Workdir = "/workspace"
