package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// LayoutTag is the name the image index carries in an OCI layout's
// index.json (org.opencontainers.image.ref.name). It is the layout's only
// entry, so skopeo reads the layout by its directory alone (oci:DIR, and
// oci:DIR:latest) and umoci by DIR:latest. umoci (0.4) cannot pick a
// platform out of an index: a layout of one platform (--platform) is what
// it unpacks.
const LayoutTag = "latest"

// WriteLayout writes idx as an OCI image layout at dir. The layout is built
// beside dir and renamed into place, so dir never holds half an image. An
// existing dir is replaced only if it is empty or an OCI layout itself.
func WriteLayout(dir string, idx v1.ImageIndex) error {
	dir = filepath.Clean(dir)
	if err := replaceable(dir); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := writeLayout(tmp, idx); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

func writeLayout(dir string, idx v1.ImageIndex) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refName: LayoutTag}))
}

const refName = "org.opencontainers.image.ref.name"

// replaceable refuses to overwrite anything but nothing, an empty directory
// or an earlier OCI layout.
func replaceable(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err == nil {
		return nil
	}
	return fmt.Errorf("%s exists and is not an OCI image layout; refusing to replace it", dir)
}

// Push pushes idx to the registry as ref (a tag, or a digest it must match)
// and returns the reference pinned by digest, ref@sha256:..., which is what
// spec.runner.image should name.
func Push(ctx context.Context, ref string, idx v1.ImageIndex, opts ...remote.Option) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	opts = append(opts, remote.WithContext(ctx))
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		return "", fmt.Errorf("push %s: %w", r.Name(), err)
	}
	if _, ok := r.(name.Digest); ok {
		return r.Name(), nil
	}
	return r.Name() + "@" + d.String(), nil
}
