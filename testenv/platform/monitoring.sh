#!/usr/bin/env bash
# Prometheus and Alertmanager (Debian's packages) as part of the platform:
# Prometheus scrapes the API server, both kubelets and every pod annotated
# prometheus.io/scrape: "true" (at prometheus.io/port, /metrics), evaluates
# the rule files in $STATE/monitoring/rules, and alerts through
# Alertmanager, which notifies Sluice at $SLUICE_ALERT_WEBHOOK (default
# http://127.0.0.1:8080/hooks/alertmanager, `sluice dev`'s) with the bearer
# token in $STATE/monitoring/alertmanager.token. Debian's Prometheus is built
# without Kubernetes discovery: prom-sd.sh writes the pods into a file_sd
# file every 5 s.
. "$(dirname "$0")/lib.sh"
B=$(bin_dir)
M=$STATE/monitoring
mkdir -p "$M/rules" "$M/targets"
[ -s "$M/alertmanager.token" ] || (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$M/alertmanager.token")
[ -s "$M/targets/pods.json" ] || echo '[]' >"$M/targets/pods.json"
cat >"$M/prometheus.yml" <<YML
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: ["$M/rules/*.yml"]
alerting:
  alertmanagers: [{static_configs: [{targets: ["$ALERTMANAGER_ADDR"]}]}]
scrape_configs:
  - job_name: pods
    file_sd_configs: [{files: ["$M/targets/pods.json"], refresh_interval: 5s}]
  - job_name: kube-apiserver
    scheme: https
    tls_config: {ca_file: "$PKI/ca.crt", cert_file: "$PKI/admin.crt", key_file: "$PKI/admin.key"}
    static_configs: [{targets: ["127.0.0.1:6443"]}]
  - job_name: kubelet
    scheme: https
    tls_config: {ca_file: "$PKI/ca.crt", cert_file: "$PKI/apiserver-kubelet-client.crt", key_file: "$PKI/apiserver-kubelet-client.key"}
    static_configs:
      - {targets: ["127.0.0.1:10250"], labels: {node: "$NODE"}}
      - {targets: ["127.0.0.1:10350"], labels: {node: "$NODE_B"}}
YML
cat >"$M/alertmanager.yml" <<YML
route:
  receiver: sluice
  group_by: [alertname, namespace]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: sluice
    webhook_configs:
      - url: "${SLUICE_ALERT_WEBHOOK:-http://127.0.0.1:8080/hooks/alertmanager}"
        send_resolved: true
        http_config: {authorization: {type: Bearer, credentials_file: "$M/alertmanager.token"}}
YML
start alertmanager /usr/bin/prometheus-alertmanager --config.file="$M/alertmanager.yml" --storage.path="$M/alertmanager-data" \
  --web.listen-address="$ALERTMANAGER_ADDR" --cluster.listen-address=
start prometheus /usr/bin/prometheus --config.file="$M/prometheus.yml" --storage.tsdb.path="$M/prometheus-data" \
  --web.listen-address="$PROMETHEUS_ADDR" --web.enable-lifecycle
start prom-sd bash "$HERE/prom-sd.sh"
wait_for alertmanager 30 curl -fsS "http://$ALERTMANAGER_ADDR/-/ready"
wait_for prometheus 30 curl -fsS "http://$PROMETHEUS_ADDR/-/ready"
