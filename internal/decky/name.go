package decky

import (
	"fmt"
	"regexp"
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidateName checks a decky name: 1 to 63 characters of lowercase ASCII
// letters, digits and hyphens, not starting with a hyphen. The same rule
// applies everywhere a name is used (state, bus subjects, container names),
// so a name that passes here is safe in all of them.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid decky name %q: use 1 to 63 lowercase letters, digits or hyphens, starting with a letter or digit", name)
	}
	return nil
}
