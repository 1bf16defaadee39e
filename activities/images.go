package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/logstore"
)

// Images bakes, signs, scans and tags images: the bake and promote phases
// and promote's undo.
type Images struct {
	BuildKitAddr string
	Registry     string
	// VulnDB is the OSV database promote.scan reads (empty: scans refused).
	VulnDB string
	// Signer signs every baked digest; nil: images are not signed.
	Signer *image.Signer
	Trust
	Logs *logstore.Store
}

// Bake checks the commit out on this worker (build may have run in a pod
// elsewhere), builds the spec's Dockerfile with BuildKit, and pushes the
// image by digest tagged with the commit SHA; then signs it and attests its
// SBOM. A retry after a lost worker builds nothing its run already pushed,
// and signing and attesting again leave one signature and one SBOM.
func (im *Images) Bake(ctx context.Context, in contract.BakeInput) (_ contract.BakeResult, err error) {
	defer classify(&err)
	switch {
	case im.BuildKitAddr == "":
		return contract.BakeResult{}, missing("bake", needBuildKit)
	case im.Registry == "":
		return contract.BakeResult{}, missing("bake", needRegistry)
	case in.Context != "" && !filepath.IsLocal(in.Context):
		return contract.BakeResult{}, invalid("bake.context %q must be a directory inside the repository", in.Context)
	}
	log, err := im.Logs.Writer(in.RunID, "bake")
	if err != nil {
		return contract.BakeResult{}, err
	}
	defer log.Close()
	defer heartbeat(ctx)()
	// an earlier attempt of this run may have pushed before its worker was
	// lost: that image is the run's, and no second one is built
	res := image.Baked{Repository: in.Image}
	if res.Digest, err = image.BakedBy(ctx, in.Image, in.Source.Commit, in.RunID); err != nil {
		return contract.BakeResult{}, err
	}
	if res.Digest != "" {
		fmt.Fprintf(log, "%s was pushed by an earlier attempt of this run; not building it again\n", res.Ref())
	} else if res, err = im.build(ctx, in, log); err != nil {
		return contract.BakeResult{}, err
	}
	if im.Signer != nil {
		if err := im.Signer.Sign(ctx, in.Image, res.Digest, in.Source.Commit); err != nil {
			return contract.BakeResult{}, err
		}
		fmt.Fprintf(log, "signed %s for commit %s\n", res.Ref(), in.Source.Commit)
		doc, err := image.GenerateSBOM(ctx, in.Image, res.Digest)
		if err != nil {
			return contract.BakeResult{}, fmt.Errorf("SBOM of %s: %w", res.Ref(), err)
		}
		if err := im.Signer.AttestSBOM(ctx, in.Image, res.Digest, doc); err != nil {
			return contract.BakeResult{}, err
		}
		fmt.Fprintf(log, "SBOM attested: %d packages (SPDX 2.3, the Go programs in the image and their modules)\n", len(doc.Packages))
	}
	return contract.BakeResult{Image: in.Image + ":" + in.Source.Commit, Digest: res.Digest}, nil
}

// build checks the commit out on this worker, builds it with BuildKit and
// pushes it, annotated with the run.
func (im *Images) build(ctx context.Context, in contract.BakeInput, log io.Writer) (image.Baked, error) {
	src, done, err := checkout(ctx, in.Source)
	if err != nil {
		return image.Baked{}, err
	}
	defer done()
	if in.Artifacts != "" {
		repo, digest, _ := strings.Cut(in.Artifacts, "@")
		files, err := image.FetchArtifacts(ctx, repo, digest, src)
		if err != nil {
			return image.Baked{}, err
		}
		fmt.Fprintf(log, "build artifacts %v added to the context\n", files)
	}
	for _, ref := range in.JobArtifacts {
		repo, digest, _ := strings.Cut(ref, "@")
		files, err := image.FetchArtifacts(ctx, repo, digest, src)
		if err != nil {
			return image.Baked{}, err
		}
		fmt.Fprintf(log, "job artifacts %v added to the context\n", files)
	}
	fmt.Fprintf(log, "building %s at %s with BuildKit %s\n", in.Image, in.Source.Commit, im.BuildKitAddr)
	b := &image.Builder{Addr: im.BuildKitAddr}
	res, err := b.Bake(ctx, image.Bake{
		ContextDir: filepath.Join(src, in.Context), Dockerfile: in.Dockerfile, BuildArgs: in.BuildArgs,
		Repository: in.Image, Tags: []string{in.Source.Commit},
		Source: publicURL(in.Source.CloneURL), Revision: in.Source.Commit, Run: in.RunID,
	}, log)
	if err != nil {
		return image.Baked{}, err
	}
	fmt.Fprintf(log, "pushed %s (%d of %d steps from cache)\n", res.Ref(), res.CacheHits, res.Steps)
	return res, nil
}

