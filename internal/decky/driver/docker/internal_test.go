package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/services"
)

func summary(deckyName, role, service string, state container.ContainerState, extra map[string]string) container.Summary {
	labels := map[string]string{LabelFleet: "decnet", LabelHost: "local", LabelDecky: deckyName, LabelRole: role}
	if service != "" {
		labels[LabelService] = service
	}
	for k, v := range extra {
		labels[k] = v
	}
	return container.Summary{Labels: labels, State: state}
}

func TestAggregate(t *testing.T) {
	base := func(state container.ContainerState, services string) container.Summary {
		return summary("d1", RoleBase, "", state, map[string]string{LabelServices: services, LabelIP: "10.0.0.5"})
	}
	svc := func(name string, state container.ContainerState) container.Summary {
		return summary("d1", RoleService, name, state, nil)
	}
	run, exited := container.StateRunning, container.StateExited

	tests := []struct {
		name     string
		list     []container.Summary
		state    driver.State
		services map[string]driver.State
	}{
		{"all running", []container.Summary{base(run, "http,ssh"), svc("ssh", run), svc("http", run)},
			driver.StateRunning, map[string]driver.State{"ssh": driver.StateRunning, "http": driver.StateRunning}},
		{"one stopped", []container.Summary{base(run, "http,ssh"), svc("ssh", exited), svc("http", run)},
			driver.StateDegraded, map[string]driver.State{"ssh": driver.StateFailed, "http": driver.StateRunning}},
		{"one missing", []container.Summary{base(run, "http,ssh"), svc("http", run)},
			driver.StateDegraded, map[string]driver.State{"ssh": driver.StateTornDown, "http": driver.StateRunning}},
		{"none running", []container.Summary{base(run, "http,ssh"), svc("ssh", exited), svc("http", exited)},
			driver.StateFailed, map[string]driver.State{"ssh": driver.StateFailed, "http": driver.StateFailed}},
		{"base down", []container.Summary{base(exited, "ssh"), svc("ssh", run)},
			driver.StateFailed, map[string]driver.State{"ssh": driver.StateRunning}},
		{"only base left", []container.Summary{base(run, "ssh")},
			driver.StateTornDown, map[string]driver.State{"ssh": driver.StateTornDown}},
		{"base without services", []container.Summary{base(run, "")},
			driver.StateRunning, map[string]driver.State{}},
		{"service without base", []container.Summary{svc("ssh", run)},
			driver.StateFailed, map[string]driver.State{"ssh": driver.StateRunning}},
		{"unexpected service ignored", []container.Summary{base(run, "ssh"), svc("ssh", run), svc("smtp_relay", exited)},
			driver.StateRunning, map[string]driver.State{"ssh": driver.StateRunning}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := aggregate(tt.list, "decnet_lan")
			if len(got) != 1 {
				t.Fatalf("aggregate returned %d statuses, want 1: %+v", len(got), got)
			}
			if got[0].State != tt.state {
				t.Errorf("state = %s, want %s (detail %q)", got[0].State, tt.state, got[0].Detail)
			}
			if diff := cmp.Diff(got[0].Services, tt.services); diff != "" {
				t.Errorf("services (-got +want):\n%s", diff)
			}
		})
	}
}

func TestAggregateGroupsByDeckyLabel(t *testing.T) {
	list := []container.Summary{
		summary("b", RoleBase, "", container.StateRunning, map[string]string{LabelServices: "ssh", LabelIP: "10.0.0.2"}),
		summary("a", RoleBase, "", container.StateRunning, map[string]string{LabelServices: "ssh", LabelIP: "10.0.0.1"}),
		summary("a", RoleService, "ssh", container.StateRunning, nil),
		{Labels: map[string]string{LabelRole: RoleService}}, // no decky label: not ours to judge
	}
	got := aggregate(list, "decnet_lan")
	var names []string
	for _, s := range got {
		names = append(names, s.Name+"="+string(s.State)+"@"+s.IP)
	}
	want := []string{"a=running@10.0.0.1", "b=torn_down@10.0.0.2"}
	if diff := cmp.Diff(names, want); diff != "" {
		t.Errorf("aggregate (-got +want):\n%s", diff)
	}
}

