package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/chaos/agent"
	"github.com/sluice-cd/sluice/deploy"
)

// AgentInterval is how often the node agent looks at its node's pods: the
// bound on how late a network fault is applied, taken back or expired.
const AgentInterval = time.Second

func newAgentCmd(g *globals) *cobra.Command {
	var kubeconfig, node, proc string
	cmd := &cobra.Command{
		Use:   "agent --node NAME",
		Short: "Run the node agent: applies and removes the network faults of chaos experiments on this node's pods (a privileged DaemonSet sharing the host's PID namespace; deploy/kubernetes/agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if node == "" {
				return errors.New("--node is required (in the DaemonSet: SLUICE_NODE from spec.nodeName)")
			}
			rc, err := deploy.Config(kubeconfig, "", false)
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := g.logger().With("node", node)
			log.Info("chaos agent started", "interval", AgentInterval)
			return (&agent.Agent{Client: cs, Node: node, Proc: proc, Log: log}).Run(ctx, AgentInterval)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig (default: the pod's service account)")
	cmd.Flags().StringVar(&node, "node", os.Getenv("SLUICE_NODE"), "the node whose pods this agent looks after")
	cmd.Flags().StringVar(&proc, "proc", "/proc", "the host's /proc")
	return cmd
}
