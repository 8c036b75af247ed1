package rootfs

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/decnet/decnet/internal/decky"
)

// User is an account on a decky: root (or Administrator on Windows) and
// the people who log in to it. System accounts such as daemon or www-data
// are not listed; they exist only in /etc/passwd.
type User struct {
	Name     string
	FullName string // empty for role accounts and root
	UID      int
	GID      int
	// Home is the home directory inside the decky, such as /home/jsmith
	// or C:/Users/jsmith.
	Home string
	// Shell is the login shell; empty on Windows.
	Shell string
}

var firstNames = []string{
	"james", "mary", "robert", "linda", "michael", "sarah", "david", "karen",
	"daniel", "nancy", "thomas", "laura", "kevin", "emily", "brian", "anna",
	"jason", "julia", "eric", "helen", "peter", "sofia", "mark", "irene",
}

var lastNames = []string{
	"smith", "johnson", "miller", "garcia", "wilson", "moore", "taylor",
	"anderson", "thomas", "jackson", "white", "harris", "martin", "clark",
	"lewis", "walker", "young", "allen", "wright", "scott", "baker", "nelson",
}

var roleAccounts = []string{"deploy", "backup", "devops", "svc_app", "ansible", "jenkins", "admin"}

// Users returns the accounts of d: root (Administrator on Windows) first,
// then 2 to 4 named accounts chosen by the decky's seed. The result is the
// same on every call for the same decky.
func Users(d decky.Decky) []User {
	r := d.Rand("users")
	n := 2 + r.IntN(3)
	style := r.IntN(3)
	withRole := r.IntN(3) == 0

	names := make(map[string]bool)
	type person struct{ name, full string }
	var people []person
	for len(people) < n {
		if withRole && len(people) == n-1 {
			role := roleAccounts[r.IntN(len(roleAccounts))]
			if d.Persona.IsWindows() && role == "admin" {
				role = "svc_backup"
			}
			if !names[role] {
				names[role] = true
				people = append(people, person{name: role})
			}
			withRole = false
			continue
		}
		first := firstNames[r.IntN(len(firstNames))]
		last := lastNames[r.IntN(len(lastNames))]
		name := username(style, first, last)
		if names[name] {
			continue
		}
		names[name] = true
		people = append(people, person{name: name, full: title(first) + " " + title(last)})
	}

	if d.Persona.IsWindows() {
		users := []User{{Name: "Administrator", UID: 500, GID: 513, Home: "C:/Users/Administrator"}}
		for i, p := range people {
			users = append(users, User{Name: p.name, FullName: p.full, UID: 1001 + i, GID: 513, Home: "C:/Users/" + p.name})
		}
		return users
	}

	shell := loginShell(d)
	users := []User{{Name: "root", UID: 0, GID: 0, Home: "/root", Shell: shell}}
	for i, p := range people {
		users = append(users, User{Name: p.name, FullName: p.full, UID: 1000 + i, GID: 1000 + i, Home: "/home/" + p.name, Shell: shell})
	}
	return users
}

func username(style int, first, last string) string {
	switch style {
	case 0:
		return first
	case 1:
		return first[:1] + last
	default:
		return first + "." + last
	}
}

func title(s string) string {
	return strings.ToUpper(s[:1]) + s[1:]
}

func loginShell(d decky.Decky) string {
	if family(d) == decky.FamilyAlpine {
		return "/bin/ash"
	}
	return "/bin/bash"
}

func family(d decky.Decky) decky.Family {
	dist, err := decky.LookupDistro(d.Distro)
	if err != nil {
		return decky.FamilyDebian
	}
	return dist.Family
}

// randomString draws n characters from alphabet.
func randomString(r *rand.Rand, alphabet string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// fakePassword returns a password of the kind administrators write into
// config files: a word, digits and a symbol.
func fakePassword(r *rand.Rand) string {
	words := []string{"Summer", "Winter", "Harbor", "Falcon", "Welcome", "Company", "Server", "Backup"}
	symbols := "!@#$%"
	return fmt.Sprintf("%s%d%c", words[r.IntN(len(words))], 2018+r.IntN(8), symbols[r.IntN(len(symbols))])
}
