package decky

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// hostnameWords are the words hostnames are built from: short, neutral
// names of the kind administrators give servers.
var hostnameWords = [25]string{
	"atlas", "beacon", "cedar", "delta", "ember",
	"falcon", "granite", "harbor", "ion", "juniper",
	"keystone", "lumen", "maple", "nimbus", "onyx",
	"pioneer", "quartz", "raven", "summit", "tundra",
	"umber", "vector", "willow", "xenon", "zephyr",
}

// GenerateHostname returns a hostname in the given style, drawing the word
// and the two-digit number (10 to 99) from r. An unknown style falls back
// to generic.
func GenerateHostname(style HostnameStyle, r *rand.Rand) string {
	word := hostnameWords[r.IntN(len(hostnameWords))]
	number := 10 + r.IntN(90)

	switch style {
	case HostnameRHEL:
		return fmt.Sprintf("%s%d.localdomain", word, number)
	case HostnameMinimal:
		return fmt.Sprintf("%s-%d", word, number)
	case HostnameRolling:
		second := hostnameWords[r.IntN(len(hostnameWords)-1)]
		if second == word {
			second = hostnameWords[len(hostnameWords)-1]
		}
		return word + "-" + second
	default:
		return fmt.Sprintf("SRV-%s-%d", strings.ToUpper(word), number)
	}
}
