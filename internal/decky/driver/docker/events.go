package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/decnet/decnet/internal/services"
)

// maxLineBytes caps one log line. Longer lines are dropped whole: an event
// line that long was not written by an emulator.
const maxLineBytes = 256 << 10

// Attach starts following the logs of every service container of this
// fleet and host that is not followed yet. It reads only lines written from
// now on; call it once when a process takes over running deckies.
func (d *Driver) Attach(ctx context.Context) error {
	f := filters.NewArgs(
		filters.Arg("label", LabelFleet+"="+d.opts.Fleet),
		filters.Arg("label", LabelHost+"="+d.opts.HostID),
		filters.Arg("label", LabelRole+"="+RoleService),
	)
	var list []container.Summary
	err := d.retry(ctx, "list service containers", func(ctx context.Context) error {
		var err error
		list, err = d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		return err
	})
	if err != nil {
		return fmt.Errorf("docker driver: attach: %w", err)
	}
	for _, c := range list {
		d.follow(c.ID, c.Labels[LabelDecky], c.Labels[LabelService], false)
	}
	return nil
}

// follow starts a goroutine that reads the container's log stream until
// the container is removed, unfollow is called or the driver closes. With
// fromStart it reads the whole log, else only lines written from now on.
func (d *Driver) follow(id, deckyName, service string, fromStart bool) {
	d.followMu.Lock()
	defer d.followMu.Unlock()

	if d.closed {
		return
	}
	if _, ok := d.followers[id]; ok {
		return
	}
	ctx, cancel := context.WithCancel(d.rootCtx)
	d.followers[id] = cancel

	since := time.Time{}
	if !fromStart {
		since = time.Now()
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			d.followMu.Lock()
			delete(d.followers, id)
			d.followMu.Unlock()
			cancel()
		}()
		d.followLoop(ctx, id, deckyName, service, since)
	}()
}

func (d *Driver) unfollow(id string) {
	d.followMu.Lock()
	cancel, ok := d.followers[id]
	d.followMu.Unlock()
	if ok {
		cancel()
	}
}

// followLoop reopens the log stream whenever it ends (the container
// stopped, the engine restarted) and resumes after the last line read.
func (d *Driver) followLoop(ctx context.Context, id, deckyName, service string, since time.Time) {
	log := d.log.With("decky", deckyName, "service", service, "container", shortID(id))
	backoff := 250 * time.Millisecond

	for ctx.Err() == nil {
		last, err := d.readLogs(ctx, id, deckyName, service, since)
		if !last.IsZero() {
			since = last
			backoff = 250 * time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && cerrdefs.IsNotFound(err) {
			log.Debug("container gone, log follower stops")
			return
		}
		if err != nil {
			log.Debug("log stream ended", "err", err)
		}

		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// readLogs reads one log stream to its end and returns the timestamp of the
// last line it read.
func (d *Driver) readLogs(ctx context.Context, id, deckyName, service string, since time.Time) (time.Time, error) {
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if !since.IsZero() {
		next := since.Add(time.Nanosecond)
		opts.Since = strconv.FormatInt(next.Unix(), 10) + "." + fmt.Sprintf("%09d", next.Nanosecond())
	}
	rc, err := d.cli.ContainerLogs(ctx, id, opts)
	if err != nil {
		return time.Time{}, err
	}
	defer rc.Close()

	stdoutR, stdoutW := io.Pipe()
	stderrR, stderrW := io.Pipe()
	done := make(chan time.Time, 2)
	go func() {
		done <- d.scanLines(stdoutR, func(line []byte) { d.handleEvent(line, deckyName, service) })
	}()
	go func() {
		done <- d.scanLines(stderrR, func(line []byte) {
			d.log.Debug("service output", "decky", deckyName, "service", service, "line", string(line))
		})
	}()

	_, err = stdcopy.StdCopy(stdoutW, stderrW, rc)
	stdoutW.Close()
	stderrW.Close()
	a, b := <-done, <-done
	if b.After(a) {
		a = b
	}
	return a, err
}

// scanLines splits timestamped log lines, hands each line without its
// timestamp to fn, and returns the last timestamp seen.
func (d *Driver) scanLines(r io.Reader, fn func([]byte)) time.Time {
	var last time.Time
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if len(line)+len(chunk) > maxLineBytes {
				tooLong = true
				line = line[:0]
			} else if !tooLong {
				line = append(line, chunk...)
			}
			continue
		case err != nil && len(chunk) == 0:
			_, _ = io.Copy(io.Discard, r)
			return last
		}
		if len(line)+len(chunk) > maxLineBytes {
			tooLong = true
		}
		if !tooLong {
			line = append(line, chunk...)
			ts, rest := splitTimestamp(bytes.TrimRight(line, "\r\n"))
			if !ts.IsZero() {
				last = ts
			}
			if len(rest) > 0 {
				fn(rest)
			}
		}
		line = line[:0]
		tooLong = false
		if err != nil {
			_, _ = io.Copy(io.Discard, r)
			return last
		}
	}
}

func splitTimestamp(line []byte) (time.Time, []byte) {
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		return time.Time{}, line
	}
	ts, err := time.Parse(time.RFC3339Nano, string(line[:i]))
	if err != nil {
		return time.Time{}, line
	}
	return ts, line[i+1:]
}

// handleEvent decodes one stdout line as a services.Event. The decky and
// service come from the container's labels, never from the line, so a
// container cannot speak for another decky.
func (d *Driver) handleEvent(line []byte, deckyName, service string) {
	if d.opts.Sink == nil || len(line) == 0 || line[0] != '{' {
		return
	}
	var e services.Event
	if err := json.Unmarshal(line, &e); err != nil {
		d.log.Debug("undecodable service event", "decky", deckyName, "service", service, "err", err)
		return
	}
	e.Decky = deckyName
	e.Service = service
	d.opts.Sink.Emit(e)
}
