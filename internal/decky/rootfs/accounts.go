package rootfs

import (
	"fmt"
	"strings"

	"github.com/decnet/decnet/internal/decky"
)

// account is one line of /etc/passwd.
type account struct {
	name, gecos, home, shell string
	uid, gid                 int
}

// Base system accounts per family, as a fresh minimal install has them.
var systemAccounts = map[decky.Family][]account{
	decky.FamilyDebian: {
		{"daemon", "daemon", "/usr/sbin", "/usr/sbin/nologin", 1, 1},
		{"bin", "bin", "/bin", "/usr/sbin/nologin", 2, 2},
		{"sys", "sys", "/dev", "/usr/sbin/nologin", 3, 3},
		{"sync", "sync", "/bin", "/bin/sync", 4, 65534},
		{"games", "games", "/usr/games", "/usr/sbin/nologin", 5, 60},
		{"man", "man", "/var/cache/man", "/usr/sbin/nologin", 6, 12},
		{"lp", "lp", "/var/spool/lpd", "/usr/sbin/nologin", 7, 7},
		{"mail", "mail", "/var/mail", "/usr/sbin/nologin", 8, 8},
		{"news", "news", "/var/spool/news", "/usr/sbin/nologin", 9, 9},
		{"uucp", "uucp", "/var/spool/uucp", "/usr/sbin/nologin", 10, 10},
		{"proxy", "proxy", "/bin", "/usr/sbin/nologin", 13, 13},
		{"www-data", "www-data", "/var/www", "/usr/sbin/nologin", 33, 33},
		{"backup", "backup", "/var/backups", "/usr/sbin/nologin", 34, 34},
		{"list", "Mailing List Manager", "/var/list", "/usr/sbin/nologin", 38, 38},
		{"irc", "ircd", "/run/ircd", "/usr/sbin/nologin", 39, 39},
		{"_apt", "", "/nonexistent", "/usr/sbin/nologin", 42, 65534},
		{"nobody", "nobody", "/nonexistent", "/usr/sbin/nologin", 65534, 65534},
		{"systemd-network", "systemd Network Management", "/", "/usr/sbin/nologin", 998, 998},
		{"messagebus", "", "/nonexistent", "/usr/sbin/nologin", 100, 101},
		{"sshd", "", "/run/sshd", "/usr/sbin/nologin", 101, 65534},
	},
	decky.FamilyRHEL: {
		{"bin", "bin", "/bin", "/sbin/nologin", 1, 1},
		{"daemon", "daemon", "/sbin", "/sbin/nologin", 2, 2},
		{"adm", "adm", "/var/adm", "/sbin/nologin", 3, 4},
		{"lp", "lp", "/var/spool/lpd", "/sbin/nologin", 4, 7},
		{"sync", "sync", "/sbin", "/bin/sync", 5, 0},
		{"shutdown", "shutdown", "/sbin", "/sbin/shutdown", 6, 0},
		{"halt", "halt", "/sbin", "/sbin/halt", 7, 0},
		{"mail", "mail", "/var/spool/mail", "/sbin/nologin", 8, 12},
		{"operator", "operator", "/root", "/sbin/nologin", 11, 0},
		{"games", "games", "/usr/games", "/sbin/nologin", 12, 100},
		{"ftp", "FTP User", "/var/ftp", "/sbin/nologin", 14, 50},
		{"nobody", "Kernel Overflow User", "/", "/sbin/nologin", 65534, 65534},
		{"dbus", "System message bus", "/", "/sbin/nologin", 81, 81},
		{"systemd-coredump", "systemd Core Dumper", "/", "/sbin/nologin", 999, 997},
		{"tss", "Account used for TPM access", "/dev/null", "/sbin/nologin", 59, 59},
		{"sshd", "Privilege-separated SSH", "/usr/share/empty.sshd", "/sbin/nologin", 74, 74},
		{"chrony", "chrony system user", "/var/lib/chrony", "/sbin/nologin", 998, 996},
	},
	decky.FamilyAlpine: {
		{"bin", "bin", "/bin", "/sbin/nologin", 1, 1},
		{"daemon", "daemon", "/sbin", "/sbin/nologin", 2, 2},
		{"adm", "adm", "/var/adm", "/sbin/nologin", 3, 4},
		{"lp", "lp", "/var/spool/lpd", "/sbin/nologin", 4, 7},
		{"sync", "sync", "/sbin", "/bin/sync", 5, 0},
		{"shutdown", "shutdown", "/sbin", "/sbin/shutdown", 6, 0},
		{"halt", "halt", "/sbin", "/sbin/halt", 7, 0},
		{"mail", "mail", "/var/mail", "/sbin/nologin", 8, 12},
		{"news", "news", "/usr/lib/news", "/sbin/nologin", 9, 13},
		{"uucp", "uucp", "/var/spool/uucppublic", "/sbin/nologin", 10, 14},
		{"operator", "operator", "/root", "/sbin/nologin", 11, 0},
		{"man", "man", "/usr/man", "/sbin/nologin", 13, 15},
		{"postmaster", "postmaster", "/var/mail", "/sbin/nologin", 14, 12},
		{"cron", "cron", "/var/spool/cron", "/sbin/nologin", 16, 16},
		{"ftp", "", "/var/lib/ftp", "/sbin/nologin", 21, 21},
		{"sshd", "sshd", "/dev/null", "/sbin/nologin", 22, 22},
		{"at", "at", "/var/spool/cron/atjobs", "/sbin/nologin", 25, 25},
		{"games", "games", "/usr/games", "/sbin/nologin", 35, 35},
		{"ntp", "NTP", "/var/empty", "/sbin/nologin", 123, 123},
		{"guest", "guest", "/dev/null", "/sbin/nologin", 405, 100},
		{"nobody", "nobody", "/", "/sbin/nologin", 65534, 65534},
	},
	decky.FamilyArch: {
		{"bin", "", "/", "/usr/bin/nologin", 1, 1},
		{"daemon", "", "/", "/usr/bin/nologin", 2, 2},
		{"mail", "", "/var/spool/mail", "/usr/bin/nologin", 8, 12},
		{"ftp", "", "/srv/ftp", "/usr/bin/nologin", 14, 11},
		{"http", "", "/srv/http", "/usr/bin/nologin", 33, 33},
		{"nobody", "Kernel Overflow User", "/", "/usr/bin/nologin", 65534, 65534},
		{"dbus", "System Message Bus", "/", "/usr/bin/nologin", 81, 81},
		{"systemd-coredump", "systemd Core Dumper", "/", "/usr/bin/nologin", 984, 984},
		{"systemd-network", "systemd Network Management", "/", "/usr/bin/nologin", 982, 982},
		{"systemd-resolve", "systemd Resolver", "/", "/usr/bin/nologin", 981, 981},
	},
}

