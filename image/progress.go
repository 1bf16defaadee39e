package image

import (
	"fmt"
	"io"
	"strings"

	bkclient "github.com/moby/buildkit/client"
)

// progressLog turns BuildKit's status stream into run log lines: each step
// once when it ends (CACHED or its time), the output of RUN steps, errors.
type progressLog struct {
	w             io.Writer
	seen          map[string]bool
	steps, cached int
}

func (p *progressLog) write(st *bkclient.SolveStatus) {
	for _, v := range st.Vertexes {
		if v.Completed == nil || p.seen[v.Digest.String()] {
			continue
		}
		p.seen[v.Digest.String()] = true
		if strings.HasPrefix(v.Name, "[internal]") {
			continue
		}
		p.steps++
		switch {
		case v.Error != "":
			fmt.Fprintf(p.w, "%s ERROR: %s\n", v.Name, v.Error)
		case v.Cached:
			p.cached++
			fmt.Fprintf(p.w, "%s CACHED\n", v.Name)
		case v.Started != nil:
			fmt.Fprintf(p.w, "%s DONE %.1fs\n", v.Name, v.Completed.Sub(*v.Started).Seconds())
		default:
			fmt.Fprintf(p.w, "%s DONE\n", v.Name)
		}
	}
	for _, l := range st.Logs {
		for _, line := range strings.Split(strings.TrimRight(string(l.Data), "\n"), "\n") {
			fmt.Fprintf(p.w, "  %s\n", line)
		}
	}
}
