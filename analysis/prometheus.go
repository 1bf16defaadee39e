package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Prometheus evaluates instant queries through Prometheus's HTTP API
// (/api/v1/query).
type Prometheus struct {
	// URL is where Prometheus answers (http://prometheus:9090).
	URL string
	// Token, when set, is sent as a bearer token; it never appears in an
	// error or a log.
	Token string
	// Client defaults to one with a 10 s timeout.
	Client *http.Client
}

// ErrRejected: Prometheus refused the query itself (bad syntax, an unknown
// function); asking again will not help.
var ErrRejected = errors.New("Prometheus rejected the query")

// ErrNoValue: the query answered no single number (an empty result: no
// such series yet; NaN: a division by zero, usually no traffic).
var ErrNoValue = errors.New("no value")

// Query evaluates q at at (zero: now) and returns its single value. An
// empty result or NaN is ErrNoValue; several series are an error; a
// query Prometheus refuses is ErrRejected; anything else (unreachable, a
// 5xx, a timeout) is the transport's error.
func (p *Prometheus) Query(ctx context.Context, q string, at time.Time) (float64, error) {
	form := url.Values{"query": {q}}
	if !at.IsZero() {
		form.Set("time", strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.URL, "/")+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, by the caller
		}
		return 0, fmt.Errorf("Prometheus at %s: %w", p.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("Prometheus at %s: %w", p.URL, err)
	}
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("Prometheus at %s answered %s, not its API's JSON", p.URL, resp.Status)
	}
	if r.Status != "success" {
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity || r.ErrorType == "bad_data" {
			return 0, fmt.Errorf("%w: %s", ErrRejected, r.Error)
		}
		return 0, fmt.Errorf("Prometheus at %s: %s: %s %s", p.URL, resp.Status, r.ErrorType, r.Error)
	}
	var v float64
	switch r.Data.ResultType {
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			return 0, err
		}
		if v, err = number(s[1]); err != nil {
			return 0, err
		}
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
			return 0, err
		}
		switch len(vec) {
		case 0:
			return 0, fmt.Errorf("%w: the result is empty (no such series)", ErrNoValue)
		case 1:
		default:
			return 0, fmt.Errorf("%w: the query returns %d series; aggregate them into one (sum, max, …)", ErrRejected, len(vec))
		}
		if v, err = number(vec[0].Value[1]); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("%w: the query returns a %s; it must return one number (a scalar or a single series)", ErrRejected, r.Data.ResultType)
	}
	if math.IsNaN(v) {
		return 0, fmt.Errorf("%w: NaN (a division by zero: no data in the window)", ErrNoValue)
	}
	return v, nil
}

func number(x any) (float64, error) {
	s, ok := x.(string)
	if !ok {
		return 0, fmt.Errorf("Prometheus answered a value that is not a number: %v", x)
	}
	return strconv.ParseFloat(s, 64)
}