// serviceAccount is the daemon user a service's package creates.
type serviceAccount struct {
	service, name, gecos, home string
}

var serviceAccounts = []serviceAccount{
	{"mysql", "mysql", "MySQL Server", "/var/lib/mysql"},
	{"postgres", "postgres", "PostgreSQL administrator", "/var/lib/postgresql"},
	{"redis", "redis", "", "/var/lib/redis"},
	{"smtp", "postfix", "", "/var/spool/postfix"},
	{"imap", "dovecot", "Dovecot mail server", "/usr/lib/dovecot"},
}

// webServerAccount returns the account the web server runs as, when the
// family's base accounts lack it.
func webServerAccount(f decky.Family) (account, bool) {
	switch f {
	case decky.FamilyRHEL:
		return account{"apache", "Apache", "/usr/share/httpd", "/sbin/nologin", 48, 48}, true
	case decky.FamilyAlpine:
		return account{"nginx", "nginx", "/var/lib/nginx", "/sbin/nologin", 100, 101}, true
	}
	return account{}, false
}

// accounts returns every /etc/passwd entry of the decky, root first and the
// people last.
func (t *tree) accounts() []account {
	fam := t.dist.Family
	nologin := "/usr/sbin/nologin"
	if fam != decky.FamilyDebian {
		nologin = "/sbin/nologin"
	}
	rootShell := loginShell(t.d)

	list := []account{{"root", "root", "/root", rootShell, 0, 0}}
	if fam == decky.FamilyArch {
		list[0].gecos = ""
	}
	list = append(list, systemAccounts[fam]...)

	if t.hasService("http") {
		if a, ok := webServerAccount(fam); ok {
			list = append(list, a)
		}
	}

	// Package-created daemon users take the next free system uid: upwards
	// from 102 on Debian and Alpine, downwards from 995 elsewhere.
	next, step := 102, 1
	if fam == decky.FamilyRHEL || fam == decky.FamilyArch {
		next, step = 995, -1
	}
	for _, sa := range serviceAccounts {
		if !t.hasService(sa.service) {
			continue
		}
		list = append(list, account{sa.name, sa.gecos, sa.home, nologin, next, next + 10*step})
		next += step
	}

	for _, u := range t.users[1:] {
		gecos := u.FullName
		if fam == decky.FamilyDebian && gecos != "" {
			gecos += ",,,"
		}
		list = append(list, account{u.Name, gecos, u.Home, u.Shell, u.UID, u.GID})
	}
	return list
}

