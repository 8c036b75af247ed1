package synth

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/decnet/decnet/internal/cluster/ukc"
)

// campaign decodes wrapper[key], a campaign block, at path.
func (d *decoder) campaign(wrapper *fields, path string) (Campaign, error) {
	n := wrapper.value["campaign"]
	f, err := d.mapping(n, path, "id", "actors", "phases", "duration_days", "pause_windows")
	if err != nil {
		return Campaign{}, err
	}
	for _, key := range []string{"id", "actors", "phases"} {
		if !f.has(key) {
			return Campaign{}, d.fail(f.node, path, "campaign missing required key: %s", key)
		}
	}

	c := Campaign{Doc: d.doc}
	if c.ID, err = d.str(f, "id"); err != nil {
		return Campaign{}, err
	}
	if c.ID == "" {
		return Campaign{}, d.fail(f.value["id"], join(path, "id"), "must not be empty")
	}
	days, err := d.integer(f, "duration_days", 1, 1, MaxDurationDays)
	if err != nil {
		return Campaign{}, err
	}
	c.DurationDays = int(days)

	if c.PauseWindows, err = d.pauseWindows(f, c.DurationDays); err != nil {
		return Campaign{}, err
	}
	if c.Actors, err = d.actors(f, c.DurationDays); err != nil {
		return Campaign{}, err
	}
	if c.Phases, err = d.phases(f, c.Actors); err != nil {
		return Campaign{}, err
	}
	return c, nil
}

func (d *decoder) pauseWindows(f *fields, days int) ([][2]int, error) {
	items, err := d.list(f, "pause_windows")
	if err != nil {
		return nil, err
	}
	var out [][2]int
	for i, it := range items {
		path := index(join(f.path, "pause_windows"), i)
		it = resolve(it)
		if it == nil || it.Kind != yaml.SequenceNode || len(it.Content) != 2 {
			return nil, d.fail(it, path, "must be a [start, end] pair of day indexes, got %s", kindName(it))
		}
		start, err := d.intNode(it.Content[0], index(path, 0), 0, MaxDurationDays)
		if err != nil {
			return nil, err
		}
		end, err := d.intNode(it.Content[1], index(path, 1), 0, MaxDurationDays)
		if err != nil {
			return nil, err
		}
		if start > end {
			return nil, d.fail(it, path, "start day %d is after end day %d", start, end)
		}
		if int(start) >= days {
			d.warn(it, path, "window starts on day %d, after the campaign's last day %d", start, days-1)
		}
		out = append(out, [2]int{int(start), int(end)})
	}
	return out, nil
}

func (d *decoder) actors(f *fields, days int) ([]Actor, error) {
	items, err := d.list(f, "actors")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, d.fail(f.value["actors"], join(f.path, "actors"), "campaign must declare at least one actor")
	}

	seen := map[string]bool{}
	out := make([]Actor, 0, len(items))
	for i, it := range items {
		path := index(join(f.path, "actors"), i)
		a, err := d.actor(it, path, days)
		if err != nil {
			return nil, err
		}
		if seen[a.ID] {
			return nil, d.fail(it, join(path, "id"), "actor id %q is declared twice", a.ID)
		}
		seen[a.ID] = true
		out = append(out, a)
	}
	return out, nil
}

func (d *decoder) actor(n *yaml.Node, path string, days int) (Actor, error) {
	f, err := d.mapping(n, path, "id", "identity", "asn", "ip_pool", "rotation_count", "rotation_asns",
		"ja3", "hassh", "hours_active_utc", "jitter_seconds", "active_days", "role")
	if err != nil {
		return Actor{}, err
	}
	if !f.present("id") {
		return Actor{}, d.fail(f.node, path, "actor missing required key: id")
	}

	var a Actor
	if a.ID, err = d.str(f, "id"); err != nil {
		return Actor{}, err
	}
	if a.ID == "" {
		return Actor{}, d.fail(f.value["id"], join(path, "id"), "must not be empty")
	}
	if a.Identity, err = d.str(f, "identity"); err != nil {
		return Actor{}, err
	}
	if a.ASN, err = d.integer(f, "asn", 0, 0, 1<<32-1); err != nil {
		return Actor{}, err
	}
	if a.IPPool, err = d.str(f, "ip_pool"); err != nil {
		return Actor{}, err
	}
	switch a.IPPool {
	case "":
		a.IPPool = PoolSticky
	case PoolSticky, PoolRotating, PoolTor:
	default:
		return Actor{}, d.fail(f.value["ip_pool"], join(path, "ip_pool"), "unknown pool %q: use sticky, rotating or tor", a.IPPool)
	}
	rot, err := d.integer(f, "rotation_count", 1, 1, MaxRotationCount)
	if err != nil {
		return Actor{}, err
	}
	a.RotationCount = int(rot)
	if f.has("rotation_count") && a.IPPool != PoolRotating {
		d.warn(f.value["rotation_count"], join(path, "rotation_count"), "has no effect unless ip_pool is rotating")
	}
	if a.RotationASNs, err = d.intList(f, "rotation_asns", 0, 1<<32-1); err != nil {
		return Actor{}, err
	}
	if a.JA3, err = d.str(f, "ja3"); err != nil {
		return Actor{}, err
	}
	if a.HASSH, err = d.str(f, "hassh"); err != nil {
		return Actor{}, err
	}

	hours, err := d.intList(f, "hours_active_utc", 0, 23)
	if err != nil {
		return Actor{}, err
	}
	if f.present("hours_active_utc") && len(hours) == 0 {
		return Actor{}, d.fail(f.value["hours_active_utc"], join(path, "hours_active_utc"), "must list at least one hour")
	}
	for _, h := range hours {
		a.HoursActive = append(a.HoursActive, int(h))
	}
	if len(a.HoursActive) == 0 {
		for h := range 24 {
			a.HoursActive = append(a.HoursActive, h)
		}
	}

	jitter, err := d.integer(f, "jitter_seconds", defaultJitterSecs, 0, 86_400)
	if err != nil {
		return Actor{}, err
	}
	a.JitterSeconds = int(jitter)

	if f.present("active_days") {
		active, err := d.intList(f, "active_days", 0, MaxDurationDays)
		if err != nil {
			return Actor{}, err
		}
		a.ActiveDays = []int{}
		for _, day := range active {
			if int(day) >= days {
				d.warn(f.value["active_days"], join(path, "active_days"), "day %d is after the campaign's last day %d", day, days-1)
			}
			a.ActiveDays = append(a.ActiveDays, int(day))
		}
	}
	if a.Role, err = d.str(f, "role"); err != nil {
		return Actor{}, err
	}
	return a, nil
}

