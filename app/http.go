package app

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/activities"
	"github.com/sluice-cd/sluice/chat"
	"github.com/sluice-cd/sluice/console"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/metrics"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/runs"
	"github.com/sluice-cd/sluice/webhooks"
	"github.com/sluice-cd/sluice/worker"
)

// StartHTTP serves the API, the logs, and — as the configuration asks —
// the Git webhooks, the Alertmanager hook and Slack's interactions, until
// Close. It returns the address it listens on.
func (a *App) StartHTTP(c client.Client) (string, error) {
	logs, err := logstore.New(worker.LogDir(a.dir), nil)
	if err != nil {
		return "", err
	}
	rc := a.runsClient(c)
	if rc.Signer, err = a.decisionKey(); err != nil {
		return "", err
	}
	api := httpapi.New(rc, logs, a.log)
	api.LogBucket = a.logBucket
	api.Tokens, api.Config, api.Records = map[string]httpapi.Client{}, a.cfg, a.records
	for value, t := range a.cfg.Tokens() {
		api.Tokens[value] = httpapi.Client{Name: t.Name, User: t.User, Roles: t.Roles}
	}
	if o := a.cfg.OIDC; o != nil {
		if api.OIDC, err = httpapi.NewOIDC(context.Background(), o, nil); err != nil {
			return "", err
		}
	}
	if a.devToken != "" {
		// single-user dev mode: whoever can read the data dir names the decider
		api.Tokens[a.devToken] = httpapi.Client{Name: "dev", TrustAs: true, Everything: true}
	}
	if len(a.cfg.Pools) > 0 && a.opts.Platform.Kubeconfig != "" {
		// the console's pools page reads them with the server's kubeconfig
		set, err := LoadPools(a.cfg, a.opts.Platform.Kubeconfig)
		if err != nil {
			return "", err
		}
		api.Pools = set.Statuses
	}
	ui := console.New(api, a.cfg, a.log, a.opts.ConsoleSession)
	ui.TemporalUI = a.opts.UIURL
	ui.Register(api.Mux)
	if len(a.cfg.Repositories) > 0 {
		statuses, err := a.statusReporters()
		if err != nil {
			return "", err
		}
		// a push the records hold is refused however long ago it came
		dispatch := &records.Pushes{Store: a.records, Next: rc}
		pushes := &webhooks.Pushes{Config: a.cfg, Dispatch: dispatch, Statuses: statuses, Log: a.log}
		(&webhooks.Receiver{Config: a.cfg, Start: pushes, Log: a.log, Metrics: a.metrics}).Register(api.Mux)
	}
	if am := a.cfg.Alertmanager; am != nil {
		(&webhooks.Alertmanager{Token: am.TokenValue(), Deliver: rc, Log: a.log}).Register(api.Mux)
	}
	if sl := a.cfg.Slack; sl != nil && sl.SigningSecretValue() != "" {
		(&chat.Interactions{SigningSecret: sl.SigningSecretValue(), Runs: rc, Slack: a.slack(), Log: a.log,
			Replays: a.records}).Register(api.Mux)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(a.opts.HTTPHost, strconv.Itoa(a.opts.HTTPPort)))
	if err != nil {
		return "", fmt.Errorf("HTTP port %d: %w (choose another with --http-port)", a.opts.HTTPPort, err)
	}
	a.serve(httpapi.NewHTTPServer(a.tracing.Handler(api)), ln, "http server")
	if keep := a.opts.RecordsRetention; keep > 0 {
		a.hourly(func(ctx context.Context) {
			if n, err := a.records.Prune(ctx, time.Now().Add(-keep)); err != nil {
				a.log.Warn("records past their retention were not deleted", "error", err)
			} else if n > 0 {
				a.log.Info("deleted records past their retention", "runs", n, "retention", keep)
			}
		})
	}
	if keep := a.opts.LogsRetention; keep > 0 && a.logBucket != nil {
		a.hourly(func(ctx context.Context) {
			if n, err := logstore.Prune(ctx, a.logBucket, time.Now().Add(-keep)); err != nil {
				a.log.Warn("logs past their retention were not deleted", "error", err)
			} else if n > 0 {
				a.log.Info("deleted logs past their retention", "pieces", n, "retention", keep)
			}
		})
	}
	a.metrics.WatchDora(a.doraKeys)
	return ln.Addr().String(), nil
}

// pruneEvery is how often the server deletes records and logs past their
// retention.
const pruneEvery = time.Hour

// hourly calls prune now and then every pruneEvery until Close.
func (a *App) hourly(prune func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	a.OnClose(cancel)
	go func() {
		t := time.NewTicker(pruneEvery)
		defer t.Stop()
		for {
			prune(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// doraKeys are the four keys of every pipeline over the last 30 days, for
// the metrics; a records database that does not answer gives none (and a
// warning).
func (a *App) doraKeys() []metrics.DoraKeys {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	keys, err := a.records.Dora(ctx, records.Filter{Since: now.Add(-records.Window)}, now)
	if err != nil {
		a.log.Warn("the DORA metrics could not be read from the records", "error", err)
		return nil
	}
	out := make([]metrics.DoraKeys, len(keys))
	for i, k := range keys {
		out[i] = metrics.DoraKeys{Project: k.Project, Pipeline: k.Pipeline, Environment: k.Environment, DeploymentsPerDay: k.PerDay,
			LeadTime: k.LeadTime, TimeToRestore: k.TimeToRestore, ChangeFailureRate: k.ChangeFailureRate}
	}
	return out
}

func (a *App) runsClient(c client.Client) *runs.Client {
	return &runs.Client{Temporal: c, Groups: a.cfg.ApproverGroups}
}

// chat is the Slack adapter, the incoming-webhook notifier, or nil.
func (a *App) chat() activities.Chat {
	sl := a.cfg.Slack
	switch {
	case sl == nil:
		return nil
	case sl.BotTokenValue() != "":
		return a.slack()
	case sl.IncomingWebhookURL() != "":
		return &chat.Webhook{URL: sl.IncomingWebhookURL()}
	}
	return nil
}

func (a *App) slack() *chat.Slack {
	sl := a.cfg.Slack
	return chat.NewSlack(sl.BotTokenValue(), sl.APIURL, sl.Channel, a.opts.UIURL)
}

// the chat adapters are the worker's chat
var (
	_ activities.Chat = (*chat.Slack)(nil)
	_ activities.Chat = (*chat.Webhook)(nil)
)
