package docker

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
)

// BuildConfig names the files the decky image is built from.
type BuildConfig struct {
	// Binary is a statically linked decnet executable. Default: the running
	// executable.
	Binary string
	// Busybox is a statically linked busybox, as Debian's busybox-static
	// installs it. Default /bin/busybox.
	Busybox string
	// Repository is the image name without tag. Default "decnet/decky".
	Repository string
}

func (b BuildConfig) withDefaults() (BuildConfig, error) {
	if b.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return b, fmt.Errorf("find the decnet executable: %w", err)
		}
		b.Binary = exe
	}
	if b.Busybox == "" {
		b.Busybox = "/bin/busybox"
	}
	if b.Repository == "" {
		b.Repository = "decnet/decky"
	}
	return b, nil
}

// dockerfile is the whole recipe: the image is the rootfs directory of the
// build context and nothing else, so the build needs no base image and no
// RUN step.
const dockerfile = `FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/usr/bin/decnet", "decky", "serve"]
`

// Image describes a built or found decky image.
type Image struct {
	Ref   string // repository:tag
	Hash  string // sha256 over the Dockerfile, binary and busybox
	Built bool   // true when this call built it
}

// ImageRef returns the image reference deploys use, building the image when
// the engine lacks it. An Options.Image set by the caller is used as is.
func (d *Driver) ImageRef(ctx context.Context) (string, error) {
	img, err := d.ensureImage(ctx, false)
	if err != nil {
		return "", err
	}
	return img.Ref, nil
}

// BuildImage builds the decky image. With force it builds even when an
// image of the same content exists.
func (d *Driver) BuildImage(ctx context.Context, force bool) (Image, error) {
	return d.ensureImage(ctx, force)
}

func (d *Driver) ensureImage(ctx context.Context, force bool) (Image, error) {
	d.imageMu.Lock()
	defer d.imageMu.Unlock()

	if d.opts.Image != "" {
		return Image{Ref: d.opts.Image}, nil
	}
	if d.image != "" && !force {
		return Image{Ref: d.image}, nil
	}

	cfg, err := d.opts.Build.withDefaults()
	if err != nil {
		return Image{}, fmt.Errorf("docker driver: image: %w", err)
	}
	for _, p := range []string{cfg.Binary, cfg.Busybox} {
		if err := requireStatic(p); err != nil {
			return Image{}, fmt.Errorf("docker driver: image: %w", err)
		}
	}
	sum, err := contentHash(cfg)
	if err != nil {
		return Image{}, fmt.Errorf("docker driver: image: %w", err)
	}
	img := Image{Ref: cfg.Repository + ":" + sum[:16], Hash: sum}

	if !force {
		_, err := d.cli.ImageInspect(ctx, img.Ref)
		if err == nil {
			d.image = img.Ref
			return img, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return Image{}, fmt.Errorf("docker driver: inspect image %s: %w", img.Ref, engineErr(err))
		}
	}

	if err := d.build(ctx, cfg, img); err != nil {
		return Image{}, err
	}
	img.Built = true
	d.image = img.Ref
	return img, nil
}

func (d *Driver) build(ctx context.Context, cfg BuildConfig, img Image) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeBuildContext(pw, cfg))
	}()
	defer pr.Close()

	labels := d.baseLabels()
	labels[LabelImageHash] = img.Hash
	resp, err := d.cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{img.Ref},
		Version:     build.BuilderV1,
		Remove:      true,
		ForceRemove: true,
		NetworkMode: "none",
		Labels:      labels,
	})
	if err != nil {
		return fmt.Errorf("docker driver: build image %s: %w", img.Ref, engineErr(err))
	}
	defer resp.Body.Close()

	if err := readBuildOutput(resp.Body, func(line string) {
		d.log.Debug("image build", "image", img.Ref, "output", line)
	}); err != nil {
		return fmt.Errorf("docker driver: build image %s: %w", img.Ref, err)
	}
	d.log.Info("built decky image", "image", img.Ref)
	return nil
}

// readBuildOutput reads the engine's JSON message stream of a build and
// returns the first error it reports.
func readBuildOutput(r io.Reader, logLine func(string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			continue
		}
		if msg.ErrorDetail != nil && msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
		if s := strings.TrimSpace(msg.Stream); s != "" {
			logLine(s)
		}
	}
	return sc.Err()
}

// requireStatic refuses a dynamically linked executable: a FROM scratch
// image has no loader and no libc.
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()

	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; a decky image needs a static build (CGO_ENABLED=0, busybox-static)", path)
		}
	}
	return nil
}

func contentHash(cfg BuildConfig) (string, error) {
	h := sha256.New()
	io.WriteString(h, dockerfile)
	for _, p := range []string{cfg.Binary, cfg.Busybox} {
		f, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", p, err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", p, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeBuildContext writes the tar the engine builds from: the Dockerfile
// and a rootfs holding decnet, busybox, /bin/sh, /tmp and the mount point
// of the decky filesystem.
func writeBuildContext(w io.Writer, cfg BuildConfig) error {
	tw := tar.NewWriter(w)
	mtime := time.Unix(0, 0)

	entries := []struct {
		name string
		mode int64
		kind byte
		link string
		data string
		file string
	}{
		{name: "Dockerfile", mode: 0o644, kind: tar.TypeReg, data: dockerfile},
		{name: "rootfs/", mode: 0o755, kind: tar.TypeDir},
		{name: "rootfs/bin/", mode: 0o755, kind: tar.TypeDir},
		{name: "rootfs/bin/busybox", mode: 0o755, kind: tar.TypeReg, file: cfg.Busybox},
		{name: "rootfs/bin/sh", mode: 0o777, kind: tar.TypeSymlink, link: "busybox"},
		{name: "rootfs/usr/", mode: 0o755, kind: tar.TypeDir},
		{name: "rootfs/usr/bin/", mode: 0o755, kind: tar.TypeDir},
		{name: "rootfs/usr/bin/decnet", mode: 0o755, kind: tar.TypeReg, file: cfg.Binary},
		{name: "rootfs/tmp/", mode: 0o1777, kind: tar.TypeDir},
		{name: "rootfs/srv/", mode: 0o755, kind: tar.TypeDir},
		{name: "rootfs/srv/decky/", mode: 0o755, kind: tar.TypeDir},
		{name: "rootfs/etc/", mode: 0o755, kind: tar.TypeDir},
		{name: "rootfs/etc/passwd", mode: 0o644, kind: tar.TypeReg, data: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{name: "rootfs/etc/group", mode: 0o644, kind: tar.TypeReg, data: "root:x:0:\nnogroup:x:65534:\n"},
	}
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.kind, Linkname: e.link, ModTime: mtime, Format: tar.FormatPAX}
		var body io.Reader
		switch {
		case e.file != "":
			f, err := os.Open(e.file)
			if err != nil {
				return fmt.Errorf("build context: %w", err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("build context: %w", err)
			}
			hdr.Size = st.Size()
			body = f
		case e.kind == tar.TypeReg:
			hdr.Size = int64(len(e.data))
			body = strings.NewReader(e.data)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("build context: %s: %w", e.name, err)
		}
		if body != nil {
			if _, err := io.Copy(tw, body); err != nil {
				return fmt.Errorf("build context: %s: %w", e.name, err)
			}
		}
	}
	return tw.Close()
}
