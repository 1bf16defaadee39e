package image

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"golang.org/x/mod/semver"
)

// Finding is one vulnerability of one package of an image.
type Finding struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Package  string   `json:"package"`
	Version  string   `json:"version"`
	Fixed    string   `json:"fixed,omitempty"`
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary,omitempty"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s: %s %s, severity %s", f.ID, f.Package, f.Version, f.Severity)
	if f.Fixed != "" {
		s += ", fixed in " + f.Fixed
	}
	if f.Summary != "" {
		s += " (" + f.Summary + ")"
	}
	return s
}

// ScanPolicy decides which findings keep an image from being marked
// available.
type ScanPolicy struct {
	// MaxSeverity is the worst severity that passes.
	MaxSeverity Severity
	// Allow lists vulnerability IDs or aliases (CVE-2024-1234) accepted
	// whatever their severity.
	Allow []string
}

// Blocking returns the findings the policy refuses.
func (p ScanPolicy) Blocking(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Severity <= p.MaxSeverity || slices.Contains(p.Allow, f.ID) || slices.ContainsFunc(f.Aliases, func(a string) bool { return slices.Contains(p.Allow, a) }) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// scanned is a package of an SBOM as a vulnerability database names it.
type scanned struct {
	ecosystem, release, name, version string
	// shown is how a finding names it.
	shown string
}

// Scan matches the packages an SBOM lists against db: Go modules and the
// Go standard library (semantic versions), Debian and Ubuntu packages by
// their source package and release (dpkg's version order). Alpine
// packages are not matched (apk's version order is not implemented).
func Scan(doc SBOM, db *VulnDB) []Finding {
	var out []Finding
	for _, p := range doc.Packages {
		s, ok := scannable(p)
		if !ok {
			continue
		}
		for _, e := range db.byPackage[osvKey(s.ecosystem, s.name)] {
			for _, a := range e.Affected {
				if osvKey(a.Package.Ecosystem, a.Package.Name) != osvKey(s.ecosystem, s.name) || !sameRelease(a.Package.Ecosystem, s.release) {
					continue
				}
				if hit, fixed := affects(a, s); hit {
					out = append(out, Finding{ID: e.ID, Aliases: e.Aliases, Package: s.shown, Version: s.version,
						Fixed: fixed, Severity: severityOf(e, a), Summary: e.Summary})
					break
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// scannable reads a package's purl (or, for Go's standard library, its
// name) into what a database matches.
func scannable(p SBOMPackage) (scanned, bool) {
	if p.Name == "stdlib" && p.VersionInfo != "" {
		v, _, _ := strings.Cut(p.VersionInfo, " ")
		return scanned{ecosystem: "Go", name: "stdlib", version: v, shown: "Go standard library"}, true
	}
	for _, r := range p.ExternalRefs {
		if r.Type != "purl" {
			continue
		}
		kind, rest, ok := strings.Cut(strings.TrimPrefix(r.Locator, "pkg:"), "/")
		if !ok {
			continue
		}
		rest, query, _ := strings.Cut(rest, "?")
		q, _ := url.ParseQuery(query)
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			continue
		}
		path, _ := url.PathUnescape(rest[:at])
		version, _ := url.PathUnescape(rest[at+1:])
		switch kind {
		case "golang":
			return scanned{ecosystem: "Go", name: path, version: version, shown: path}, true
		case "deb":
			distro, name, _ := strings.Cut(path, "/")
			src := q.Get("upstream")
			if src == "" {
				src = name
			}
			release := strings.TrimPrefix(q.Get("distro"), distro+"-")
			eco := map[string]string{"debian": "Debian", "ubuntu": "Ubuntu"}[distro]
			if eco == "" {
				return scanned{}, false
			}
			return scanned{ecosystem: eco, release: release, name: src, version: version, shown: name}, true
		}
	}
	return scanned{}, false
}

// sameRelease: an entry for "Debian:12" applies to release 12 only; one
// for "Debian" or "Go" to every release.
func sameRelease(ecosystem, release string) bool {
	_, rel, ok := strings.Cut(ecosystem, ":")
	return !ok || release == "" || rel == release || strings.HasPrefix(rel, release+":")
}

// affects reports whether a's versions or ranges hold s's version, and the
// first fixed version above it.
func affects(a osvAffected, s scanned) (bool, string) {
	cmp := compareDebian
	if s.ecosystem == "Go" {
		cmp = compareSemver
	}
	// listed versions are written as the ecosystem writes them (Go's
	// without their "v")
	if slices.ContainsFunc(a.Versions, func(v string) bool { return cmp(v, s.version) == 0 }) {
		return true, ""
	}
	for _, r := range a.Ranges {
		if r.Type == "GIT" {
			continue
		}
		events := slices.Clone(r.Events)
		key := func(e osvEvent) string { return e.Introduced + e.Fixed + e.LastAffected }
		sort.SliceStable(events, func(i, j int) bool {
			ki, kj := key(events[i]), key(events[j])
			if ki == "0" || kj == "0" {
				return ki == "0" && kj != "0"
			}
			return cmp(ki, kj) < 0
		})
		hit := false
		for _, e := range events {
			switch {
			case e.Introduced != "":
				if e.Introduced == "0" || cmp(s.version, e.Introduced) >= 0 {
					hit = true
				}
			case e.Fixed != "":
				if cmp(s.version, e.Fixed) >= 0 {
					hit = false
				}
			case e.LastAffected != "":
				if cmp(s.version, e.LastAffected) > 0 {
					hit = false
				}
			}
		}
		if !hit {
			continue
		}
		for _, e := range events {
			if e.Fixed != "" && cmp(e.Fixed, s.version) > 0 {
				return true, e.Fixed
			}
		}
		return true, ""
	}
	return false, ""
}

// compareSemver orders Go versions, with or without their "v"; a version
// that is not semantic ((devel)) sorts below every other.
func compareSemver(a, b string) int {
	return semver.Compare("v"+strings.TrimPrefix(a, "v"), "v"+strings.TrimPrefix(b, "v"))
}

// severityOf is an entry's rating for one affected package: the
// package's own rating or CVSS v3 vector, else the entry's; unknown
// without any.
func severityOf(e *osvEntry, a osvAffected) Severity {
	for _, s := range []string{a.EcosystemSpecific.Severity, a.DBSpecific.Severity, e.DBSpecific.Severity} {
		if sev, err := ParseSeverity(s); err == nil {
			return sev
		}
	}
	for _, list := range [][]osvSeverity{a.Severity, e.Severity} {
		for _, s := range list {
			if s.Type != "CVSS_V3" {
				continue
			}
			if score, err := cvss3Score(s.Score); err == nil {
				return cvss3Rating(score)
			}
		}
	}
	return SeverityUnknown
}
