package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/sluice-cd/sluice/testenv"
)

// TestSBOMAttestation bakes the sample app, lists the Go program in the
// image with its module and standard library, attaches the list as a
// signed SPDX attestation and reads it back with the public key; another
// key does not accept it.
func TestSBOMAttestation(t *testing.T) {
	p := testenv.Require(t)
	ctx := context.Background()
	repo := fmt.Sprintf("%s/sluice-test/sbom-%d", p.Registry, time.Now().UnixNano())
	res, err := (&Builder{Addr: p.BuildKitAddr}).Bake(ctx, Bake{ContextDir: "../examples/hello", Repository: repo, Tags: []string{"x"}}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := GenerateSBOM(ctx, repo, res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pkg := range doc.Packages {
		names = append(names, pkg.Name+"@"+pkg.VersionInfo)
	}
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	if !strings.Contains(strings.Join(names, " "), "example.com/hello@") || !strings.Contains(strings.Join(names, " "), "stdlib@"+goVersion) {
		t.Fatalf("SBOM packages %v lack the program or its standard library", names)
	}
	signer, err := EnsureKeys(filepath.Join(t.TempDir(), "k"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // attested again (a retried bake): still one SBOM
		if err := signer.AttestSBOM(ctx, repo, res.Digest, doc); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := crane.Manifest(repo+":"+strings.Replace(res.Digest, ":", "-", 1)+".att", crane.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var att struct{ Layers []json.RawMessage }
	if err := json.Unmarshal(raw, &att); err != nil || len(att.Layers) != 1 {
		t.Fatalf("%d attestations after attesting twice, want 1 (%v)", len(att.Layers), err)
	}
	got, err := signer.Verifier().VerifiedSBOM(ctx, repo, res.Digest)
	if err != nil || len(got.Packages) != len(doc.Packages) || got.SPDXVersion != "SPDX-2.3" {
		t.Fatalf("read back: %d packages, %v", len(got.Packages), err)
	}
	stranger, err := EnsureKeys(filepath.Join(t.TempDir(), "other"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Verifier().VerifiedSBOM(ctx, repo, res.Digest); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("another key accepted the SBOM: %v", err)
	}
}

// TestSBOMListsDebianPackages bakes an image holding this machine's own
// dpkg database (730-odd real stanzas) and os-release, plus an apk
// database that a later layer deletes: the SBOM lists exactly the packages
// dpkg-query says are installed here, with Debian purls, and nothing of
// the deleted database.
func TestSBOMListsDebianPackages(t *testing.T) {
	p := testenv.Require(t)
	if _, err := os.Stat("/" + dpkgStatus); err != nil {
		t.Fatal("this test bakes the dpkg database of the machine it runs on (Debian, as the platform): ", err)
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev}|${Package}|${Version}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if strings.TrimSpace(f[0]) == "ii" {
			want = append(want, f[1]+"@"+f[2])
		}
	}
	stamp := fmt.Sprint(time.Now().UnixNano())
	dir := dockerContext(t, fmt.Sprintf(`FROM %s/sluice/busybox:latest
COPY status /var/lib/dpkg/status
COPY os-release /usr/lib/os-release
COPY installed /lib/apk/db/installed
RUN rm /lib/apk/db/installed && echo %s > /stamp
`, p.Registry, stamp))
	for src, dst := range map[string]string{"/" + dpkgStatus: "status", "/usr/lib/os-release": "os-release"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, dst), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "installed"), []byte(apkSample), 0o644)
	ctx := context.Background()
	repo := p.Registry + "/sluice-test/sbom-deb-" + stamp
	res, err := (&Builder{Addr: p.BuildKitAddr}).Bake(ctx, Bake{ContextDir: dir, Repository: repo, Tags: []string{"x"}}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := GenerateSBOM(ctx, repo, res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	rel := parseOSRelease(must(os.ReadFile("/usr/lib/os-release")))
	var got []string
	for _, pkg := range doc.Packages {
		if len(pkg.ExternalRefs) != 1 || !strings.HasPrefix(pkg.ExternalRefs[0].Locator, "pkg:deb/"+rel.id+"/"+url.PathEscape(pkg.Name)+"@") ||
			!strings.Contains(pkg.ExternalRefs[0].Locator, "distro="+rel.id+"-"+rel.versionID) {
			t.Fatalf("package %+v: not a Debian package of %s %s", pkg, rel.id, rel.versionID)
		}
		got = append(got, pkg.Name+"@"+pkg.VersionInfo)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("SBOM lists %d packages, dpkg-query %d installed", len(got), len(want))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
