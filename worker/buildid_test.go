package worker

import (
	"runtime/debug"
	"testing"
)

// TestBuildID: a clean build is named by its commit; a build with
// uncommitted changes or without VCS information gets no name (the SDK's
// checksum of the executable stays).
func TestBuildID(t *testing.T) {
	settings := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{settings("vcs", "git", "vcs.revision", "15d0277abc", "vcs.modified", "false"), "sluice@15d0277abc"},
		{settings("vcs", "git", "vcs.revision", "15d0277abc", "vcs.modified", "true"), ""},
		{settings("vcs", "git", "vcs.revision", "15d0277abc"), ""},
		{settings("-buildvcs", "false"), ""},
	} {
		if got := buildID(c.bi); got != c.want {
			t.Errorf("buildID(%v) = %q, want %q", c.bi.Settings, got, c.want)
		}
	}
}