// MarkAvailable adds the available tag to the tested digest.
func (im *Images) MarkAvailable(ctx context.Context, in contract.PromoteInput) (_ contract.PromoteResult, err error) {
	defer classify(&err)
	if im.Registry == "" {
		return contract.PromoteResult{}, missing("promote", needRegistry)
	}
	repo, err := repository(in.Image)
	if err != nil {
		return contract.PromoteResult{}, err
	}
	defer heartbeat(ctx)()
	if err := im.check(ctx, "promote", repo, in.Digest, in.Commit); err != nil {
		return contract.PromoteResult{}, err
	}
	if in.Scan != nil {
		if err := im.scan(ctx, in, repo); err != nil {
			return contract.PromoteResult{}, err
		}
	}
	if err := image.Tag(ctx, repo, in.Digest, in.Tag); err != nil {
		return contract.PromoteResult{}, err
	}
	if in.Replica == "" {
		return contract.PromoteResult{Tag: in.Tag}, nil
	}
	// Replicate to the production registry with the signature and the
	// provenance, tagged there too, and check the copy verifies.
	if err := image.Replicate(ctx, repo, in.Digest, in.Replica, in.Tag, in.Commit); err != nil {
		return contract.PromoteResult{}, err
	}
	if err := im.check(ctx, "promote", in.Replica, in.Digest, in.Commit); err != nil {
		return contract.PromoteResult{}, err
	}
	if log, err := im.Logs.Writer(in.RunID, "promote"); err == nil {
		fmt.Fprintf(log, "%s@%s marked %s and replicated to %s with its signature and provenance\n", repo, in.Digest, in.Tag, in.Replica)
		log.Close()
	}
	return contract.PromoteResult{Tag: in.Tag, Replica: in.Replica}, nil
}

// scan matches the digest's SBOM — the signed one when images are signed —
// against the worker's vulnerability database, writes every finding to the
// run log and refuses the digest when the policy does.
func (im *Images) scan(ctx context.Context, in contract.PromoteInput, repo string) error {
	if im.VulnDB == "" {
		return missing("promote", "a vulnerability database for promote.scan: set --vulnerability-db to a directory of OSV files")
	}
	maxSev, err := image.ParseSeverity(in.Scan.MaxSeverity)
	if err != nil {
		return invalid("promote.scan: %v", err)
	}
	db, err := image.CachedVulnDB(im.VulnDB)
	if err != nil {
		return notConfigured("%v", err)
	}
	var doc image.SBOM
	if im.Verifier != nil {
		doc, err = im.Verifier.VerifiedSBOM(ctx, repo, in.Digest)
	} else {
		doc, err = image.GenerateSBOM(ctx, repo, in.Digest)
	}
	if errors.Is(err, image.ErrUntrusted) {
		return fmt.Errorf("phase promote refuses %s@%s: %w", repo, in.Digest, err)
	}
	if err != nil {
		return err
	}
	findings := image.Scan(doc, db)
	blocking := image.ScanPolicy{MaxSeverity: maxSev, Allow: in.Scan.Allow}.Blocking(findings)
	if log, err := im.Logs.Writer(in.RunID, "promote"); err == nil {
		fmt.Fprintf(log, "scanned %d packages against %d vulnerabilities (%s): %d found, %d above %s and not allowed\n",
			len(doc.Packages), db.Entries, im.VulnDB, len(findings), len(blocking), maxSev)
		for _, f := range findings {
			fmt.Fprintf(log, "  %s\n", f)
		}
		log.Close()
	}
	if len(blocking) == 0 {
		return nil
	}
	var ids []string
	for _, f := range blocking {
		ids = append(ids, f.ID+" ("+f.Package+" "+f.Version+", "+f.Severity.String()+")")
	}
	return fail(errVulnerable, "phase promote refuses %s@%s: %d vulnerabilities above %s: %s; upgrade the packages, or accept them in promote.scan.allow",
		repo, in.Digest, len(blocking), maxSev, strings.Join(ids, ", "))
}

// RemoveTag undoes MarkAvailable: the tag goes when it still names the
// run's digest. With no registry configured no tag can exist.
func (im *Images) RemoveTag(ctx context.Context, in contract.TagRef) (err error) {
	defer classify(&err)
	if im.Registry == "" || in.Image == "" || in.Tag == "" {
		return nil
	}
	defer heartbeat(ctx)()
	repo, err := repository(in.Image)
	if err != nil {
		return err
	}
	if in.Replica != "" {
		if err := image.Untag(ctx, in.Replica, in.Digest, in.Tag); err != nil {
			return err
		}
	}
	return image.Untag(ctx, repo, in.Digest, in.Tag)
}
