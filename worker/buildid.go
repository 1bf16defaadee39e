package worker

import (
	"runtime/debug"
	"sync"

	sdkworker "go.temporal.io/sdk/worker"
)

// nameBinary tells Temporal which build this worker runs (the binary
// checksum it records with each workflow task, the mark of its reset
// points) once per process: the commit of a clean build. Without it the
// SDK reads and hashes the whole executable at the first worker's start
// (~330 MB, half a second of CPU at every start of `sluice worker` or
// `sluice dev`). A build with uncommitted changes, or without VCS
// information (go test binaries, -buildvcs=false), keeps the checksum: two
// such builds of one commit differ.
var nameBinary = sync.OnceFunc(func() {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if id := buildID(bi); id != "" {
			sdkworker.SetBinaryChecksum(id)
		}
	}
})

// buildID is "sluice@<commit>" for a build of a clean checkout, else "".
func buildID(bi *debug.BuildInfo) string {
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" || modified != "false" {
		return ""
	}
	return "sluice@" + rev
}
