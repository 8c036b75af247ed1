package ssh

import (
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// Profile is what the sshd of one distro release shows before
// authentication: its version string and its algorithm preference lists,
// restricted to what golang.org/x/crypto/ssh implements.
type Profile struct {
	// Version is the software part of the identification line, after
	// "SSH-2.0-".
	Version      string
	KeyExchanges []string
	Ciphers      []string
	MACs         []string
}

// ServerVersion returns the full identification line without CRLF.
func (p Profile) ServerVersion() string { return "SSH-2.0-" + p.Version }

// Default algorithm lists of upstream OpenSSH releases (sshd_config(5) of
// each release), in server preference order, with what x/crypto/ssh lacks
// left out: sntrup761x25519-sha512, diffie-hellman-group18-sha512 and the
// umac-* and *-etm SHA-1 MACs. curve25519-sha256@libssh.org is added by
// x/crypto/ssh whenever curve25519-sha256 is listed.
var (
	kexOpenSSH = []string{
		gossh.KeyExchangeCurve25519, gossh.KeyExchangeECDHP256, gossh.KeyExchangeECDHP384,
		gossh.KeyExchangeECDHP521, gossh.KeyExchangeDHGEXSHA256, gossh.KeyExchangeDH16SHA512,
		gossh.KeyExchangeDH14SHA256,
	}
	// kexOpenSSH74 adds the SHA-1 groups that OpenSSH 7.4 still offered.
	kexOpenSSH74 = []string{
		gossh.KeyExchangeCurve25519, gossh.KeyExchangeECDHP256, gossh.KeyExchangeECDHP384,
		gossh.KeyExchangeECDHP521, gossh.KeyExchangeDHGEXSHA256, gossh.KeyExchangeDH16SHA512,
		gossh.KeyExchangeDH14SHA256, gossh.InsecureKeyExchangeDH14SHA1,
	}
	// kexRHEL9 is the order of the DEFAULT system-wide crypto policy of
	// RHEL 9 and its rebuilds (Rocky, Alma).
	kexRHEL9 = []string{
		gossh.KeyExchangeCurve25519, gossh.KeyExchangeECDHP256, gossh.KeyExchangeECDHP384,
		gossh.KeyExchangeECDHP521, gossh.KeyExchangeDHGEXSHA256, gossh.KeyExchangeDH14SHA256,
		gossh.KeyExchangeDH16SHA512,
	}
	ciphersOpenSSH = []string{
		gossh.CipherChaCha20Poly1305, gossh.CipherAES128CTR, gossh.CipherAES192CTR,
		gossh.CipherAES256CTR, gossh.CipherAES128GCM, gossh.CipherAES256GCM,
	}
	ciphersRHEL9 = []string{
		gossh.CipherAES256GCM, gossh.CipherChaCha20Poly1305, gossh.CipherAES256CTR,
		gossh.CipherAES128GCM, gossh.CipherAES128CTR,
	}
	macsOpenSSH = []string{
		gossh.HMACSHA256ETM, gossh.HMACSHA512ETM, gossh.HMACSHA256, gossh.HMACSHA512, gossh.HMACSHA1,
	}
	macsRHEL9 = []string{
		gossh.HMACSHA256ETM, gossh.HMACSHA512ETM, gossh.HMACSHA256, gossh.HMACSHA1, gossh.HMACSHA512,
	}
)

// profiles maps a distro slug to the sshd its release shipped. Debian and
// its derivatives put the package revision in the banner; RHEL, Fedora,
// Alpine and Arch build portable OpenSSH without it, so their banner
// carries only the upstream version.
var profiles = map[string]Profile{
	// Debian 12 bookworm, package 1:9.2p1-2+deb12u3 (July 2024 security update).
	"debian": {Version: "OpenSSH_9.2p1 Debian-2+deb12u3", KeyExchanges: kexOpenSSH, Ciphers: ciphersOpenSSH, MACs: macsOpenSSH},
	// Ubuntu 22.04 jammy, package 1:8.9p1-3ubuntu0.10.
	"ubuntu22": {Version: "OpenSSH_8.9p1 Ubuntu-3ubuntu0.10", KeyExchanges: kexOpenSSH, Ciphers: ciphersOpenSSH, MACs: macsOpenSSH},
	// Ubuntu 20.04 focal, package 1:8.2p1-4ubuntu0.11.
	"ubuntu20": {Version: "OpenSSH_8.2p1 Ubuntu-4ubuntu0.11", KeyExchanges: kexOpenSSH, Ciphers: ciphersOpenSSH, MACs: macsOpenSSH},
	// Rocky Linux 9, openssh-8.7p1.
	"rocky9": {Version: "OpenSSH_8.7", KeyExchanges: kexRHEL9, Ciphers: ciphersRHEL9, MACs: macsRHEL9},
	// CentOS 7, openssh-7.4p1.
	"centos7": {Version: "OpenSSH_7.4", KeyExchanges: kexOpenSSH74, Ciphers: ciphersOpenSSH, MACs: macsOpenSSH},
	// Alpine 3.19, openssh 9.6_p1.
	"alpine": {Version: "OpenSSH_9.6", KeyExchanges: kexOpenSSH, Ciphers: ciphersOpenSSH, MACs: macsOpenSSH},
	// Fedora 39, openssh-9.3p1.
	"fedora": {Version: "OpenSSH_9.3", KeyExchanges: kexOpenSSH, Ciphers: ciphersOpenSSH, MACs: macsOpenSSH},
	// NOTE: kali and arch are rolling releases. The versions below are what
	// they shipped in spring 2024 (Kali from Debian testing 1:9.7p1-7, Arch
	// openssh 9.7p1); a decky imitating a current install may need newer.
	"kali": {Version: "OpenSSH_9.7p1 Debian-7", KeyExchanges: kexOpenSSH, Ciphers: ciphersOpenSSH, MACs: macsOpenSSH},
	"arch": {Version: "OpenSSH_9.7", KeyExchanges: kexOpenSSH, Ciphers: ciphersOpenSSH, MACs: macsOpenSSH},
}

// distroAliases maps other common spellings to the slugs above.
var distroAliases = map[string]string{
	"bookworm": "debian", "debian12": "debian", "debian-12": "debian",
	"ubuntu": "ubuntu22", "ubuntu-22.04": "ubuntu22", "ubuntu22.04": "ubuntu22", "jammy": "ubuntu22",
	"ubuntu-20.04": "ubuntu20", "ubuntu20.04": "ubuntu20", "focal": "ubuntu20",
	"rocky": "rocky9", "rockylinux": "rocky9", "rocky-9": "rocky9",
	"centos": "centos7", "centos-7": "centos7",
	"alpine3.19": "alpine", "alpine-3.19": "alpine",
	"fedora39": "fedora", "fedora-39": "fedora",
	"archlinux": "arch",
}

// ProfileForDistro returns the sshd profile of a distro slug (debian,
// ubuntu22, ubuntu20, rocky9, centos7, alpine, fedora, kali, arch, or a
// common alias). Unknown distros get Debian's, the most common server.
func ProfileForDistro(distro string) Profile {
	d := strings.ToLower(strings.TrimSpace(distro))
	if alias, ok := distroAliases[d]; ok {
		d = alias
	}
	if p, ok := profiles[d]; ok {
		return p
	}
	return profiles["debian"]
}

// VersionForDistro returns the OpenSSH version string (without "SSH-2.0-")
// that the distro's sshd sends.
func VersionForDistro(distro string) string {
	return ProfileForDistro(distro).Version
}
