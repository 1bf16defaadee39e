#!/usr/bin/env bash
# Cluster DNS: CoreDNS as a platform process on the node's address, serving
# only cluster.local from the API (no forwarding: no query leaves this
# machine), behind the kube-dns Service at 10.96.0.10, which the kubelet
# gives every pod as its resolver.
. "$(dirname "$0")/lib.sh"
B=$(bin_dir)
IP=$(node_ip)
K="$B/kubectl --kubeconfig=$STATE/admin.kubeconfig"
if [ ! -f "$PKI/coredns.crt" ]; then
  (cd "$PKI"
   openssl genrsa -out coredns.key 2048 2>/dev/null
   openssl req -new -key coredns.key -subj "/CN=sluice:coredns" -out coredns.csr 2>/dev/null
   printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >coredns.ext
   openssl x509 -req -in coredns.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile coredns.ext -out coredns.crt 2>/dev/null
   rm -f coredns.csr coredns.ext)
  kc=$STATE/coredns.kubeconfig
  $K config set-cluster sluice --server=https://127.0.0.1:6443 --certificate-authority="$PKI/ca.crt" --embed-certs --kubeconfig="$kc" >/dev/null
  $K config set-credentials coredns --client-certificate="$PKI/coredns.crt" --client-key="$PKI/coredns.key" --embed-certs --kubeconfig="$kc" >/dev/null
  $K config set-context sluice --cluster=sluice --user=coredns --kubeconfig="$kc" >/dev/null
  $K config use-context sluice --kubeconfig="$kc" >/dev/null
fi
$K apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "sluice:coredns"}
rules:
  - {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "sluice:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "sluice:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "sluice:coredns"}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: kube-dns, namespace: kube-system}
subsets:
  - addresses: [{ip: "$IP"}]
    ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
YAML
cat >"$STATE/Corefile" <<EOC
.:53 {
    bind $IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $STATE/coredns.kubeconfig sluice
        pods insecure
    }
    cache 30
    health 127.0.0.1:18054
}
EOC
start coredns "$B/coredns" -conf "$STATE/Corefile"
wait_for coredns 30 curl -fsS http://127.0.0.1:18054/health
