// Package access says who may do what: the roles a client holds in each
// project, and the actions each role allows. It is the one table the HTTP
// API enforces and docs/security.md shows (a test keeps them in step).
package access

import (
	"fmt"
	"slices"
	"sort"
)

// Roles, per project.
const (
	Viewer    = "viewer"
	Developer = "developer"
	Approver  = "approver"
	Releaser  = "releaser"
	Admin     = "admin"
)

// Actions a client asks for.
const (
	Status     = "status"
	Logs       = "logs"
	Run        = "run"
	Retry      = "retry"
	Cancel     = "cancel"
	Approve    = "approve"
	Reject     = "reject"
	Rollback   = "rollback"
	PoolResize = "pool resize"
	ChaosRun   = "chaos run"
	// Unfreeze releases a run's production from its freeze window.
	Unfreeze = "unfreeze"
)

// Roles lists the roles, least first.
var Roles = []string{Viewer, Developer, Approver, Releaser, Admin}

// Actions lists every action, in the order the docs show them.
var Actions = []string{Status, Logs, Run, Retry, Cancel, Approve, Reject, Rollback, PoolResize, ChaosRun, Unfreeze}

// allows is what each role may do in its project. An approver decides
// only where the environment's approval rule names them as well.
var allows = map[string][]string{
	Viewer:    {Status, Logs},
	Developer: {Status, Logs, Run, Retry, Cancel},
	Approver:  {Status, Logs, Approve, Reject},
	Releaser:  {Status, Logs, Rollback},
	Admin:     Actions,
}

// Allows tells whether role permits action.
func Allows(role, action string) bool { return slices.Contains(allows[role], action) }

// AnyProject is the project name of a grant in every project.
const AnyProject = "*"

// Grants are the roles a client holds, by project (AnyProject: every
// project).
type Grants map[string][]string

// Allows tells whether the grants permit action in project.
func (g Grants) Allows(project, action string) bool {
	for _, p := range []string{project, AnyProject} {
		for _, role := range g[p] {
			if Allows(role, action) {
				return true
			}
		}
	}
	return false
}

// Check says what is wrong with grants: an unknown role, or a project
// that is not one of projects. key names them in errors.
func (g Grants) Check(key string, projects []string) []error {
	var errs []error
	names := make([]string, 0, len(g))
	for p := range g {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if p != AnyProject && !slices.Contains(projects, p) {
			errs = append(errs, fmt.Errorf("%s.%s: no project of that name (projects: %v, or %q for every project)", key, p, projects, AnyProject))
		}
		for _, r := range g[p] {
			if !slices.Contains(Roles, r) {
				errs = append(errs, fmt.Errorf("%s.%s: %q is not a role (%v)", key, p, r, Roles))
			}
		}
	}
	return errs
}
