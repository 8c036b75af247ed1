package decky

import (
	"fmt"
	"slices"
	"strings"
)

// HostnameStyle is the naming habit of a distro's administrators, used to
// generate hostnames that fit the distro.
type HostnameStyle string

// Hostname styles. The examples use the word "atlas" and the number 42.
const (
	HostnameGeneric HostnameStyle = "generic" // SRV-ATLAS-42
	HostnameRHEL    HostnameStyle = "rhel"    // atlas42.localdomain
	HostnameMinimal HostnameStyle = "minimal" // atlas-42
	HostnameRolling HostnameStyle = "rolling" // atlas-zephyr
)

// Family groups distros that share a package manager and the layout of
// /etc: debian (apt), rhel (dnf or yum), alpine (apk) and arch (pacman).
type Family string

// Distro families.
const (
	FamilyDebian Family = "debian"
	FamilyRHEL   Family = "rhel"
	FamilyAlpine Family = "alpine"
	FamilyArch   Family = "arch"
)

// Kernel is one kernel build a distro ships, as uname -r and uname -v
// print it.
type Kernel struct {
	Release string
	Version string
}

// Distro is a Linux distribution a decky can imitate.
type Distro struct {
	Slug       string
	PrettyName string
	Family     Family
	Style      HostnameStyle
	// OSRelease is the content of /etc/os-release.
	OSRelease string
	// Issue is the content of /etc/issue.
	Issue string
	// Kernels lists plausible kernel builds; each decky picks one.
	Kernels []Kernel
}

