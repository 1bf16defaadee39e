// Package nodefaults holds the tests of the chaos faults that act on whole
// nodes (node-drain, node-down, zone-down) on the local platform's two
// nodes. They disturb every pod of a node, so `make test` runs them alone,
// after every other package.
package nodefaults
