package webhooks

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/contract"
)

// AlertNotification is one Alertmanager webhook notification (payload
// version 4), as chaos experiments judge it.
type AlertNotification struct {
	Receiver string `json:"receiver"`
	// Status is "firing" or "resolved".
	Status   string  `json:"status"`
	GroupKey string  `json:"groupKey"`
	Alerts   []Alert `json:"alerts"`
	Version  string  `json:"version"`
}

// Alert is one alert of a notification; its name is the alertname label.
type Alert struct {
	Status   string            `json:"status"`
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
}

// AlertDeliverer hands a notification to every chaos experiment that is
// running and says how many got it.
type AlertDeliverer interface {
	DeliverAlert(ctx context.Context, n contract.AlertNotification) (int, error)
}

// MaxSignal bounds a notification as experiments receive it: a signal's
// payload well under Temporal's default blob limit (2 MiB), since every
// running experiment's history keeps it.
const MaxSignal = 256 << 10

func signalSize(n contract.AlertNotification) int {
	b, err := json.Marshal(n)
	if err != nil {
		return MaxSignal + 1
	}
	return len(b)
}

// Signal is the notification as chaos experiments receive it: each
// alert named by its alertname label.
func (n AlertNotification) Signal() contract.AlertNotification {
	sig := contract.AlertNotification{Receiver: n.Receiver, Status: n.Status, GroupKey: n.GroupKey}
	for _, a := range n.Alerts {
		sig.Alerts = append(sig.Alerts, contract.Alert{Name: a.Labels["alertname"], Status: a.Status, Labels: a.Labels, StartsAt: a.StartsAt})
	}
	return sig
}

// Alertmanager receives Alertmanager's notifications at POST
// /hooks/alertmanager: Alertmanager authenticates with `Authorization:
// Bearer TOKEN` (http_config.authorization of its webhook_config), and each
// notification goes to the running chaos experiments, which judge the
// alerting (expected alerts, forbidden ones, storms).
type Alertmanager struct {
	Token   string
	Deliver AlertDeliverer
	Log     *slog.Logger
}

// Register mounts the receiver on mux.
func (a *Alertmanager) Register(mux *http.ServeMux) { mux.Handle("POST /hooks/alertmanager", a) }

func (a *Alertmanager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if a.Token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) != 1 {
		a.Log.Warn("alertmanager notification refused: bad or missing bearer token", "remote", r.RemoteAddr)
		http.Error(w, "unauthorized: send the token of alertmanager.token in the server configuration as `Authorization: Bearer TOKEN`", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "notification larger than 5 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var n AlertNotification
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, "not an Alertmanager webhook notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	if n.Version != "4" || (n.Status != "firing" && n.Status != "resolved") {
		http.Error(w, fmt.Sprintf("unsupported notification (version %q, status %q): Sluice reads Alertmanager's webhook payload version 4", n.Version, n.Status), http.StatusBadRequest)
		return
	}
	sig := n.Signal()
	if size := signalSize(sig); size > MaxSignal {
		// Temporal would refuse it on every retry
		http.Error(w, fmt.Sprintf("notification of %d alerts is %d KiB once reduced to what experiments judge; at most %d KiB can be delivered: set max_alerts in Alertmanager's webhook_config for Sluice", len(sig.Alerts), size>>10, MaxSignal>>10), http.StatusRequestEntityTooLarge)
		return
	}
	count, err := a.Deliver.DeliverAlert(r.Context(), sig)
	if err != nil {
		// Alertmanager retries a notification that was not accepted.
		a.Log.Error("alertmanager notification not delivered", "receiver", n.Receiver, "error", err)
		http.Error(w, "not delivered, retry: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	a.Log.Info("alertmanager notification", "receiver", n.Receiver, "status", n.Status, "alerts", len(n.Alerts), "experiments", count)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"experiments": count})
}
