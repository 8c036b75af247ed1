package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/decky/rootfs"
)

// MaxReadBytes caps ReadFile.
const MaxReadBytes = 64 << 20

// cleanPath maps a path inside the decky (Linux style, or C:/... for a
// Windows persona) to its clean absolute path below DeckyRoot, the way
// rootfs.HostPath lays the decky's files out. The root itself is refused:
// it is not a file.
func cleanPath(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q holds a NUL byte", p)
	}
	rel, err := rootfs.HostPath(p)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return "", fmt.Errorf("path %q names the root", p)
	}
	return "/" + rel, nil
}

// baseContainer returns the id of the decky's base container.
func (d *Driver) baseContainer(ctx context.Context, name string) (string, error) {
	list, err := d.deckyContainers(ctx, name)
	if err != nil {
		return "", err
	}
	for _, c := range list {
		if c.Labels[LabelRole] == RoleBase {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("decky %s: %w", name, driver.ErrNotFound)
}

// WriteFile implements driver.Driver. The file goes in through the archive
// API as one tar entry that carries its mode, owner and mtime; missing
// parent directories are created with mode 0755 and owner root.
func (d *Driver) WriteFile(ctx context.Context, name string, f driver.File) error {
	p, err := cleanPath(f.Path)
	if err != nil {
		return fmt.Errorf("docker driver: write file in %s: %w", name, err)
	}
	id, err := d.baseContainer(ctx, name)
	if err != nil {
		return fmt.Errorf("docker driver: write %s in %s: %w", p, name, err)
	}

	// Find the deepest directory that exists, so existing directories keep
	// their own mode and owner.
	dir := path.Dir(p)
	anchor := dir
	for anchor != "/" {
		_, err := d.cli.ContainerStatPath(ctx, id, DeckyRoot+anchor)
		if err == nil {
			break
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("docker driver: write %s in %s: stat %s: %w", p, name, anchor, engineErr(err))
		}
		anchor = path.Dir(anchor)
	}

	mtime := f.ModTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rel := strings.TrimPrefix(strings.TrimPrefix(p, anchor), "/")
	parts := strings.Split(rel, "/")
	for i := range parts[:len(parts)-1] {
		hdr := &tar.Header{
			Name: strings.Join(parts[:i+1], "/") + "/", Typeflag: tar.TypeDir,
			Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("docker driver: write %s in %s: %w", p, name, err)
		}
	}
	hdr := &tar.Header{
		Name: rel, Typeflag: tar.TypeReg, Size: int64(len(f.Data)),
		Mode: int64(f.Mode.Perm()), Uid: f.UID, Gid: f.GID, ModTime: mtime, Format: tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("docker driver: write %s in %s: %w", p, name, err)
	}
	if _, err := tw.Write(f.Data); err != nil {
		return fmt.Errorf("docker driver: write %s in %s: %w", p, name, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("docker driver: write %s in %s: %w", p, name, err)
	}

	dst := DeckyRoot + anchor
	if anchor == "/" {
		dst = DeckyRoot
	}
	err = d.retry(ctx, "copy "+p+" into "+name, func(ctx context.Context) error {
		return d.cli.CopyToContainer(ctx, id, dst, bytes.NewReader(buf.Bytes()), container.CopyToContainerOptions{CopyUIDGID: true})
	})
	if err != nil {
		return fmt.Errorf("docker driver: %w", err)
	}
	return nil
}

// ReadFile implements driver.Driver. It reads through the archive API and
// returns driver.ErrNotFound for a missing file.
func (d *Driver) ReadFile(ctx context.Context, name, p string) ([]byte, error) {
	p, err := cleanPath(p)
	if err != nil {
		return nil, fmt.Errorf("docker driver: read file in %s: %w", name, err)
	}
	id, err := d.baseContainer(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("docker driver: read %s in %s: %w", p, name, err)
	}

	rc, _, err := d.cli.CopyFromContainer(ctx, id, DeckyRoot+p)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("docker driver: read %s in %s: %w", p, name, driver.ErrNotFound)
		}
		return nil, fmt.Errorf("docker driver: read %s in %s: %w", p, name, engineErr(err))
	}
	defer rc.Close()

	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("docker driver: read %s in %s: %w", p, name, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("docker driver: read %s in %s: not a regular file", p, name)
	}
	if hdr.Size > MaxReadBytes {
		return nil, fmt.Errorf("docker driver: read %s in %s: %d bytes is over the %d byte cap", p, name, hdr.Size, MaxReadBytes)
	}
	data, err := io.ReadAll(io.LimitReader(tr, MaxReadBytes))
	if err != nil {
		return nil, fmt.Errorf("docker driver: read %s in %s: %w", p, name, err)
	}
	return data, nil
}

// RemoveFile implements driver.Driver. The archive API cannot delete, so
// the base container runs busybox rm with the path as one argument; no
// shell parses it.
func (d *Driver) RemoveFile(ctx context.Context, name, p string) error {
	p, err := cleanPath(p)
	if err != nil {
		return fmt.Errorf("docker driver: remove file in %s: %w", name, err)
	}
	id, err := d.baseContainer(ctx, name)
	if err != nil {
		return fmt.Errorf("docker driver: remove %s in %s: %w", p, name, err)
	}

	st, err := d.cli.ContainerStatPath(ctx, id, DeckyRoot+p)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("docker driver: remove %s in %s: %w", p, name, driver.ErrNotFound)
		}
		return fmt.Errorf("docker driver: remove %s in %s: %w", p, name, engineErr(err))
	}
	if st.Mode.IsDir() {
		return fmt.Errorf("docker driver: remove %s in %s: is a directory", p, name)
	}

	out, code, err := d.exec(ctx, id, []string{"/bin/busybox", "rm", "-f", "--", DeckyRoot + p})
	if err != nil {
		return fmt.Errorf("docker driver: remove %s in %s: %w", p, name, err)
	}
	if code != 0 {
		return fmt.Errorf("docker driver: remove %s in %s: rm exited %d: %s", p, name, code, strings.TrimSpace(out))
	}
	return nil
}

