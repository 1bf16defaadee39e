package image

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestCompareDebian checks dpkg's version order on the cases its manual
// and Debian policy use: epochs, tildes before everything, letters before
// other characters, revisions,
// numeric runs compared as numbers.
func TestCompareDebian(t *testing.T) {
	ascending := []string{
		"1.0~rc1", "1.0", "1.0-1", "1.0-1+b1", "1.0a", "1.0+dfsg-1", "1.2", "1.10", "1:0.1", "2:0.0~",
	}
	for i := range ascending {
		for j := range ascending {
			got := compareDebian(ascending[i], ascending[j])
			if (i < j && got >= 0) || (i > j && got <= 0) || (i == j && got != 0) {
				t.Errorf("compare(%s, %s) = %d", ascending[i], ascending[j], got)
			}
		}
	}
	if compareDebian("2.36-9+deb12u10", "2.36-9+deb12u9") <= 0 {
		t.Error("deb12u10 is after deb12u9")
	}
	if compareDebian("1.001", "1.1") != 0 {
		t.Error("leading zeros do not count")
	}
}

// TestCVSS3Score computes base scores published with well-known vectors.
func TestCVSS3Score(t *testing.T) {
	for vector, want := range map[string]float64{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": 9.8,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N": 6.1,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H": 7.5,
		"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H": 7.8,
		"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H": 9.9,
		"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N": 3.3,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N": 0,
	} {
		got, err := cvss3Score(vector)
		if err != nil || got != want {
			t.Errorf("%s = %v %v, want %v", vector, got, err, want)
		}
	}
	for _, bad := range []string{"CVSS:2.0/AV:N", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:Q/C:H/I:H/A:H"} {
		if _, err := cvss3Score(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestScanAgainstOSVDatabase scans an SBOM of Go modules, Go's standard
// library and Debian 12 packages against the test database (entry files
// and a zip archive): ranges with introduced/fixed in any order and
// last_affected, releases kept apart, withdrawn entries ignored, severity
// from a rating, a CVSS vector, or unknown.
func TestScanAgainstOSVDatabase(t *testing.T) {
	db, err := LoadVulnDB("../examples/vulndb")
	if err != nil {
		t.Fatal(err)
	}
	if db.Entries != 6 {
		t.Fatalf("%d entries read, want 6 (one withdrawn)", db.Entries)
	}
	deb := func(name, version, src string) SBOMPackage {
		purl := "pkg:deb/debian/" + name + "@" + version + "?arch=amd64&distro=debian-12"
		if src != "" {
			purl += "&upstream=" + src
		}
		return SBOMPackage{Name: name, VersionInfo: version, ExternalRefs: []spdxRef{{Type: "purl", Locator: purl}}}
	}
	gomod := func(path, version string) SBOMPackage {
		return SBOMPackage{Name: path, VersionInfo: version, ExternalRefs: []spdxRef{{Type: "purl", Locator: goPurl(path, version)}}}
	}
	doc := SBOM{Packages: []SBOMPackage{
		{Name: "stdlib", VersionInfo: "1.26.0"},
		gomod("golang.org/x/text", "v0.3.7"), // affected
		gomod("golang.org/x/net", "v0.3.7"),  // affected, no severity
		gomod("golang.org/x/sys", "v0.3.7"),  // no entry
		deb("libc6", "2.36-9+deb12u10", "glibc"),
		deb("adduser", "3.134", ""), // after last_affected
		deb("passwd", "1:4.13+dfsg1-1", "shadow"),
	}}
	var got []string
	for _, f := range Scan(doc, db) {
		got = append(got, f.String())
	}
	want := []string{
		"TEST-GO-0004: golang.org/x/net v0.3.7, severity unknown, fixed in 0.4.0 (test entry without a severity: golang.org/x/net before 0.4.0)",
		"TEST-DEB-0001: libc6 2.36-9+deb12u10, severity high, fixed in 2.36-9+deb12u99 (test entry: glibc of Debian 12 before 2.36-9+deb12u99)",
		"TEST-GO-0002: golang.org/x/text v0.3.7, severity high, fixed in 0.3.8 (test entry: golang.org/x/text 0.3.0 to 0.3.7, fixed in 0.3.8)",
		"TEST-GO-0001: Go standard library 1.26.0, severity low, fixed in 1.99.0 (test entry: every Go standard library before 1.99.0)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// adduser 3.133 is the last affected version
	if fs := Scan(SBOM{Packages: []SBOMPackage{deb("adduser", "3.133", "")}}, db); len(fs) != 1 || fs[0].Severity != SeverityLow {
		t.Fatalf("adduser 3.133: %v", fs)
	}

	findings := Scan(doc, db)
	for _, c := range []struct {
		policy ScanPolicy
		want   []string
	}{
		{ScanPolicy{MaxSeverity: SeverityMedium}, []string{"TEST-GO-0004", "TEST-DEB-0001", "TEST-GO-0002"}},
		{ScanPolicy{MaxSeverity: SeverityCritical}, []string{"TEST-GO-0004"}},                                                               // unknown is worse than critical
		{ScanPolicy{MaxSeverity: SeverityHigh, Allow: []string{"CVE-2099-0004"}}, nil},                                                      // allowed by alias
		{ScanPolicy{MaxSeverity: SeverityNone, Allow: []string{"TEST-GO-0004", "TEST-GO-0002", "TEST-GO-0001"}}, []string{"TEST-DEB-0001"}}, // by id
	} {
		var ids []string
		for _, f := range c.policy.Blocking(findings) {
			ids = append(ids, f.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("policy %+v blocks %v, want %v", c.policy, ids, c.want)
		}
	}
}

// TestListedVersionsMatchAsTheEcosystemWritesThem: OSV's Go entries list
// versions without the "v" Go modules carry.
func TestListedVersionsMatchAsTheEcosystemWritesThem(t *testing.T) {
	a := osvAffected{Versions: []string{"0.3.6", "0.3.7"}}
	if hit, _ := affects(a, scanned{ecosystem: "Go", name: "golang.org/x/text", version: "v0.3.7"}); !hit {
		t.Fatal("v0.3.7 is listed as 0.3.7")
	}
	if hit, _ := affects(a, scanned{ecosystem: "Go", name: "golang.org/x/text", version: "v0.3.8"}); hit {
		t.Fatal("v0.3.8 is not listed")
	}
}

// TestLoadVulnDBRefusesAMalformedEntry: half a database would pass images
// it should not.
func TestLoadVulnDBRefusesAMalformedEntry(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/GO-1.json", `{"id": "GO-1", "affected": [`)
	if _, err := LoadVulnDB(dir); err == nil || !strings.Contains(err.Error(), "GO-1.json") {
		t.Fatalf("malformed entry: %v", err)
	}
	if _, err := LoadVulnDB(dir + "/missing"); err == nil {
		t.Fatal("a missing directory was accepted")
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCompareDebianAgreesWithDpkg compares this machine's installed
// package versions pairwise with dpkg itself.
func TestCompareDebianAgreesWithDpkg(t *testing.T) {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}\n").Output()
	if err != nil {
		t.Fatal("dpkg-query (a Debian machine, as the platform needs): ", err)
	}
	versions := strings.Fields(string(out))
	for i := 0; i+1 < len(versions) && i < 300; i += 2 {
		a, b := versions[i], versions[i+1]
		dpkgLess := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run() == nil
		if got := compareDebian(a, b) < 0; got != dpkgLess {
			t.Errorf("%s < %s: dpkg says %v, compareDebian %v", a, b, dpkgLess, got)
		}
	}
}

// TestCachedVulnDBReadsAgainOnlyAfterAChange: the same directory gives the
// same database until a file in it changes.
func TestCachedVulnDBReadsAgainOnlyAfterAChange(t *testing.T) {
	dir := t.TempDir()
	entry := `{"id": "TEST-1", "affected": [{"package": {"ecosystem": "Go", "name": "example.com/m"}, "versions": ["v1.0.0"]}]}`
	writeFile(t, dir+"/TEST-1.json", entry)
	first, err := CachedVulnDB(dir)
	if err != nil || first.Entries != 1 {
		t.Fatalf("%+v %v", first, err)
	}
	if again, err := CachedVulnDB(dir); err != nil || again != first {
		t.Fatalf("an unchanged directory was read again: %v", err)
	}
	writeFile(t, dir+"/TEST-2.json", strings.Replace(entry, "TEST-1", "TEST-2", 1))
	if changed, err := CachedVulnDB(dir); err != nil || changed == first || changed.Entries != 2 {
		t.Fatalf("a new entry was not read: %+v %v", changed, err)
	}
}
