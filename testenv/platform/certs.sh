#!/usr/bin/env bash
# A CA, one certificate per component, the service-account key pair and a
# kubeconfig per client, for the two-node cluster. Idempotent: what exists
# is kept (a platform made before the second node gains only its files).
. "$(dirname "$0")/lib.sh"
B=$(bin_dir)
IP=$(node_ip)
mkdir -p "$PKI" && cd "$PKI"
if [ ! -f ca.crt ]; then
  openssl genrsa -out ca.key 2048 2>/dev/null
  openssl req -x509 -new -nodes -key ca.key -subj "/CN=sluice-platform-ca" -days 3650 -out ca.crt 2>/dev/null
fi
# cert NAME CN ORG SANS USAGE (kept when NAME.crt exists)
cert() { local n=$1 cn=$2 o=$3 san=$4 usage=$5 subj="/CN=$2"
  [ -f "$n.crt" ] && return 0
  [ -n "$o" ] && subj="/O=$o$subj"
  openssl genrsa -out "$n.key" 2048 2>/dev/null
  openssl req -new -key "$n.key" -subj "$subj" -out "$n.csr" 2>/dev/null
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"; echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"; } >"$n.ext"
  openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$n.ext" -out "$n.crt" 2>/dev/null
  rm -f "$n.csr" "$n.ext"; }
cert apiserver kube-apiserver "" "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$NODE,IP:127.0.0.1,IP:10.96.0.1,IP:$IP" serverAuth
cert admin admin system:masters "" clientAuth
cert controller-manager system:kube-controller-manager "" "" clientAuth
cert scheduler system:kube-scheduler "" "" clientAuth
cert kube-proxy system:kube-proxy "" "" clientAuth
cert kubelet "system:node:$NODE" system:nodes "" clientAuth
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" clientAuth
cert kubelet-serving "system:node:$NODE" system:nodes "DNS:$NODE,DNS:localhost,IP:127.0.0.1,IP:$IP" serverAuth
# the second node: its own identity (the Node authorizer lets a kubelet
# touch only its own Node and pods)
cert kubelet-b "system:node:$NODE_B" system:nodes "" clientAuth
cert kubelet-b-serving "system:node:$NODE_B" system:nodes "DNS:$NODE_B,DNS:localhost,IP:127.0.0.1,IP:$IP" serverAuth
[ -f sa.key ] || { openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null; }
for u in admin controller-manager scheduler kubelet kubelet-b kube-proxy; do
  kc=$STATE/$u.kubeconfig
  [ -f "$kc" ] && continue
  "$B/kubectl" config set-cluster sluice --server=https://127.0.0.1:6443 --certificate-authority="$PKI/ca.crt" --embed-certs --kubeconfig="$kc" >/dev/null
  "$B/kubectl" config set-credentials "$u" --client-certificate="$PKI/$u.crt" --client-key="$PKI/$u.key" --embed-certs --kubeconfig="$kc" >/dev/null
  "$B/kubectl" config set-context sluice --cluster=sluice --user="$u" --kubeconfig="$kc" >/dev/null
  "$B/kubectl" config use-context sluice --kubeconfig="$kc" >/dev/null
done
log "certificates in $PKI"