func TestPermanent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{cerrdefs.ErrNotFound, true},
		{cerrdefs.ErrInvalidArgument, true},
		{cerrdefs.ErrPermissionDenied, true},
		{fmt.Errorf("name taken: %w", cerrdefs.ErrConflict), true},
		{fmt.Errorf("removal of container x is already in progress: %w", cerrdefs.ErrConflict), false},
		{cerrdefs.ErrUnavailable, false},
		{cerrdefs.ErrInternal, false},
		{errors.New("connection reset by peer"), false},
		{context.Canceled, true},
	}
	for _, tt := range tests {
		if got := permanent(tt.err); got != tt.want {
			t.Errorf("permanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRetry(t *testing.T) {
	d := &Driver{opts: Options{}.withDefaults()}
	d.opts.Retry = RetryPolicy{Attempts: 3, Delay: time.Millisecond}.withDefaults()
	d.log = d.opts.Logger

	tests := []struct {
		name  string
		errs  []error
		calls int
		fail  bool
	}{
		{"first try", []error{nil}, 1, false},
		{"transient then success", []error{cerrdefs.ErrUnavailable, nil}, 2, false},
		{"permanent stops at once", []error{cerrdefs.ErrInvalidArgument, nil}, 1, true},
		{"attempts run out", []error{cerrdefs.ErrInternal, cerrdefs.ErrInternal, cerrdefs.ErrInternal, nil}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := d.retry(context.Background(), "call", func(context.Context) error {
				e := tt.errs[calls]
				calls++
				return e
			})
			if calls != tt.calls || (err != nil) != tt.fail {
				t.Errorf("retry: calls = %d, err = %v; want calls = %d, fail = %v", calls, err, tt.calls, tt.fail)
			}
		})
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		fail     bool
	}{
		{in: "/etc/passwd", want: "/etc/passwd"},
		{in: "/home//alice/./x", want: "/home/alice/x"},
		{in: `C:\Users\jsmith\Desktop\a.txt`, want: "/C/Users/jsmith/Desktop/a.txt"},
		{in: "/../etc/shadow", fail: true},
		{in: "etc/passwd", fail: true},
		{in: "/", fail: true},
		{in: "/a\x00b", fail: true},
	}
	for _, tt := range tests {
		got, err := cleanPath(tt.in)
		if (err != nil) != tt.fail || got != tt.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, fail %v", tt.in, got, err, tt.want, tt.fail)
		}
	}
}

func TestSysctls(t *testing.T) {
	tests := []struct {
		persona decky.Persona
		ttl     string
		ecn     string
	}{
		{decky.PersonaLinux, "64", "2"},
		{decky.PersonaWindows, "128", "0"},
		{decky.PersonaWindowsServer, "128", "1"},
		{decky.PersonaBSD, "64", "0"},
		{decky.PersonaEmbedded, "255", "0"},
		{"plan9", "64", "2"},
	}
	for _, tt := range tests {
		s := Sysctls(tt.persona)
		if len(s) != 10 || s["net.ipv4.ip_default_ttl"] != tt.ttl || s["net.ipv4.tcp_ecn"] != tt.ecn {
			t.Errorf("Sysctls(%s) = %v, want ttl %s ecn %s", tt.persona, s, tt.ttl, tt.ecn)
		}
	}
}

func TestScanLines(t *testing.T) {
	long := strings.Repeat("x", maxLineBytes+10)
	in := "2024-01-02T03:04:05.000000001Z {\"kind\":\"connect\"}\n" +
		"2024-01-02T03:04:06Z " + long + "\n" +
		"no timestamp here\n" +
		"2024-01-02T03:04:07Z last"
	var lines []string
	d := &Driver{}
	last := d.scanLines(strings.NewReader(in), func(b []byte) { lines = append(lines, string(b)) })

	want := []string{`{"kind":"connect"}`, "no timestamp here", "last"}
	if diff := cmp.Diff(lines, want); diff != "" {
		t.Errorf("scanLines lines (-got +want):\n%s", diff)
	}
	if wantTS := time.Date(2024, 1, 2, 3, 4, 7, 0, time.UTC); !last.Equal(wantTS) {
		t.Errorf("scanLines last = %v, want %v", last, wantTS)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"decky-01", "web.01", "A_b"} {
		if err := validName(ok); err != nil {
			t.Errorf("validName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", strings.Repeat("a", 65), "é"} {
		if err := validName(bad); err == nil {
			t.Errorf("validName(%q) = nil, want an error", bad)
		}
	}
}

// FuzzScanLines feeds container log output, which carries attacker-chosen
// text inside event fields, through the line splitter and event decoder.
func FuzzScanLines(f *testing.F) {
	f.Add([]byte("2024-01-02T03:04:05Z {\"kind\":\"command\",\"fields\":{\"command\":\"id\"}}\n"))
	f.Add([]byte("garbage\r\n\n\n2024-01-02T03:04:05Z \n"))
	f.Add([]byte("2024-01-02T03:04:05Z {\"decky\":\"other\",\"service\":\"x\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []services.Event
		d := &Driver{log: slog.New(slog.DiscardHandler), opts: Options{Sink: services.SinkFunc(func(e services.Event) { got = append(got, e) })}}
		d.scanLines(bytes.NewReader(data), func(line []byte) {
			if len(line) > maxLineBytes {
				t.Fatalf("line of %d bytes passed the cap", len(line))
			}
			d.handleEvent(line, "d1", "ssh")
		})
		for _, e := range got {
			if e.Decky != "d1" || e.Service != "ssh" {
				t.Fatalf("event kept decky %q service %q from the line", e.Decky, e.Service)
			}
		}
	})
}
