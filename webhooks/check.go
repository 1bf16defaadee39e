package webhooks

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a push may carry: Temporal refuses longer workflow ids, and
// nothing legitimate comes near them.
const (
	maxRepo     = 200
	maxBranch   = 200
	maxDelivery = 100
)

var commitSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// Check refuses a push whose names Sluice could not start a run for, so the
// provider is answered 400 with the reason instead of a run that never starts.
func (p *Push) Check() error {
	var errs []error
	if err := name("repository", p.Repo, maxRepo); err != nil {
		errs = append(errs, err)
	}
	if err := name("branch", p.Branch, maxBranch); err != nil {
		errs = append(errs, err)
	} else if strings.Contains(p.Branch, "..") || strings.HasPrefix(p.Branch, "-") || strings.ContainsAny(p.Branch, " ~^:?*[\\") {
		errs = append(errs, fmt.Errorf("branch %q is not a valid Git branch name", p.Branch))
	}
	if !p.Deleted && !commitSHA.MatchString(p.Commit) {
		errs = append(errs, fmt.Errorf("commit %q is not a full lowercase SHA", truncate(p.Commit)))
	}
	if err := name("delivery id", p.DeliveryID, maxDelivery); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func name(what, v string, limit int) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is missing", what)
	case len(v) > limit:
		return fmt.Errorf("%s is longer than %d bytes", what, limit)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("%s %q has non-printable characters", what, truncate(v))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
