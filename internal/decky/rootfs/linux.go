package rootfs

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/decnet/decnet/internal/decky"
)

// linux adds the tree of a Linux persona.
func (t *tree) linux() {
	root := User{}
	fam := t.dist.Family

	for _, d := range []string{"/bin", "/boot", "/dev", "/etc", "/home", "/mnt", "/opt", "/proc", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/log", "/var/tmp"} {
		mode := fs.FileMode(0o755)
		if d == "/tmp" || d == "/var/tmp" {
			mode = 0o777 | fs.ModeSticky
		}
		t.dir(d, mode, root, t.installed)
	}
	t.dir("/root", 0o700, root, t.recent(10))

	t.file("/etc/hostname", t.d.Hostname+"\n", 0o644, root, t.soon(1))
	t.file("/etc/hosts", t.hosts(), 0o644, root, t.soon(2))
	t.file("/etc/os-release", t.dist.OSRelease, 0o644, root, t.installed)
	t.file("/etc/issue", t.dist.Issue, 0o644, root, t.installed)

	accounts := t.accounts()
	t.file("/etc/passwd", formatPasswd(accounts), 0o644, root, t.soon(30))
	t.file("/etc/group", t.formatGroup(accounts), 0o644, root, t.soon(30))
	shadowGroup := User{GID: 42}
	if fam != decky.FamilyDebian {
		shadowGroup = User{}
	}
	t.file("/etc/shadow", t.formatShadow(accounts), 0o640, shadowGroup, t.soon(30))

	if t.hasService("ssh") {
		t.file("/etc/ssh/sshd_config", sshdConfig(t), 0o644, root, t.soon(20))
	}
	if t.hasService("http") {
		t.webServer()
	}

	t.file("/opt/app/config.yml", t.appConfig(), 0o640, root, t.recent(60))
	t.file("/root/notes.txt", t.rootNotes(), 0o600, root, t.recent(30))

	for _, u := range t.users {
		t.home(u)
	}
}

// home adds a user's home directory with shell startup files and history.
func (t *tree) home(u User) {
	// Ubuntu 20.04 still created world-readable home directories.
	mode := fs.FileMode(0o700)
	if t.dist.Slug == "ubuntu20" {
		mode = 0o755
	}
	if u.UID != 0 {
		t.dir(u.Home, mode, u, t.recent(5))
	}

	shellRC := bashrc
	switch t.dist.Family {
	case decky.FamilyRHEL:
		t.file(u.Home+"/.bash_profile", bashProfile, 0o644, u, t.installed)
	case decky.FamilyAlpine:
		shellRC = ""
		t.file(u.Home+"/.profile", profile, 0o644, u, t.installed)
	default:
		t.file(u.Home+"/.profile", profile, 0o644, u, t.installed)
	}
	if shellRC != "" {
		t.file(u.Home+"/.bashrc", shellRC, 0o644, u, t.soon(60))
	}

	history := "/.bash_history"
	if u.Shell == "/bin/ash" {
		history = "/.ash_history"
	}
	t.file(u.Home+history, t.history(u), 0o600, u, t.recent(3))

	if u.UID != 0 && t.r.IntN(2) == 0 {
		t.dir(u.Home+"/.ssh", 0o700, u, t.soon(90))
		t.file(u.Home+"/.ssh/known_hosts", t.knownHosts(), 0o644, u, t.recent(40))
	}
}

func (t *tree) hosts() string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	short, _, _ := strings.Cut(t.d.Hostname, ".")
	if t.dist.Family == decky.FamilyDebian {
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", t.d.Hostname)
	} else if t.d.IP != "" {
		fmt.Fprintf(&b, "%s\t%s %s\n", t.d.IP, t.d.Hostname, short)
	}
	b.WriteString("\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	return b.String()
}

// privateAddr returns a random address in 10.0.0.0/16, the kind that fills
// config files and histories on a LAN.
func (t *tree) privateAddr() string {
	return fmt.Sprintf("10.0.%d.%d", 1+t.r.IntN(40), 2+t.r.IntN(250))
}

func (t *tree) appConfig() string {
	engine, port := "postgresql", 5432
	if t.r.IntN(2) == 0 {
		engine, port = "mysql", 3306
	}
	return fmt.Sprintf(`# %s internal API
app:
  name: %s
  env: production
  listen: 0.0.0.0:8080
  log_level: info

database:
  driver: %s
  host: %s
  port: %d
  name: appdb
  user: app_rw
  password: "%s"

smtp:
  host: mail.%s.local
  port: 587
  user: noreply
  password: "%s"
`, t.company, t.pick([]string{"orders-api", "inventory", "billing", "portal"}), engine, t.privateAddr(), port,
		fakePassword(t.r), companyDomain(t.company), fakePassword(t.r))
}

func (t *tree) rootNotes() string {
	lines := []string{
		fmt.Sprintf("- move nightly backup to %s once the new NAS is racked", t.privateAddr()),
		"- renew the wildcard cert before it expires, reminder in the shared calendar",
		fmt.Sprintf("- vendor support account: %s / %s (disable after the audit!)", t.pick([]string{"support", "vendor", "tmpadmin"}), fakePassword(t.r)),
		"- check why logrotate skips /var/log/app",
		fmt.Sprintf("- db replica on %s lags after patch night, look at iowait", t.privateAddr()),
		"- kernel update pending, reboot in the next maintenance window",
	}
	t.r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	return "TODO\n" + strings.Join(lines[:3+t.r.IntN(3)], "\n") + "\n"
}

func (t *tree) knownHosts() string {
	var b strings.Builder
	for range 1 + t.r.IntN(3) {
		fmt.Fprintf(&b, "|1|%s=|%s= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%s\n",
			randomString(t.r, base64Alphabet, 27), randomString(t.r, base64Alphabet, 27), randomString(t.r, base64Alphabet, 43))
	}
	return b.String()
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func sshdConfig(t *tree) string {
	port := 22
	if s, ok := t.d.Service("ssh"); ok && s.Port != 0 {
		port = s.Port
	}
	return fmt.Sprintf(`Include /etc/ssh/sshd_config.d/*.conf

Port %d
PermitRootLogin %s
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
`, port, t.pick([]string{"yes", "prohibit-password", "yes"}))
}

// Shell startup files, short and ordinary.
const (
	bashrc = `# ~/.bashrc: read by interactive non-login shells.
[ -z "$PS1" ] && return

HISTCONTROL=ignoreboth
HISTSIZE=1000
HISTFILESIZE=2000
shopt -s histappend checkwinsize

PS1='\u@\h:\w\$ '
alias ls='ls --color=auto'
alias ll='ls -alF'
alias la='ls -A'
alias grep='grep --color=auto'
`
	profile = `# ~/.profile: read by login shells.
if [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then
    . "$HOME/.bashrc"
fi
if [ -d "$HOME/bin" ]; then
    PATH="$HOME/bin:$PATH"
fi
`
	bashProfile = `# .bash_profile
if [ -f ~/.bashrc ]; then
	. ~/.bashrc
fi
PATH=$PATH:$HOME/.local/bin:$HOME/bin
export PATH
`
)
