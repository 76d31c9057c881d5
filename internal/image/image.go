// Package image builds the jobwq runner image, the image the seeding Job runs
// and the worker pods' init container copies jobwq from, without Docker and
// without a base image.
//
// Each image is one layer: the static jobwq binary at /jobwq plus the few
// files a distroless image has (/etc/passwd and /etc/group naming the
// non-root user 10001, /etc/nsswitch.conf, /home/nonroot, a sticky /tmp). It
// runs as 10001:10001 with /jobwq as its entrypoint. One image per platform
// is gathered in an OCI image index, written as an OCI image layout or
// pushed to a registry.
//
// Everything in the image is derived from the binaries: timestamps are the
// commit time recorded in the binary (or the Unix epoch), so the same
// binaries always give the same digest.
package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the image runs as. Numeric, so that Kubernetes can verify
// runAsNonRoot without an /etc/passwd lookup; it matches the manifests'
// securityContext.
const (
	UID  = 10001
	GID  = 10001
	User = "10001:10001"
)

// Entrypoint is where the binary lives in the image and what it runs.
const Entrypoint = "/jobwq"

// Files a distroless static image carries, so that tools resolving the user
// or looking up hosts behave as they would there.
var (
	etcPasswd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		fmt.Sprintf("nonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID)
	etcGroup = "root:x:0:\n" + fmt.Sprintf("nonroot:x:%d:\n", GID)
	// Without it Go's resolver asks DNS before /etc/hosts, where
	// Kubernetes writes hostAliases.
	etcNsswitch = "hosts: files dns\n"
)

// Build returns an OCI image index with one image per binary, ordered by
// platform. Two binaries for the same platform are an error.
func Build(bins []Binary) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, errors.New("no binaries to build an image from")
	}
	bins = slices.Clone(bins)
	slices.SortFunc(bins, func(a, b Binary) int { return strings.Compare(a.Platform.String(), b.Platform.String()) })
	for i := 1; i < len(bins); i++ {
		if bins[i].Platform.String() == bins[i-1].Platform.String() {
			return nil, fmt.Errorf("two binaries for %s: %s and %s", bins[i].Platform, bins[i-1].Path, bins[i].Path)
		}
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range bins {
		img, err := buildImage(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Path, err)
		}
		p := b.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx, nil
}

// buildImage returns the single-platform image for one binary.
func buildImage(b Binary) (v1.Image, error) {
	created := b.Created.UTC().Truncate(time.Second)
	if b.Created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	fi, err := os.Stat(b.Path)
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	layer, err := tarball.LayerFromOpener(
		layerOpener(b.Path, size, created),
		tarball.WithMediaType(types.OCILayer),
		// The layer is read for its digest, then again to push or write
		// it: compress it once.
		tarball.WithCompressedCaching,
	)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}

	labels := map[string]string{
		"org.opencontainers.image.title":       "jobwq",
		"org.opencontainers.image.description": "jobwq runner: the work-queue seeder and worker (jobwq seed, jobwq work, jobwq install)",
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	if b.Module != "" {
		// The Go module path is where the source lives (github.com/...).
		labels["org.opencontainers.image.source"] = "https://" + b.Module
	}
	if b.Revision != "" {
		labels["org.opencontainers.image.revision"] = b.Revision
	}
	if b.Version != "" {
		labels["org.opencontainers.image.version"] = b.Version
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: b.Platform.Architecture,
		OS:           b.Platform.OS,
		Variant:      b.Platform.Variant,
		Created:      v1.Time{Time: created},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{Entrypoint},
			User:       User,
			WorkingDir: "/",
			Labels:     labels,
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "jobwq image",
			Comment:   "static jobwq binary at " + Entrypoint + ", user " + User,
		},
	})
}

// layerOpener streams the layer's tar, reading the binary afresh each time
// it is opened rather than holding tens of megabytes per platform in memory.
func layerOpener(path string, size int64, mtime time.Time) tarball.Opener {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		pr, pw := io.Pipe()
		go func() {
			defer f.Close()
			if err := writeLayer(pw, f, size, mtime); err != nil {
				pw.CloseWithError(fmt.Errorf("%s: %w", path, err))
				return
			}
			pw.Close()
		}()
		return pr, nil
	}
}

// writeLayer writes the image's file system as a tar stream: fixed names,
// order, modes, owners and times, so the bytes depend only on the binary.
func writeLayer(w io.Writer, bin io.Reader, size int64, mtime time.Time) error {
	tw := tar.NewWriter(w)
	dir := func(name string, mode int64, id int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode,
			Uid: id, Gid: id, ModTime: mtime, Format: tar.FormatUSTAR})
	}
	file := func(name string, mode int64, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode,
			Size: size, ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes, want %d (did it change while the image was built?)", n, size)
		}
		return err
	}
	text := func(name, s string) error {
		return file(name, 0o644, int64(len(s)), strings.NewReader(s))
	}
	steps := []func() error{
		func() error { return dir("etc/", 0o755, 0) },
		func() error { return text("etc/group", etcGroup) },
		func() error { return text("etc/nsswitch.conf", etcNsswitch) },
		func() error { return text("etc/passwd", etcPasswd) },
		func() error { return dir("home/", 0o755, 0) },
		func() error { return dir("home/nonroot/", 0o700, UID) },
		// Owned by root: the user the image runs as cannot replace it.
		func() error { return file(strings.TrimPrefix(Entrypoint, "/"), 0o755, size, bin) },
		func() error { return dir("tmp/", 0o1777, 0) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return tw.Close()
}
