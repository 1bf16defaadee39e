package chaos_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/chaos"
	"github.com/sluice-cd/sluice/chaos/chaostest"
	"github.com/sluice-cd/sluice/contract"
)

// BenchmarkErrorWindow measures the longest error window users of the
// sample (2 s warm-up before ready) see during each fault, with 1 and with
// 3 replicas, probed at 50 requests a second (20 ms resolution). The
// upgrade rolls to the sample's own image under another tag: a real
// rollout, pod by pod. The drain empties the node running most of the
// sample's pods (the target namespace's pods only) and uncordons it after.
func BenchmarkErrorWindow(b *testing.B) {
	for _, replicas := range []int32{1, 3} {
		for _, kind := range []string{contract.FaultPodKill, contract.FaultUpgrade, contract.FaultNodeDrain} {
			b.Run(fmt.Sprintf("%s/replicas=%d", kind, replicas), func(b *testing.B) {
				a := chaostest.DeploySample(b, replicas)
				var longest []time.Duration
				for i := 0; b.Loop(); i++ {
					if kind == contract.FaultNodeDrain && i > 0 {
						// a drain leaves the pods on the other node: start
						// from pods spread over both again
						a = chaostest.DeploySample(b, replicas)
					}
					f := contract.Fault{Kind: kind, Count: 1, Duration: time.Second}
					if kind == contract.FaultUpgrade {
						// the same content by its tag instead of its digest:
						// a new pod template, so every pod is replaced
						f.Image = strings.Split(a.Image, "@")[0] + ":chaos"
					}
					o, _ := experiment(a, b, f, time.Second, 15*time.Second)
					longest = append(longest, o.Longest())
					if kind == contract.FaultNodeDrain {
						// uncordon: the next iteration drains again
						in := contract.FaultInput{WorkflowID: "test", Namespace: a.Namespace, Service: "hello", Fault: f}
						if _, err := (&chaos.Injector{Client: a.Client}).Remove(context.Background(), in); err != nil {
							b.Fatal(err)
						}
					}
					a.WaitReady(b, replicas)
				}
				b.ReportMetric(float64(median(longest).Milliseconds()), "ms-window")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
