package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// Prober sends GET requests to URL at Rate per second, each on a new
// connection (so every request is balanced across the Service's pods the
// way a new client's would be), and records which failed and how long each
// took. A request fails on a transport error, a timeout or a 5xx answer.
type Prober struct {
	URL     string
	Rate    int
	Timeout time.Duration
	// Progress, when set, is called about once a second with what was
	// seen so far.
	Progress func(so contract.Observation)
}

// sample is one request: when it was sent, how long it took, and why it
// failed ("" when it did not).
type sample struct {
	at      time.Time
	latency time.Duration
	err     string
}

// Run probes for d (or until ctx ends) and summarises what it saw.
func (p *Prober) Run(ctx context.Context, d time.Duration) (contract.Observation, error) {
	if p.Rate < 1 {
		return contract.Observation{}, fmt.Errorf("probe rate %d: must be at least 1 request per second", p.Rate)
	}
	client := &http.Client{
		Timeout:   p.Timeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		// A redirect is an answer, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	interval := time.Second / time.Duration(p.Rate)
	var (
		mu      sync.Mutex
		samples []sample
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
	// The first request goes out at once.
	send := func(at time.Time) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := p.request(ctx, client, at)
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		}()
	}
	send(start)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline.C:
			break loop
		case at := <-tick.C:
			send(at)
		case <-report.C:
			if p.Progress != nil {
				mu.Lock()
				so := summarise(slices.Clone(samples), start, time.Now(), interval)
				mu.Unlock()
				p.Progress(so)
			}
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return contract.Observation{}, err
	}
	return summarise(samples, start, time.Now(), interval), nil
}

func (p *Prober) request(ctx context.Context, client *http.Client, at time.Time) sample {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return sample{at: at, err: err.Error()}
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	s := sample{at: at, latency: time.Since(t0)}
	switch {
	case err != nil:
		s.err = reason(err)
	case resp.StatusCode >= 500:
		s.err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	if resp != nil {
		resp.Body.Close()
	}
	return s
}

// reason is a short cause of a failed request, without the URL.
func reason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return err.Error()
}

// MergeGap joins failures into one error window unless at least this much
// time without a failure separates them: while one of two pods is gone,
// requests fail and succeed in turn, and users see errors the whole time.
const MergeGap = time.Second

// summarise turns samples into an observation: error windows in the order
// the requests were sent, and latency percentiles.
func summarise(samples []sample, start, end time.Time, interval time.Duration) contract.Observation {
	slices.SortFunc(samples, func(a, b sample) int { return a.at.Compare(b.at) })
	o := contract.Observation{Start: start, End: end, Requests: len(samples), Resolution: interval}
	var (
		cur      *contract.ErrorWindow
		lastFail time.Time
		// healed is the first success after the last failure; sent counts
		// the window's requests so far, sentHealed those before healed.
		healed           time.Time
		sent, sentHealed int
	)
	closeAt := func(t time.Time, requests int) {
		cur.End, cur.Requests = t, requests
		o.Windows = append(o.Windows, *cur)
		cur = nil
	}
	lat := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		lat = append(lat, s.latency)
		if s.err == "" {
			if cur == nil {
				continue
			}
			if healed.IsZero() {
				healed, sentHealed = s.at, sent
			}
			sent++
			if s.at.Sub(lastFail) >= MergeGap {
				closeAt(healed, sentHealed)
			}
			continue
		}
		o.Failed++
		if cur == nil {
			cur, sent = &contract.ErrorWindow{Start: s.at, Error: s.err}, 0
		}
		cur.Failed++
		sent++
		lastFail, healed = s.at, time.Time{}
	}
	if cur != nil {
		if healed.IsZero() {
			closeAt(end, sent)
		} else {
			closeAt(healed, sentHealed)
		}
	}
	slices.Sort(lat)
	o.P50, o.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return o
}

// percentile of sorted values, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Merge joins an observation an earlier attempt left (in its heartbeats)
// with the one that continued it: counts and windows add up, the
// percentiles are the worse of the two, and the time between them is
// Unobserved.
func Merge(prior, next contract.Observation) contract.Observation {
	if prior.Start.IsZero() {
		return next
	}
	o := next
	o.Start = prior.Start
	o.Requests += prior.Requests
	o.Failed += prior.Failed
	o.Windows = append(append([]contract.ErrorWindow(nil), prior.Windows...), next.Windows...)
	o.P50, o.P99 = max(prior.P50, next.P50), max(prior.P99, next.P99)
	o.Unobserved = append(append([]contract.Span(nil), prior.Unobserved...), contract.Span{Start: prior.End, End: next.Start})
	o.Unobserved = append(o.Unobserved, next.Unobserved...)
	return o
}
