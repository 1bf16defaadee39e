package activities

import (
	"bytes"
	"io"
)

func multi(w ...io.Writer) io.Writer { return io.MultiWriter(w...) }

// capped keeps the first 1 MiB written to it, for summaries.
type capped struct{ b *bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := 1<<20 - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
