package rootfs

import (
	"strings"

	"github.com/decnet/decnet/internal/decky"
)

var commonCommands = []string{
	"ls -la", "ls", "cd /var/log", "df -h", "free -m", "top", "uptime", "w",
	"last | head", "ip a", "ss -tlnp", "ps aux | grep -v grep | grep app",
	"cat /etc/os-release", "vim /opt/app/config.yml", "less /opt/app/config.yml",
	"crontab -l", "du -sh /var/* | sort -h", "history | tail", "clear",
	"sudo -i", "cd", "cd /opt/app", "tar czf /tmp/app-backup.tgz /opt/app",
	"find / -name '*.log' -size +100M 2>/dev/null", "uname -a", "hostname -I",
}

func packageCommands(f decky.Family, slug string) []string {
	switch f {
	case decky.FamilyRHEL:
		pm := "dnf"
		if slug == "centos7" {
			pm = "yum"
		}
		return []string{"sudo " + pm + " update -y", "sudo " + pm + " install -y htop vim", pm + " list installed | grep ssl",
			"sudo systemctl restart sshd", "sudo journalctl -xe", "tail -f /var/log/messages", "sudo firewall-cmd --list-all"}
	case decky.FamilyAlpine:
		return []string{"apk update", "apk upgrade", "apk add curl htop", "rc-status", "rc-service sshd restart", "tail -f /var/log/messages"}
	case decky.FamilyArch:
		return []string{"sudo pacman -Syu", "sudo pacman -S htop", "sudo systemctl restart sshd", "journalctl -b -p err"}
	default:
		return []string{"sudo apt update", "sudo apt upgrade -y", "sudo apt install -y htop net-tools", "apt list --upgradable",
			"sudo systemctl restart ssh", "sudo journalctl -xe", "tail -f /var/log/syslog", "sudo ufw status"}
	}
}

func (t *tree) serviceCommands() []string {
	var out []string
	fam := t.dist.Family
	if t.hasService("http") {
		if fam == decky.FamilyRHEL {
			out = append(out, "sudo apachectl configtest", "sudo systemctl restart httpd", "tail -n 200 /var/log/httpd/access_log",
				"sudo vim /etc/httpd/conf/httpd.conf", "ls -la /var/www/html")
		} else {
			out = append(out, "sudo nginx -t", "sudo systemctl reload nginx", "tail -n 200 /var/log/nginx/access.log",
				"grep ' 500 ' /var/log/nginx/access.log | wc -l", "ls -la "+WebRoot(t.d))
		}
	}
	if t.hasService("ssh") {
		out = append(out, "ssh-keygen -t ed25519 -C backup", "ssh deploy@"+t.privateAddr(),
			"scp /tmp/app-backup.tgz backup@"+t.privateAddr()+":/srv/backups/", "cat ~/.ssh/authorized_keys")
	}
	if t.hasService("mysql") {
		out = append(out, "mysql -u root -p", "mysqldump -u backup -p appdb > /tmp/appdb.sql")
	}
	if t.hasService("postgres") {
		out = append(out, "sudo -u postgres psql", "pg_dump -U app_rw appdb | gzip > /tmp/appdb.sql.gz")
	}
	if t.hasService("redis") {
		out = append(out, "redis-cli ping", "redis-cli info memory")
	}
	return out
}

// history returns shell history for u: 12 to 40 lines drawn from common,
// package-manager and service commands, with repeats as real histories
// have. Root's history has no sudo.
func (t *tree) history(u User) string {
	pool := append([]string{}, commonCommands...)
	pool = append(pool, packageCommands(t.dist.Family, t.dist.Slug)...)
	service := t.serviceCommands()
	pool = append(pool, service...)
	pool = append(pool, service...) // weight towards what the host is for

	n := 12 + t.r.IntN(29)
	var b strings.Builder
	for range n {
		line := pool[t.r.IntN(len(pool))]
		if u.UID == 0 {
			if line == "sudo -i" {
				continue
			}
			line = strings.TrimPrefix(line, "sudo ")
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if t.r.IntN(2) == 0 {
		b.WriteString("exit\n")
	}
	return b.String()
}