func formatPasswd(accounts []account) string {
	var b strings.Builder
	for _, a := range accounts {
		fmt.Fprintf(&b, "%s:x:%d:%d:%s:%s:%s\n", a.name, a.uid, a.gid, a.gecos, a.home, a.shell)
	}
	return b.String()
}

// formatGroup writes one group per distinct primary gid, named after the
// first account that uses it, plus the admin group whose members are the
// people who may use sudo.
func (t *tree) formatGroup(accounts []account) string {
	adminGroup, adminGID := "sudo", 27
	if t.dist.Family != decky.FamilyDebian {
		adminGroup, adminGID = "wheel", 10
	}
	var admins []string
	for _, u := range t.users[1:] {
		if len(admins) == 0 || t.r.IntN(2) == 0 {
			admins = append(admins, u.Name)
		}
	}

	var b strings.Builder
	seen := map[int]bool{}
	for _, a := range accounts {
		if seen[a.gid] {
			continue
		}
		seen[a.gid] = true
		name := a.name
		switch a.gid {
		case 65534:
			name = "nogroup"
			if t.dist.Family != decky.FamilyDebian {
				name = "nobody"
			}
		case 100:
			name = "users"
		}
		if a.gid == adminGID {
			continue
		}
		fmt.Fprintf(&b, "%s:x:%d:\n", name, a.gid)
	}
	fmt.Fprintf(&b, "%s:x:%d:%s\n", adminGroup, adminGID, strings.Join(admins, ","))
	return b.String()
}

// formatShadow writes a shadow file whose password hashes are random
// strings in the distro's hash format: they look real but match no
// password.
func (t *tree) formatShadow(accounts []account) string {
	day := int(t.installed.Unix() / 86400)
	var b strings.Builder
	for _, a := range accounts {
		hash := "*"
		if t.dist.Family == decky.FamilyRHEL {
			hash = "!!"
		}
		if a.uid == 0 || a.uid >= 1000 && a.uid < 65534 {
			hash = t.fakeHash()
		}
		fmt.Fprintf(&b, "%s:%s:%d:0:99999:7:::\n", a.name, hash, day+t.r.IntN(30))
	}
	return b.String()
}

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func (t *tree) fakeHash() string {
	switch t.dist.Slug {
	case "debian", "kali", "arch", "ubuntu22":
		return "$y$j9T$" + randomString(t.r, cryptAlphabet, 22) + "$" + randomString(t.r, cryptAlphabet, 43)
	default:
		return "$6$" + randomString(t.r, cryptAlphabet, 16) + "$" + randomString(t.r, cryptAlphabet, 86)
	}
}
