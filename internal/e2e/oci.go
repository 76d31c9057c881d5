package e2e

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"time"
)

// The node has no registry to pull from, so every image is written here
// as an OCI image layout in a tar archive with one uncompressed layer, and
// imported with ctr. Uncompressed, because the broker's 280 MB root would
// cost more to gzip on every cold build than it saves on a local import.

const (
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// imageConfig is the part of an OCI image config a pod sees.
type imageConfig struct {
	User         string              `json:"User,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
}

// layerWriter is a tar stream written to a file while its digest is
// computed; for an uncompressed layer the digest is also the diff ID.
type layerWriter struct {
	*tar.Writer
	f    *os.File
	sum  hash.Hash
	size int64
}

func (l *layerWriter) Write(p []byte) (int, error) {
	n, err := l.f.Write(p)
	l.sum.Write(p[:n])
	l.size += int64(n)
	return n, err
}

func newLayer(name string) (*layerWriter, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	l := &layerWriter{f: f, sum: sha256.New()}
	l.Writer = tar.NewWriter(l)
	return l, nil
}

// close finishes the tar stream and returns the layer's descriptor.
func (l *layerWriter) close() (descriptor, error) {
	err := l.Writer.Close()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return descriptor{}, fmt.Errorf("write layer %s: %w", l.f.Name(), err)
	}
	return descriptor{MediaType: mediaLayer, Digest: "sha256:" + hex.EncodeToString(l.sum.Sum(nil)), Size: l.size}, nil
}

// epoch is every file's time: the small images are then identical from
// run to run.
var epoch = time.Unix(0, 0)

func (l *layerWriter) dir(name string, mode int64) error {
	return l.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimSuffix(name, "/") + "/", Mode: mode, ModTime: epoch})
}

func (l *layerWriter) file(name string, mode int64, content []byte) error {
	if err := l.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(content)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := l.Writer.Write(content)
	return err
}

func (l *layerWriter) symlink(name, target string) error {
	return l.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch})
}

// copyFile adds the file at src as name.
func (l *layerWriter) copyFile(name string, mode int64, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := l.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: fi.Size(), ModTime: epoch}); err != nil {
		return err
	}
	_, err = io.Copy(l.Writer, f)
	return err
}

// writeArchive writes the OCI layout of a one-layer image named ref to
// out: the layer file, its config and manifest, and an index whose
// io.containerd.image.name annotation is the name ctr imports it under.
func writeArchive(out, ref, layerPath string, layer descriptor, cfg imageConfig) error {
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      epoch.UTC().Format(time.RFC3339),
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layer.Digest}},
	})
	if err != nil {
		return err
	}
	configDesc := blobDescriptor(mediaConfig, config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        configDesc,
		"layers":        []descriptor{layer},
	})
	if err != nil {
		return err
	}
	manifestDesc := blobDescriptor(mediaManifest, manifest)
	manifestDesc.Platform = &platform{Architecture: runtime.GOARCH, OS: "linux"}
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": ref[strings.LastIndex(ref, ":")+1:],
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifestDesc},
	})
	if err != nil {
		return err
	}

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	small := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{blobPath(configDesc.Digest), config},
		{blobPath(manifestDesc.Digest), manifest},
		{"index.json", index},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	lf, err := os.Open(layerPath)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: blobPath(layer.Digest), Mode: 0o644, Size: layer.Size, ModTime: epoch}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, lf); err != nil {
		return fmt.Errorf("copy layer into %s: %w", out, err)
	}
	for _, s := range small {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: s.name, Mode: 0o644, Size: int64(len(s.data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(s.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func blobDescriptor(mediaType string, b []byte) descriptor {
	sum := sha256.Sum256(b)
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(b))}
}

func blobPath(digest string) string {
	return path.Join("blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}
