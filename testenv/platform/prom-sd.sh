#!/usr/bin/env bash
# The platform Prometheus's pod discovery: every 5 s, the running pods
# annotated prometheus.io/scrape: "true" become file_sd targets
# (IP:prometheus.io/port, default 8080) labelled with their namespace and
# pod, written atomically.
. "$(dirname "$0")/lib.sh"
B=$(bin_dir)
out=$STATE/monitoring/targets/pods.json
tmpl='{range .items[?(@.status.phase=="Running")]}{.metadata.namespace} {.metadata.name} {.status.podIP} {.metadata.annotations.prometheus\.io/scrape} {.metadata.annotations.prometheus\.io/port}{"\n"}{end}'
while true; do
  if lines=$("$B/kubectl" --kubeconfig="$STATE/admin.kubeconfig" --request-timeout=5s get pods -A -o jsonpath="$tmpl" 2>/dev/null); then
    json="["; sep=""
    while read -r ns pod ip scrape port; do
      [ "$scrape" = true ] && [ -n "$ip" ] || continue
      json+="$sep{\"targets\":[\"$ip:${port:-8080}\"],\"labels\":{\"namespace\":\"$ns\",\"pod\":\"$pod\"}}"; sep=","
    done <<<"$lines"
    printf '%s]\n' "$json" >"$out.tmp" && mv "$out.tmp" "$out"
  fi
  sleep 5
done