// exec runs argv in a container and returns its combined output, capped,
// and its exit code.
func (d *Driver) exec(ctx context.Context, id string, argv []string) (string, int, error) {
	created, err := d.cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", 0, fmt.Errorf("exec: %w", engineErr(err))
	}
	att, err := d.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", 0, fmt.Errorf("exec: %w", engineErr(err))
	}
	defer att.Close()

	var out capped
	out.max = 4096
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil && !errors.Is(err, io.EOF) {
		return "", 0, fmt.Errorf("exec: %w", err)
	}

	for {
		ins, err := d.cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return "", 0, fmt.Errorf("exec: %w", engineErr(err))
		}
		if !ins.Running {
			return out.String(), ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return "", 0, fmt.Errorf("exec: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// capped is a buffer that keeps only its first max bytes.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// seed writes the decky's generated filesystem into its fresh volume in one
// archive, so every entry keeps its mode, owner and mtime.
func (d *Driver) seed(ctx context.Context, dk decky.Decky, baseID string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range rootfs.Files(dk, time.Now()) {
		rel, err := rootfs.HostPath(f.Path)
		if err != nil {
			return fmt.Errorf("docker driver: seed %s: %w", dk.Name, err)
		}
		if rel == "." || rel == "" {
			continue
		}
		hdr := &tar.Header{
			Name: rel, Mode: int64(f.Mode.Perm()), Uid: f.UID, Gid: f.GID,
			ModTime: f.ModTime, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(f.Data)),
		}
		if f.Mode.IsDir() {
			hdr.Name += "/"
			hdr.Typeflag = tar.TypeDir
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("docker driver: seed %s: %s: %w", dk.Name, f.Path, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return fmt.Errorf("docker driver: seed %s: %s: %w", dk.Name, f.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("docker driver: seed %s: %w", dk.Name, err)
	}

	err := d.retry(ctx, "seed filesystem of "+dk.Name, func(ctx context.Context) error {
		return d.cli.CopyToContainer(ctx, baseID, DeckyRoot, bytes.NewReader(buf.Bytes()), container.CopyToContainerOptions{CopyUIDGID: true})
	})
	if err != nil {
		return fmt.Errorf("docker driver: %w", err)
	}
	return nil
}
