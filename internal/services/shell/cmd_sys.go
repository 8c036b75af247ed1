package shell

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

var sysCommands = map[string]builtin{
	"uname":    cmdUname,
	"id":       cmdID,
	"whoami":   cmdWhoami,
	"hostname": cmdHostname,
	"w":        cmdW,
	"uptime":   cmdUptime,
	"ps":       cmdPs,
	"free":     cmdFree,
	"df":       cmdDf,
	"ifconfig": cmdIfconfig,
	"ip":       cmdIP,
	"nproc":    cmdNproc,
}

func cmdUname(_ context.Context, s *Shell, in *invocation) int {
	flags, long, _ := splitFlags(in.args[1:])
	for _, l := range long {
		if l == "--all" {
			flags['a'] = true
		}
	}
	e := s.env
	if flags['a'] {
		in.out("Linux %s %s %s %s GNU/Linux\n", e.Hostname, e.Kernel, e.KernelVersion, e.Arch)
		return 0
	}
	var parts []string
	order := []struct {
		flag  byte
		value string
	}{
		{'s', "Linux"}, {'n', e.Hostname}, {'r', e.Kernel}, {'v', e.KernelVersion},
		{'m', e.Arch}, {'p', "unknown"}, {'i', "unknown"}, {'o', "GNU/Linux"},
	}
	for _, o := range order {
		if flags[o.flag] {
			parts = append(parts, o.value)
		}
	}
	if len(parts) == 0 {
		parts = []string{"Linux"}
	}
	in.out("%s\n", strings.Join(parts, " "))
	return 0
}

func (s *Shell) groups() string {
	if s.env.UID == 0 {
		return "0(root)"
	}
	return fmt.Sprintf("%d(%s),27(sudo)", s.env.UID, s.env.User)
}

func cmdID(_ context.Context, s *Shell, in *invocation) int {
	flags, _, _ := splitFlags(in.args[1:])
	e := s.env
	switch {
	case flags['u'] && flags['n']:
		in.out("%s\n", e.User)
	case flags['u']:
		in.out("%d\n", e.UID)
	case flags['g'] && flags['n']:
		in.out("%s\n", e.User)
	case flags['g']:
		in.out("%d\n", e.UID)
	default:
		in.out("uid=%d(%s) gid=%d(%s) groups=%s\n", e.UID, e.User, e.UID, e.User, s.groups())
	}
	return 0
}

func cmdWhoami(_ context.Context, s *Shell, in *invocation) int {
	in.out("%s\n", s.env.User)
	return 0
}

func cmdHostname(_ context.Context, s *Shell, in *invocation) int {
	flags, _, _ := splitFlags(in.args[1:])
	if flags['I'] || flags['i'] {
		in.out("%s \n", s.env.IP)
		return 0
	}
	in.out("%s\n", s.env.Hostname)
	return 0
}

