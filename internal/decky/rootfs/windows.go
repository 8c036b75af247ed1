package rootfs

import (
	"fmt"
	"strings"
)

// windows adds the tree of a Windows persona under C:. Text files use CRLF
// line endings, as Windows tools write them.
func (t *tree) windows() {
	system := User{UID: 18, GID: 544} // SYSTEM and Administrators

	for _, d := range []string{"C:/PerfLogs", "C:/Program Files", "C:/Program Files (x86)", "C:/ProgramData", "C:/Users/Public/Documents", "C:/Windows/System32/drivers/etc", "C:/Windows/Temp"} {
		t.dir(d, 0o755, system, t.installed)
	}
	t.file("C:/Windows/System32/drivers/etc/hosts", crlf(t.windowsHosts()), 0o644, system, t.soon(30))

	if t.hasService("http") {
		t.dir("C:/inetpub/wwwroot", 0o755, system, t.soon(5))
		t.dir("C:/inetpub/logs/LogFiles/W3SVC1", 0o755, system, t.soon(5))
	}

	for _, u := range t.users {
		t.windowsProfile(u)
	}
}

func (t *tree) windowsProfile(u User) {
	created := t.soon(60)
	t.dir(u.Home, 0o700, u, created)
	for _, d := range []string{"Desktop", "Documents", "Downloads", "Pictures", "AppData/Local/Temp"} {
		t.dir(u.Home+"/"+d, 0o700, u, created)
	}

	t.file(u.Home+"/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/ConsoleHost_history.txt",
		crlf(t.powershellHistory(u)), 0o600, u, t.recent(4))

	docs := []struct{ name, body string }{
		{"Meeting notes.txt", fmt.Sprintf("Weekly sync %s\n- migration of the file shares to the new cluster\n- %s asked for VPN access for the auditors\n- next review in two weeks\n",
			t.recent(20).Format("2006-01-02"), t.pick(firstNames))},
		{"servers.txt", fmt.Sprintf("%s  file server\n%s  backup\n%s  sql (sa account in the vault)\n", t.privateAddr(), t.privateAddr(), t.privateAddr())},
		{"todo.txt", "renew certificates\nclean up old GPOs\nask HR about the onboarding laptops\n"},
		{"VPN setup.txt", fmt.Sprintf("Gateway: vpn.%s.local\nGroup: staff\nUse your domain login, MFA code from the app.\n", companyDomain(t.company))},
	}
	t.r.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	for _, doc := range docs[:2+t.r.IntN(3)] {
		t.file(u.Home+"/Documents/"+doc.name, crlf(doc.body), 0o644, u, t.recent(120))
	}
	if t.r.IntN(2) == 0 {
		t.file(u.Home+"/Desktop/shortcuts.txt", crlf(fmt.Sprintf("\\\\%s\\shared\n\\\\%s\\scans\n", t.privateAddr(), t.privateAddr())), 0o644, u, t.recent(200))
	}
}

func (t *tree) powershellHistory(u User) string {
	pool := []string{
		"Get-Service | Where-Object Status -eq 'Running'",
		"Get-Process | Sort-Object CPU -Descending | Select-Object -First 10",
		"ipconfig /all",
		"whoami /groups",
		"gpupdate /force",
		"Get-EventLog -LogName System -Newest 20",
		"Test-NetConnection " + t.privateAddr() + " -Port 445",
		"net use Z: \\\\" + t.privateAddr() + "\\shared",
		"Get-ChildItem C:\\Users\\" + u.Name + "\\Documents",
		"Get-HotFix | Sort-Object InstalledOn -Descending | Select-Object -First 5",
		"Restart-Computer -Force",
		"Get-LocalUser",
		"Get-SmbShare",
	}
	if t.d.Persona == "windows_server" {
		pool = append(pool, "Import-Module ActiveDirectory", "Get-ADUser -Filter * | Select-Object Name,Enabled",
			"Get-ADComputer -Filter * | Select-Object Name", "repadmin /replsummary", "Get-WindowsFeature | Where-Object Installed")
	}
	if t.hasService("http") {
		pool = append(pool, "Restart-Service W3SVC", "Get-Website", "Get-Content C:\\inetpub\\logs\\LogFiles\\W3SVC1\\*.log -Tail 50")
	}

	var b strings.Builder
	for range 8 + t.r.IntN(20) {
		b.WriteString(pool[t.r.IntN(len(pool))])
		b.WriteByte('\n')
	}
	return b.String()
}

// windowsHosts returns a hosts file with the loopback entries and a few
// LAN names an administrator pinned.
func (t *tree) windowsHosts() string {
	return fmt.Sprintf("# Static entries, maintained by IT\n127.0.0.1       localhost\n::1             localhost\n%s       fileserver\n%s       backup01\n",
		t.privateAddr(), t.privateAddr())
}

func crlf(s string) string {
	return strings.ReplaceAll(s, "\n", "\r\n")
}
