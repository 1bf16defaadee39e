package image

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
)

// The package databases of an image's operating system, read from its
// final filesystem (every layer applied, deleted files gone) the way a
// package manager would read them. Debian and Ubuntu keep theirs in
// var/lib/dpkg/status (distroless images: one file per package in
// var/lib/dpkg/status.d/), Alpine in lib/apk/db/installed. RPM databases
// (a SQLite or Berkeley DB file) are not read.
const (
	dpkgStatus    = "var/lib/dpkg/status"
	dpkgStatusDir = "var/lib/dpkg/status.d/"
	apkInstalled  = "lib/apk/db/installed"
)

// maxPackageDB bounds one package database file.
const maxPackageDB = 64 << 20

// osPackage is one installed package of the image's operating system.
type osPackage struct {
	// kind is the purl type: "deb" or "apk".
	kind                string
	name, version, arch string
	source, database    string
}

// isPackageDB reports whether a file of the image is a package database.
func isPackageDB(name string) bool {
	return name == dpkgStatus || name == apkInstalled ||
		(strings.HasPrefix(name, dpkgStatusDir) && !strings.HasSuffix(name, ".md5sums"))
}

// osRelease is the distribution named by an os-release file.
type osRelease struct{ id, versionID string }

func parseOSRelease(b []byte) osRelease {
	var r osRelease
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.TrimSpace(k) {
		case "ID":
			r.id = v
		case "VERSION_ID":
			r.versionID = v
		}
	}
	return r
}

// parsePackageDB returns the installed packages a database file lists.
func parsePackageDB(name string, b []byte) []osPackage {
	if name == apkInstalled {
		return parseAPK(b)
	}
	return parseDpkg(name, b)
}

// parseDpkg reads dpkg's status format (RFC 822-style stanzas separated by
// blank lines; continuation lines start with a space). Only packages whose
// Status says installed count: removed ones keep a stanza with their
// configuration files.
func parseDpkg(db string, b []byte) []osPackage {
	var out []osPackage
	for _, stanza := range stanzas(b) {
		f := fields(stanza, ": ")
		status := f["Status"]
		if f["Package"] == "" || f["Version"] == "" {
			continue
		}
		// distroless status.d files carry no Status line: installed by
		// construction
		if status != "" && !strings.HasSuffix(status, " installed") {
			continue
		}
		src, _, _ := strings.Cut(f["Source"], " ") // "Source: glibc (2.36-9)"
		out = append(out, osPackage{kind: "deb", name: f["Package"], version: f["Version"], arch: f["Architecture"], source: src, database: db})
	}
	return out
}

// parseAPK reads apk's installed database (stanzas of one-letter keys:
// P name, V version, A architecture, o origin).
func parseAPK(b []byte) []osPackage {
	var out []osPackage
	for _, stanza := range stanzas(b) {
		f := fields(stanza, ":")
		if f["P"] == "" || f["V"] == "" {
			continue
		}
		out = append(out, osPackage{kind: "apk", name: f["P"], version: f["V"], arch: f["A"], source: f["o"], database: apkInstalled})
	}
	return out
}

// stanzas splits a database at its blank lines.
func stanzas(b []byte) [][]string {
	var out [][]string
	var cur []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// fields returns a stanza's top-level fields (continuation lines skipped).
func fields(stanza []string, sep string) map[string]string {
	f := map[string]string{}
	for _, line := range stanza {
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if k, v, ok := strings.Cut(line, sep); ok {
			f[k] = strings.TrimSpace(v)
		}
	}
	return f
}

// purl is the package URL of p on the distribution rel
// (pkg:deb/debian/bash@5.2.15-2+b7?arch=amd64&distro=debian-12).
func (p osPackage) purl(rel osRelease) string {
	namespace := rel.id
	if namespace == "" {
		namespace = map[string]string{"deb": "debian", "apk": "alpine"}[p.kind]
	}
	q := url.Values{}
	if p.arch != "" {
		q.Set("arch", p.arch)
	}
	if rel.id != "" && rel.versionID != "" {
		q.Set("distro", rel.id+"-"+rel.versionID)
	}
	if p.source != "" && p.source != p.name {
		q.Set("upstream", p.source)
	}
	s := fmt.Sprintf("pkg:%s/%s/%s@%s", p.kind, url.PathEscape(namespace), url.PathEscape(p.name), url.PathEscape(p.version))
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// sortedDBs returns the database files in a stable order.
func sortedDBs(dbs map[string][]byte) []string { return slices.Sorted(maps.Keys(dbs)) }

// osReleaseOf picks the image's os-release (etc/ first, as systemd reads it).
func osReleaseOf(files map[string][]byte) osRelease {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if b, ok := files[p]; ok {
			return parseOSRelease(b)
		}
	}
	return osRelease{}
}

// isOSRelease reports whether a file of the image names its distribution.
func isOSRelease(name string) bool {
	return name == "etc/os-release" || name == "usr/lib/os-release"
}

// cleanName is a tar entry's path relative to the image root.
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}