// uptimeText formats the time since boot as uptime and w print it.
func (s *Shell) uptimeText() string {
	now := s.env.Now()
	up := now.Sub(s.env.Boot)
	if up < 0 {
		up = 0
	}
	days := int(up.Hours()) / 24
	hours := int(up.Hours()) % 24
	mins := int(up.Minutes()) % 60

	var since string
	switch {
	case days > 0 && (hours > 0 || mins > 0):
		since = fmt.Sprintf("%d day%s, %2d:%02d", days, plural(days), hours, mins)
	case days > 0:
		since = fmt.Sprintf("%d day%s", days, plural(days))
	case hours > 0:
		since = fmt.Sprintf("%2d:%02d", hours, mins)
	default:
		since = fmt.Sprintf("%d min", mins)
	}
	return fmt.Sprintf(" %s up %s,  1 user,  load average: 0.08, 0.03, 0.01", now.Format("15:04:05"), since)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func cmdUptime(_ context.Context, s *Shell, in *invocation) int {
	flags, _, _ := splitFlags(in.args[1:])
	if flags['p'] {
		up := s.env.Now().Sub(s.env.Boot)
		in.out("up %d days, %d hours, %d minutes\n", int(up.Hours())/24, int(up.Hours())%24, int(up.Minutes())%60)
		return 0
	}
	in.out("%s\n", s.uptimeText())
	return 0
}

func cmdW(_ context.Context, s *Shell, in *invocation) int {
	now := s.env.Now()
	in.out("%s\n", s.uptimeText())
	in.out("USER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n")
	in.out("%-8.8s %-8.8s %-16.16s %-7s  0.00s  0.02s  0.00s w\n", s.env.User, s.env.TTY, s.env.RemoteIP, now.Format("15:04"))
	return 0
}

// process is one line of the fake process table.
type process struct {
	user      string
	pid       int
	cpu, mem  float64
	vsz, rss  int
	tty, stat string
	cmd       string
}

func (s *Shell) processes() []process {
	sshd := "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"
	if strings.Contains(s.env.OSName, "CentOS") || strings.Contains(s.env.OSName, "Rocky") {
		sshd = "/usr/sbin/sshd -D"
	}
	user := s.env.User
	return []process{
		{"root", 1, 0.0, 0.3, 167740, 11920, "?", "Ss", "/sbin/init"},
		{"root", 2, 0.0, 0.0, 0, 0, "?", "S", "[kthreadd]"},
		{"root", 3, 0.0, 0.0, 0, 0, "?", "I<", "[rcu_gp]"},
		{"root", 12, 0.0, 0.0, 0, 0, "?", "S", "[ksoftirqd/0]"},
		{"root", 13, 0.0, 0.0, 0, 0, "?", "I", "[rcu_preempt]"},
		{"root", 245, 0.0, 0.4, 48236, 15604, "?", "Ss", "/lib/systemd/systemd-journald"},
		{"root", 281, 0.0, 0.1, 25648, 6100, "?", "Ss", "/lib/systemd/systemd-udevd"},
		{"systemd+", 402, 0.0, 0.1, 89352, 6404, "?", "Ssl", "/lib/systemd/systemd-timesyncd"},
		{"root", 498, 0.0, 0.0, 6612, 2700, "?", "Ss", "/usr/sbin/cron -f"},
		{"message+", 501, 0.0, 0.1, 9148, 4600, "?", "Ss", "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only"},
		{"root", 507, 0.0, 0.1, 222224, 5352, "?", "Ssl", "/usr/sbin/rsyslogd -n -iNONE"},
		{"root", 510, 0.0, 0.1, 25388, 7560, "?", "Ss", "/lib/systemd/systemd-logind"},
		{"root", 612, 0.0, 0.2, 15432, 9228, "?", "Ss", sshd},
		{"root", 640, 0.0, 0.0, 5872, 1012, "tty1", "Ss+", "/sbin/agetty -o -p -- \\u --noclear - linux"},
		{"root", s.pid - 7, 0.0, 0.2, 17100, 10840, "?", "Ss", "sshd: " + user + "@" + s.env.TTY},
		{user, s.pid, 0.0, 0.1, 7236, 4020, s.env.TTY, "Ss", "-bash"},
		{user, s.pid + 31, 0.0, 0.0, 8480, 3988, s.env.TTY, "R+", "ps"},
	}
}

func cmdPs(_ context.Context, s *Shell, in *invocation) int {
	args := strings.Join(in.args[1:], " ")
	procs := s.processes()
	now := s.env.Now()
	switch {
	case strings.Contains(args, "aux") || strings.Contains(args, "-aux") || strings.Contains(args, "axu"):
		in.out("USER         PID %%CPU %%MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n")
		for _, p := range procs {
			start := s.env.Boot.Format("Jan02")
			if p.pid >= s.pid-7 {
				start = now.Format("15:04")
			}
			in.out("%-8s %7d %4.1f %4.1f %6d %5d %-8s %-4s %-5s  0:00 %s\n", p.user, p.pid, p.cpu, p.mem, p.vsz, p.rss, p.tty, p.stat, start, p.cmd)
		}
	case strings.Contains(args, "-ef") || strings.Contains(args, "-e"):
		in.out("UID          PID    PPID  C STIME TTY          TIME CMD\n")
		for _, p := range procs {
			ppid := 1
			switch {
			case p.pid <= 2:
				ppid = 0
			case p.cmd[0] == '[':
				ppid = 2
			case p.pid == s.pid-7:
				ppid = 612
			case p.pid == s.pid:
				ppid = s.pid - 7
			case p.pid > s.pid:
				ppid = s.pid
			}
			in.out("%-8s %7d %7d  0 %5s %-8s 00:00:00 %s\n", p.user, p.pid, ppid, s.env.Boot.Format("Jan02"), p.tty, p.cmd)
		}
	default:
		in.out("    PID TTY          TIME CMD\n")
		in.out("%7d %-8s 00:00:00 bash\n", s.pid, s.env.TTY)
		in.out("%7d %-8s 00:00:00 ps\n", s.pid+31, s.env.TTY)
	}
	return 0
}

func cmdFree(_ context.Context, s *Shell, in *invocation) int {
	flags, _, _ := splitFlags(in.args[1:])
	total := s.env.MemTotalKiB
	used := total * 15 / 100
	shared := int64(1276)
	cache := total * 30 / 100
	free := total - used - cache
	avail := total - used
	swap := int64(1048572)

	format := func(kib int64) string {
		switch {
		case flags['h']:
			return humanSize(kib*1024) + "i"
		case flags['m']:
			return fmt.Sprint(kib / 1024)
		case flags['g']:
			return fmt.Sprint(kib / 1024 / 1024)
		}
		return fmt.Sprint(kib)
	}
	in.out("               total        used        free      shared  buff/cache   available\n")
	in.out("Mem:     %11s %11s %11s %11s %11s %11s\n", format(total), format(used), format(free), format(shared), format(cache), format(avail))
	in.out("Swap:    %11s %11s %11s\n", format(swap), format(0), format(swap))
	return 0
}

func cmdDf(_ context.Context, s *Shell, in *invocation) int {
	flags, _, _ := splitFlags(in.args[1:])
	total := s.env.DiskTotalKiB
	used := total * 17 / 100
	mem := s.env.MemTotalKiB
	rows := []struct {
		fs          string
		total, used int64
		mount       string
	}{
		{"udev", mem / 2, 0, "/dev"},
		{"tmpfs", mem / 10, 640, "/run"},
		{"/dev/sda1", total, used, "/"},
		{"tmpfs", mem / 2, 0, "/dev/shm"},
		{"tmpfs", 5120, 0, "/run/lock"},
		{"tmpfs", mem / 10, 0, "/run/user/" + fmt.Sprint(s.env.UID)},
	}
	if flags['h'] {
		in.out("Filesystem      Size  Used Avail Use%% Mounted on\n")
	} else {
		in.out("Filesystem     1K-blocks    Used Available Use%% Mounted on\n")
	}
	for _, r := range rows {
		avail := r.total - r.used
		pct := 0
		if r.total > 0 {
			pct = int((r.used*100 + r.total - 1) / r.total)
		}
		if flags['h'] {
			in.out("%-14s %5s %5s %5s %3d%% %s\n", r.fs, humanSize(r.total*1024), humanSize(r.used*1024), humanSize(avail*1024), pct, r.mount)
			continue
		}
		in.out("%-14s %9d %7d %9d %3d%% %s\n", r.fs, r.total, r.used, avail, pct, r.mount)
	}
	return 0
}

// network returns the interface address, netmask and broadcast.
func (s *Shell) network() (addr netip.Addr, mask string, bcast string, prefix netip.Prefix) {
	addr, err := netip.ParseAddr(s.env.IP)
	if err != nil || !addr.Is4() {
		addr = netip.MustParseAddr("10.0.0.5")
	}
	bits := s.env.PrefixLen
	if bits <= 0 || bits > 32 {
		bits = 24
	}
	prefix = netip.PrefixFrom(addr, bits).Masked()
	m := net.CIDRMask(bits, 32)
	mask = net.IP(m).String()
	b := prefix.Addr().As4()
	for i := range b {
		b[i] |= ^m[i]
	}
	return addr, mask, netip.AddrFrom4(b).String(), prefix
}

func cmdIfconfig(_ context.Context, s *Shell, in *invocation) int {
	addr, mask, bcast, _ := s.network()
	in.out(`eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
        inet %s  netmask %s  broadcast %s
        ether %s  txqueuelen 1000  (Ethernet)
        RX packets 1843211  bytes 912388417 (870.1 MiB)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 1022375  bytes 187632903 (178.9 MiB)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536
        inet 127.0.0.1  netmask 255.0.0.0
        loop  txqueuelen 1000  (Local Loopback)
        RX packets 5274  bytes 421920 (412.0 KiB)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 5274  bytes 421920 (412.0 KiB)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

`, addr, mask, bcast, s.env.MAC)
	return 0
}

func cmdIP(_ context.Context, s *Shell, in *invocation) int {
	addr, _, bcast, prefix := s.network()
	var obj string
	for _, a := range in.args[1:] {
		if !strings.HasPrefix(a, "-") {
			obj = a
			break
		}
	}
	switch {
	case obj == "":
		in.err("Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n")
		return 255
	case strings.HasPrefix("address", obj) || obj == "addr" || obj == "a":
		in.out(`1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000
    link/ether %s brd ff:ff:ff:ff:ff:ff
    inet %s/%d brd %s scope global eth0
       valid_lft forever preferred_lft forever
`, s.env.MAC, addr, prefix.Bits(), bcast)
	case strings.HasPrefix("route", obj) || obj == "r":
		gw := prefix.Addr().Next()
		in.out("default via %s dev eth0 onlink \n%s dev eth0 proto kernel scope link src %s \n", gw, prefix, addr)
	case strings.HasPrefix("link", obj) || obj == "l":
		in.out(`1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000
    link/ether %s brd ff:ff:ff:ff:ff:ff
`, s.env.MAC)
	default:
		in.err("Object \"%s\" is unknown, try \"ip help\".\n", obj)
		return 1
	}
	return 0
}

func cmdNproc(_ context.Context, s *Shell, in *invocation) int {
	in.out("%d\n", s.env.CPUs)
	return 0
}
