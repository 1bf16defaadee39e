#!/usr/bin/env bash
# Print what the platform may change on the host, sorted, so a snapshot
# before platform-up can be compared with one after platform-down.
echo "# interfaces"; ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
echo "# iptables chains"; for t in filter nat mangle; do iptables-save -t $t 2>/dev/null | awk -v t=$t '/^:/{print t, $1}'; done | sort
echo "# ip6tables chains"; for t in filter nat mangle; do ip6tables-save -t $t 2>/dev/null | awk -v t=$t '/^:/{print t, $1}'; done | sort
echo "# nat rules"; iptables-save -t nat 2>/dev/null | grep '^-A' | grep -v -- '-A KUBE-\|-A CNI-' | sort
echo "# sysctls"; sysctl vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
echo "# network namespaces"; ls /var/run/netns 2>/dev/null | sort
echo "# mounts"; findmnt -rn -o TARGET | grep -E 'sluice|kubelet|containerd|netns' | sort
echo "# runtime dirs"; ls -d /run/containerd /var/log/containers /var/log/pods /var/lib/kubelet 2>/dev/null
echo "# kubepods cgroups"; ls -d /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/sluice-b /sys/fs/cgroup/sluice-b 2>/dev/null
exit 0