func (d *decoder) phases(f *fields, actors []Actor) ([]Phase, error) {
	items, err := d.list(f, "phases")
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(actors))
	for _, a := range actors {
		ids = append(ids, a.ID)
	}

	out := make([]Phase, 0, len(items))
	for i, it := range items {
		p, err := d.phase(it, f.path, i, ids)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (d *decoder) phase(n *yaml.Node, campaignPath string, i int, actorIDs []string) (Phase, error) {
	path := index(join(campaignPath, "phases"), i)
	label := fmt.Sprintf("phase[%d]", i)
	f, err := d.mapping(n, path, "name", "actor", "tool_signature", "target_selector", "dwell_seconds", "success_rate")
	if err != nil {
		return Phase{}, err
	}
	if !f.present("name") {
		return Phase{}, d.fail(f.node, path, "%s missing 'name'", label)
	}
	name, err := d.str(f, "name")
	if err != nil {
		return Phase{}, err
	}
	phase, ok := ukc.Parse(name)
	if !ok {
		return Phase{}, d.fail(f.value["name"], join(path, "name"), "%s has unknown UKC phase '%s'", label, name)
	}
	if !phase.Observable() {
		d.warn(f.value["name"], join(path, "name"), "phase '%s' is pre-target / unobservable from a honeypot; no events will be emitted for it", name)
	}

	p := Phase{Name: phase, Actor: actorIDs[0]}
	if f.present("actor") {
		if p.Actor, err = d.str(f, "actor"); err != nil {
			return Phase{}, err
		}
		if !slices.Contains(actorIDs, p.Actor) {
			return Phase{}, d.fail(f.value["actor"], join(path, "actor"), "%s references unknown actor '%s'", label, p.Actor)
		}
	}

	if err := d.toolSignature(f, &p); err != nil {
		return Phase{}, err
	}
	if err := d.targetSelector(f, &p); err != nil {
		return Phase{}, err
	}
	if p.DwellSeconds, err = d.number(f, "dwell_seconds", defaultDwellSecs, 0, 86_400); err != nil {
		return Phase{}, err
	}
	if f.present("success_rate") {
		rate, err := d.number(f, "success_rate", 1, 0, 1)
		if err != nil {
			return Phase{}, err
		}
		p.SuccessRate = &rate
	}
	return p, nil
}

func (d *decoder) toolSignature(f *fields, p *Phase) error {
	p.Commands = DefaultCommands(p.Name)
	if !f.present("tool_signature") {
		return nil
	}
	sig, err := d.mapping(f.value["tool_signature"], join(f.path, "tool_signature"),
		"commands", "credentials", "c2_callback", "payload_hash",
		"user_agent", "cve", "beacon_jitter_seconds", "protocol", "credential_source", "paths")
	if err != nil {
		return err
	}

	// A present commands key wins over the defaults, even when it is empty.
	if sig.has("commands") {
		if p.Commands, err = d.strList(sig, "commands"); err != nil {
			return err
		}
	}

	creds, err := d.list(sig, "credentials")
	if err != nil {
		return err
	}
	for i, it := range creds {
		cp := index(join(sig.path, "credentials"), i)
		it = resolve(it)
		if it == nil || it.Kind != yaml.SequenceNode || len(it.Content) != 2 {
			return d.fail(it, cp, "must be a [user, password] pair, got %s", kindName(it))
		}
		pair := [2]string{}
		for j, v := range it.Content {
			v = resolve(v)
			if v == nil || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return d.fail(v, index(cp, j), "must be a string, got %s", kindName(v))
			}
			pair[j] = v.Value
		}
		p.Credentials = append(p.Credentials, Credential{User: pair[0], Pass: pair[1]})
	}

	if p.C2Callback, err = d.str(sig, "c2_callback"); err != nil {
		return err
	}
	if p.PayloadSeed, err = d.str(sig, "payload_hash"); err != nil {
		return err
	}
	return nil
}

func (d *decoder) targetSelector(f *fields, p *Phase) error {
	p.Count = 1
	if !f.present("target_selector") {
		return nil
	}
	sel, err := d.mapping(f.value["target_selector"], join(f.path, "target_selector"), "count", "decky", "service", "port")
	if err != nil {
		return err
	}
	count, err := d.integer(sel, "count", 1, 0, MaxSessionsPhase)
	if err != nil {
		return err
	}
	p.Count = int(count)

	decky, err := d.str(sel, "decky")
	if err != nil {
		return err
	}
	p.PreviousSuccess = decky == "previous_success"
	return nil
}
