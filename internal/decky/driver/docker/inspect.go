package docker

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/decnet/decnet/internal/decky/driver"
)

// Inspect implements driver.Driver. It reports every decky of this fleet
// and host, found by label, with each expected service's state. The error
// wraps driver.ErrUnreachable when the engine cannot be asked.
func (d *Driver) Inspect(ctx context.Context) ([]driver.Status, error) {
	f := filters.NewArgs(
		filters.Arg("label", LabelFleet+"="+d.opts.Fleet),
		filters.Arg("label", LabelHost+"="+d.opts.HostID),
	)
	var list []container.Summary
	err := d.retry(ctx, "list containers", func(ctx context.Context) error {
		var err error
		list, err = d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("docker driver: inspect: %w", err)
	}
	return aggregate(list, d.opts.Network.Name), nil
}

// aggregate folds the containers of a fleet into one status per decky.
//
// The expected services are the ones recorded on the base container. A
// decky whose expected containers are all missing is torn down; all
// running is running; none running (or the base down) is failed; anything
// between is degraded. Containers of services the decky does not expect
// are reported in Detail and otherwise ignored.
func aggregate(list []container.Summary, netName string) []driver.Status {
	type group struct {
		base     *container.Summary
		services map[string]container.Summary
	}
	groups := map[string]*group{}
	for i := range list {
		c := list[i]
		name := c.Labels[LabelDecky]
		if name == "" {
			continue
		}
		g := groups[name]
		if g == nil {
			g = &group{services: map[string]container.Summary{}}
			groups[name] = g
		}
		switch c.Labels[LabelRole] {
		case RoleBase:
			g.base = &c
		case RoleService:
			g.services[c.Labels[LabelService]] = c
		}
	}

	out := make([]driver.Status, 0, len(groups))
	for name, g := range groups {
		st := driver.Status{Name: name, Services: map[string]driver.State{}}

		var expected []string
		if g.base != nil {
			st.IP = g.base.Labels[LabelIP]
			if g.base.NetworkSettings != nil {
				if ep := g.base.NetworkSettings.Networks[netName]; ep != nil && ep.IPAddress != "" {
					st.IP = ep.IPAddress
				}
			}
			if s := g.base.Labels[LabelServices]; s != "" {
				expected = strings.Split(s, ",")
			}
		} else {
			for svc := range g.services {
				expected = append(expected, svc)
			}
			sort.Strings(expected)
		}

		seen, running := 0, 0
		for _, svc := range expected {
			c, ok := g.services[svc]
			switch {
			case !ok:
				st.Services[svc] = driver.StateTornDown
			case c.State == container.StateRunning:
				st.Services[svc] = driver.StateRunning
				seen++
				running++
			default:
				st.Services[svc] = driver.StateFailed
				seen++
			}
		}
		var extra []string
		for svc := range g.services {
			if _, ok := st.Services[svc]; !ok {
				extra = append(extra, svc)
			}
		}
		sort.Strings(extra)

		baseUp := g.base != nil && g.base.State == container.StateRunning
		switch {
		case g.base == nil && seen == 0:
			st.State = driver.StateTornDown
		case len(expected) == 0 && baseUp:
			st.State = driver.StateRunning
		case len(expected) > 0 && seen == 0:
			st.State = driver.StateTornDown
		case !baseUp || running == 0:
			st.State = driver.StateFailed
		case running == len(expected):
			st.State = driver.StateRunning
		default:
			st.State = driver.StateDegraded
		}

		var detail []string
		if g.base == nil {
			detail = append(detail, "base container missing")
		} else if !baseUp {
			detail = append(detail, "base container "+string(g.base.State))
		}
		for _, svc := range expected {
			if st.Services[svc] != driver.StateRunning {
				detail = append(detail, svc+" "+string(st.Services[svc]))
			}
		}
		if len(extra) > 0 {
			detail = append(detail, "unexpected services "+strings.Join(extra, ","))
		}
		st.Detail = strings.Join(detail, "; ")
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
