package contract

import (
	"encoding/json"
	"fmt"
)

// Workspace kinds.
const (
	// WorkspaceLocal is a directory on the worker's machine.
	WorkspaceLocal = "local"
	// WorkspacePod is a directory inside a claimed build pod.
	WorkspacePod = "pod"
)

// Workspace is an executor's handle on a checked-out commit. It is data: a
// later phase, possibly on another worker, passes it back to the executor
// that made it, and only that executor reads files from it.
type Workspace struct {
	// Kind selects the executor: WorkspaceLocal or WorkspacePod.
	Kind string `json:"kind"`
	// Pool is the warm pool the pod was claimed from (pod workspaces).
	Pool      string `json:"pool,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	// Claim is who holds the pod's lease (the run), so another phase or
	// worker renews the right claim.
	Claim string `json:"claim,omitempty"`
	// Path is the workspace directory, on the worker or inside the pod.
	Path string `json:"path"`
}

// IsZero reports whether w names no workspace.
func (w Workspace) IsZero() bool { return w == Workspace{} }

func (w Workspace) String() string {
	if w.Kind == WorkspacePod {
		return fmt.Sprintf("pod %s/%s:%s", w.Namespace, w.Pod, w.Path)
	}
	return w.Path
}

// UnmarshalJSON also reads the plain path string that runs recorded before
// workspaces were structured, as a local workspace.
func (w *Workspace) UnmarshalJSON(b []byte) error {
	var path string
	if json.Unmarshal(b, &path) == nil {
		*w = Workspace{}
		if path != "" {
			*w = Workspace{Kind: WorkspaceLocal, Path: path}
		}
		return nil
	}
	type plain Workspace
	return json.Unmarshal(b, (*plain)(w))
}

// WorkspaceRef names a workspace to release.
type WorkspaceRef struct {
	RunID     string    `json:"run_id"`
	Workspace Workspace `json:"workspace"`
}
