package image

import (
	"archive/tar"
	"bytes"
	"slices"
	"testing"
)

// A dpkg status file as dpkg writes it: an installed package with a
// multi-line description and conffiles, one removed but for its
// configuration (not installed), one with a Source of another version.
const dpkgSample = `Package: adduser
Status: install ok installed
Priority: important
Architecture: all
Version: 3.134
Conffiles:
 /etc/adduser.conf cc3493ecd2d09837ffdcc3e25fdfff18
Description: add and remove users and groups
 This package includes the 'adduser' and 'deluser' commands.
 .
 Version: 9.9 is not a field

Package: nginx-common
Status: deinstall ok config-files
Architecture: all
Version: 1.22.1-9

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc (2.36-9+deb12u9)
Version: 2.36-9+deb12u10
`

// An apk database as Alpine's apk writes it.
const apkSample = `C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
o:musl
T:the musl c library

C:Q1def=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
o:busybox
`

func TestParsePackageDatabases(t *testing.T) {
	rel := parseOSRelease([]byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"))
	var got []string
	for _, p := range parsePackageDB(dpkgStatus, []byte(dpkgSample)) {
		got = append(got, p.purl(rel))
	}
	want := []string{
		"pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12",
		"pkg:deb/debian/libc6@2.36-9+deb12u10?arch=amd64&distro=debian-12&upstream=glibc",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("dpkg:\n got %v\nwant %v", got, want)
	}
	// distroless: one stanza per file, no Status line
	if ps := parsePackageDB(dpkgStatusDir+"base-files", []byte("Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n")); len(ps) != 1 || ps[0].version != "12.4+deb12u5" {
		t.Fatalf("status.d: %+v", ps)
	}
	got = nil
	alpine := parseOSRelease([]byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n"))
	for _, p := range parsePackageDB(apkInstalled, []byte(apkSample)) {
		got = append(got, p.purl(alpine))
	}
	want = []string{
		"pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1",
		"pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("apk:\n got %v\nwant %v", got, want)
	}
}

// TestScanFilesystem reads a flattened filesystem: package databases and
// os-release found at their paths (leading ./ or / or not), an executable
// that is not a Go program skipped, a symlinked os-release ignored for the
// file it points at.
func TestScanFilesystem(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	file := func(name string, mode int64, body string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	file("./var/lib/dpkg/status", 0o644, dpkgSample)
	file("/lib/apk/db/installed", 0o644, apkSample)
	file("usr/lib/os-release", 0o644, "ID=debian\nVERSION_ID=12\n")
	file("bin/sh", 0o755, "\x7fELF not a go program")
	tw.WriteHeader(&tar.Header{Name: "etc/os-release", Typeflag: tar.TypeSymlink, Linkname: "../usr/lib/os-release"})
	tw.Close()
	found, err := scanFilesystem(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if dbs := sortedDBs(found.packageDBs); !slices.Equal(dbs, []string{apkInstalled, dpkgStatus}) {
		t.Fatalf("databases %v", dbs)
	}
	if rel := osReleaseOf(found.osRelease); rel != (osRelease{id: "debian", versionID: "12"}) {
		t.Fatalf("os-release %+v", rel)
	}
	if len(found.goPrograms) != 0 {
		t.Fatalf("Go programs %v", found.goPrograms)
	}
}
