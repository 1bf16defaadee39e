package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func craneOpts(ctx context.Context, repository string) []crane.Option {
	opts := []crane.Option{crane.WithContext(ctx)}
	if Insecure(repository) {
		opts = append(opts, crane.Insecure)
	}
	return opts
}

// Tag points repository:tag at digest, after checking the digest is there:
// only an image that exists by digest is ever marked.
func Tag(ctx context.Context, repository, digest, tag string) error {
	opts := craneOpts(ctx, repository)
	if _, err := crane.Head(repository+"@"+digest, opts...); err != nil {
		return fmt.Errorf("%s@%s: %w", repository, digest, err)
	}
	if err := crane.Tag(repository+"@"+digest, tag, opts...); err != nil {
		return fmt.Errorf("tag %s@%s as %s: %w", repository, digest, tag, err)
	}
	return nil
}

// Untag removes repository:tag when it still points at digest; a tag a
// later run moved to another digest is left alone. Removing a tag that is
// not there is fine.
func Untag(ctx context.Context, repository, digest, tag string) error {
	opts := craneOpts(ctx, repository)
	ref := repository + ":" + tag
	got, err := crane.Digest(ref, opts...)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", ref, err)
	}
	if got != digest {
		return nil
	}
	if err := crane.Delete(ref, opts...); err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	return nil
}

// BakedBy returns the digest repository:tag points at when run baked it
// (the image index carries AnnotationRun), and "" when the tag is missing
// or another run's: a run that lost its worker after pushing finds its
// image here instead of building another.
func BakedBy(ctx context.Context, repository, tag, run string) (string, error) {
	ref := repository + ":" + tag
	raw, err := crane.Manifest(ref, craneOpts(ctx, repository)...)
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", ref, err)
	}
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("read %s: %w", ref, err)
	}
	if run == "" || m.Annotations[AnnotationRun] != run {
		return "", nil
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// Digest is what repository:tag points at now.
func Digest(ctx context.Context, repository, tag string) (string, error) {
	return crane.Digest(repository+":"+tag, craneOpts(ctx, repository)...)
}
