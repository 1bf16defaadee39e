package app

import (
	"context"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/sluice-cd/sluice/executor"
)

// wallSteps keeps local build steps, which run as the step user, from the
// TCP ports of this machine that belong to the control plane: the Temporal
// frontend the process dials (and every port of an embedded Temporal), the
// HTTP API, the metrics endpoint, the registry and BuildKit when they
// listen here, and --step-deny. A worker that cannot put the wall up (not
// root, no iptables) says so and runs without it.
func (a *App) wallSteps(ctx context.Context, user *executor.StepUser) {
	if user == nil || os.Geteuid() != 0 {
		return
	}
	ports := a.stepWallPorts()
	down, err := executor.Wall{UID: user.UID, Ports: ports}.Up(ctx)
	if err != nil {
		a.log.Warn("build steps can reach this machine's control plane (Temporal, the HTTP API, the registry): use --temporal-auth and pool pods for code you do not trust", "ports", ports, "error", err)
		return
	}
	a.OnClose(down)
	a.log.Info("build steps walled off from this machine's control plane ports", "ports", ports, "step_uid", user.UID)
}

// stepWallPorts are the ports wallSteps walls off.
func (a *App) stepWallPorts() []int {
	ports := append([]int{}, a.controlPorts...)
	ports = append(ports, a.opts.StepDeny...)
	if a.opts.HTTPPort > 0 {
		ports = append(ports, a.opts.HTTPPort)
	}
	addrs := []string{a.opts.TemporalAddress, a.opts.MetricsAddr, a.opts.Platform.Registry, a.metricsAddr}
	for _, e := range a.opts.RegistryEndpoints {
		if _, hostport, ok := strings.Cut(e, "="); ok {
			addrs = append(addrs, hostport)
		}
	}
	if u, err := url.Parse(a.opts.Platform.BuildKitAddr); err == nil && u.Scheme == "tcp" {
		addrs = append(addrs, u.Host)
	}
	for _, addr := range addrs {
		host := strings.SplitN(addr, "/", 2)[0] // a registry may name a path
		if _, p, err := net.SplitHostPort(host); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				ports = append(ports, n)
			}
		}
	}
	return ports
}