var distros = []Distro{
	{
		Slug: "debian", PrettyName: "Debian GNU/Linux 12 (bookworm)", Family: FamilyDebian, Style: HostnameGeneric,
		OSRelease: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`,
		Issue: "Debian GNU/Linux 12 \\n \\l\n\n",
		Kernels: []Kernel{
			{"6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"},
			{"6.1.0-21-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)"},
			{"6.1.0-25-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.106-3 (2024-08-26)"},
		},
	},
	{
		Slug: "ubuntu22", PrettyName: "Ubuntu 22.04.4 LTS", Family: FamilyDebian, Style: HostnameGeneric,
		OSRelease: `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
`,
		Issue: "Ubuntu 22.04.4 LTS \\n \\l\n\n",
		Kernels: []Kernel{
			{"5.15.0-97-generic", "#107-Ubuntu SMP Wed Feb 7 13:26:48 UTC 2024"},
			{"5.15.0-105-generic", "#115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024"},
			{"5.15.0-119-generic", "#129-Ubuntu SMP Fri Aug 2 19:25:20 UTC 2024"},
		},
	},
	{
		Slug: "ubuntu20", PrettyName: "Ubuntu 20.04.6 LTS", Family: FamilyDebian, Style: HostnameGeneric,
		OSRelease: `NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal
`,
		Issue: "Ubuntu 20.04.6 LTS \\n \\l\n\n",
		Kernels: []Kernel{
			{"5.4.0-150-generic", "#167-Ubuntu SMP Mon May 15 17:35:05 UTC 2023"},
			{"5.4.0-169-generic", "#187-Ubuntu SMP Thu Nov 23 14:52:28 UTC 2023"},
			{"5.4.0-182-generic", "#202-Ubuntu SMP Fri Apr 26 12:29:36 UTC 2024"},
		},
	},
	{
		Slug: "rocky9", PrettyName: "Rocky Linux 9.3 (Blue Onyx)", Family: FamilyRHEL, Style: HostnameRHEL,
		OSRelease: `NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.3"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.3"
`,
		Issue: "\\S\nKernel \\r on an \\m\n\n",
		Kernels: []Kernel{
			{"5.14.0-362.8.1.el9_3.x86_64", "#1 SMP PREEMPT_DYNAMIC Wed Nov 8 17:36:32 UTC 2023"},
			{"5.14.0-362.18.1.el9_3.x86_64", "#1 SMP PREEMPT_DYNAMIC Mon Jan 29 07:05:48 UTC 2024"},
			{"5.14.0-362.24.1.el9_3.x86_64", "#1 SMP PREEMPT_DYNAMIC Thu Mar 21 19:34:16 UTC 2024"},
		},
	},
	{
		Slug: "centos7", PrettyName: "CentOS Linux 7 (Core)", Family: FamilyRHEL, Style: HostnameRHEL,
		OSRelease: `NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"

CENTOS_MANTISBT_PROJECT="CentOS-7"
CENTOS_MANTISBT_PROJECT_VERSION="7"
REDHAT_SUPPORT_PRODUCT="centos"
REDHAT_SUPPORT_PRODUCT_VERSION="7"

`,
		Issue: "\\S\nKernel \\r on an \\m\n\n",
		Kernels: []Kernel{
			{"3.10.0-1160.99.1.el7.x86_64", "#1 SMP Wed Sep 13 14:19:20 UTC 2023"},
			{"3.10.0-1160.108.1.el7.x86_64", "#1 SMP Thu Jan 25 16:17:31 UTC 2024"},
			{"3.10.0-1160.119.1.el7.x86_64", "#1 SMP Tue Jun 4 14:43:51 UTC 2024"},
		},
	},
	{
		Slug: "alpine", PrettyName: "Alpine Linux v3.19", Family: FamilyAlpine, Style: HostnameMinimal,
		OSRelease: `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
`,
		Issue: "Welcome to Alpine Linux 3.19\nKernel \\r on an \\m (\\l)\n\n",
		Kernels: []Kernel{
			{"6.6.14-0-lts", "#1-Alpine SMP PREEMPT_DYNAMIC Fri, 26 Jan 2024 11:08:07 +0000"},
			{"6.6.22-0-lts", "#1-Alpine SMP PREEMPT_DYNAMIC Sun, 17 Mar 2024 13:36:06 +0000"},
		},
	},
	{
		Slug: "fedora", PrettyName: "Fedora Linux 39 (Server Edition)", Family: FamilyRHEL, Style: HostnameRHEL,
		OSRelease: `NAME="Fedora Linux"
VERSION="39 (Server Edition)"
ID=fedora
VERSION_ID=39
VERSION_CODENAME=""
PLATFORM_ID="platform:f39"
PRETTY_NAME="Fedora Linux 39 (Server Edition)"
ANSI_COLOR="0;38;2;60;110;180"
LOGO=fedora-logo-icon
CPE_NAME="cpe:/o:fedoraproject:fedora:39"
HOME_URL="https://fedoraproject.org/"
SUPPORT_URL="https://ask.fedoraproject.org/"
BUG_REPORT_URL="https://bugzilla.redhat.com/"
REDHAT_BUGZILLA_PRODUCT="Fedora"
REDHAT_BUGZILLA_PRODUCT_VERSION=39
REDHAT_SUPPORT_PRODUCT="Fedora"
REDHAT_SUPPORT_PRODUCT_VERSION=39
SUPPORT_END=2024-11-12
VARIANT="Server Edition"
VARIANT_ID=server
`,
		Issue: "\\S\nKernel \\r on \\m (\\l)\n\n",
		Kernels: []Kernel{
			{"6.7.5-200.fc39.x86_64", "#1 SMP PREEMPT_DYNAMIC Sat Feb 17 17:53:08 UTC 2024"},
			{"6.8.9-200.fc39.x86_64", "#1 SMP PREEMPT_DYNAMIC Thu May 2 18:50:49 UTC 2024"},
		},
	},
	{
		Slug: "kali", PrettyName: "Kali GNU/Linux Rolling", Family: FamilyDebian, Style: HostnameRolling,
		OSRelease: `PRETTY_NAME="Kali GNU/Linux Rolling"
NAME="Kali GNU/Linux"
VERSION_ID="2024.1"
VERSION="2024.1"
VERSION_CODENAME=kali-rolling
ID=kali
ID_LIKE=debian
HOME_URL="https://www.kali.org/"
SUPPORT_URL="https://forums.kali.org/"
BUG_REPORT_URL="https://bugs.kali.org/"
ANSI_COLOR="1;31"
`,
		Issue: "Kali GNU/Linux Rolling \\n \\l\n\n",
		Kernels: []Kernel{
			{"6.6.9-amd64", "#1 SMP PREEMPT_DYNAMIC Kali 6.6.9-1kali1 (2024-01-08)"},
			{"6.6.15-amd64", "#1 SMP PREEMPT_DYNAMIC Kali 6.6.15-2kali1 (2024-05-17)"},
		},
	},
	{
		Slug: "arch", PrettyName: "Arch Linux", Family: FamilyArch, Style: HostnameRolling,
		OSRelease: `NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
ANSI_COLOR="38;2;23;147;209"
HOME_URL="https://archlinux.org/"
DOCUMENTATION_URL="https://wiki.archlinux.org/"
SUPPORT_URL="https://bbs.archlinux.org/"
BUG_REPORT_URL="https://gitlab.archlinux.org/groups/archlinux/-/issues"
PRIVACY_POLICY_URL="https://terms.archlinux.org/docs/privacy-policy/"
LOGO=archlinux-logo
`,
		Issue: "Arch Linux \\r (\\l)\n\n",
		Kernels: []Kernel{
			{"6.7.4-arch1-1", "#1 SMP PREEMPT_DYNAMIC Mon, 05 Feb 2024 22:07:49 +0000"},
			{"6.8.9-arch1-2", "#1 SMP PREEMPT_DYNAMIC Sun, 05 May 2024 14:52:48 +0000"},
			{"6.9.7-arch1-1", "#1 SMP PREEMPT_DYNAMIC Fri, 28 Jun 2024 04:32:50 +0000"},
		},
	},
}

// Distros returns every distro in catalogue order. The slices are copies.
func Distros() []Distro {
	out := make([]Distro, len(distros))
	for i, d := range distros {
		out[i] = d.clone()
	}
	return out
}

// DistroSlugs returns the distro slugs in catalogue order.
func DistroSlugs() []string {
	slugs := make([]string, len(distros))
	for i, d := range distros {
		slugs[i] = d.Slug
	}
	return slugs
}

// LookupDistro returns the distro with the given slug. An unknown slug yields
// an error that lists the valid ones.
func LookupDistro(slug string) (Distro, error) {
	for _, d := range distros {
		if d.Slug == slug {
			return d.clone(), nil
		}
	}
	valid := DistroSlugs()
	slices.Sort(valid)
	return Distro{}, fmt.Errorf("unknown distro %q: valid distros are %s", slug, strings.Join(valid, ", "))
}

func (d Distro) clone() Distro {
	d.Kernels = slices.Clone(d.Kernels)
	return d
}
