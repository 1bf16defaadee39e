package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// NodePower switches a node off and on: a cloud's instance API in
// production, the local platform's node script here. Sluice does not know
// how a site powers its machines; it runs what the worker's configuration
// says (chaos.node_power).
type NodePower interface {
	Stop(ctx context.Context, node Node) error
	Start(ctx context.Context, node Node) error
}

// Node is what a power command is told about the node.
type Node struct {
	Name string
	// ProviderID is the node's spec.providerID (the cloud's instance id,
	// e.g. aws:///eu-west-1a/i-0abc), "" when the cluster sets none.
	ProviderID string
}

// ErrNoPower is a node-down without a way to power nodes: not retried.
var ErrNoPower = errors.New("node-down needs chaos.node_power (stop and start commands) in the worker's configuration")

// CommandPower runs a command to stop or start a node: the argument
// vector with the node's name appended, and SLUICE_NODE and
// SLUICE_NODE_PROVIDER_ID in its environment.
type CommandPower struct {
	StopCommand  []string
	StartCommand []string
}

// Stop runs the stop command for node.
func (c *CommandPower) Stop(ctx context.Context, node Node) error {
	return c.run(ctx, "stop", c.StopCommand, node)
}

// Start runs the start command for node.
func (c *CommandPower) Start(ctx context.Context, node Node) error {
	return c.run(ctx, "start", c.StartCommand, node)
}

func (c *CommandPower) run(ctx context.Context, what string, argv []string, node Node) error {
	if len(argv) == 0 {
		return fmt.Errorf("%w (%s is empty)", ErrNoPower, what)
	}
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], node.Name)...)
	cmd.Env = append(os.Environ(), "SLUICE_NODE="+node.Name, "SLUICE_NODE_PROVIDER_ID="+node.ProviderID)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s node %s with %s: %w: %s", what, node.Name, argv[0], err, lastLines(out.String(), 5))
	}
	return nil
}

// lastLines is the end of a command's output, for its error.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
