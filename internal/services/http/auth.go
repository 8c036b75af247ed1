package httpsvc

import (
	"encoding/base64"
	"strings"
)

// Secret kinds of HTTP credentials.
const (
	secretPlaintext  = "plaintext"
	secretBearer     = "http_bearer"
	secretDigestMD5  = "http_digest_md5"
	secretDigestHash = "http_digest" // Digest with an algorithm other than MD5
)

// Caps on captured credentials. maxSecretBytes keeps the base64 form within
// services.MaxFieldBytes.
const (
	maxPrincipalBytes = 256
	maxSecretBytes    = 6144
	maxDigestParams   = 32
)

// credential is the decoded content of one Authorization header.
type credential struct {
	scheme   string // basic, bearer or digest
	username string
	secret   []byte
	kind     string
	// malformed is set when the header named a known scheme but its value
	// could not be decoded; secret is then empty.
	malformed bool
	// params contains the Digest parameters other than username and response.
	params map[string]string
}

// parseAuthorization decodes a Basic, Bearer or Digest Authorization header
// value. It reports false for an empty value or another scheme (NTLM,
// Negotiate, AWS4-HMAC-SHA256, ...); those stay visible in the request's
// headers.
func parseAuthorization(value string) (credential, bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(value), " ")
	rest = strings.TrimSpace(rest)

	switch strings.ToLower(scheme) {
	case "basic":
		return parseBasic(rest), true
	case "bearer":
		c := credential{scheme: "bearer", kind: secretBearer, secret: []byte(rest)}
		if rest == "" {
			c.malformed = true
		}
		return c, true
	case "digest":
		return parseDigest(rest), true
	}
	return credential{}, false
}

func parseBasic(token string) credential {
	c := credential{scheme: "basic", kind: secretPlaintext}
	// Clients disagree on padding, so accept both forms.
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(token, "="))
	}
	if err != nil || token == "" {
		c.malformed = true
		return c
	}

	user, pass, found := strings.Cut(string(raw), ":")
	c.username = user
	if found {
		c.secret = []byte(pass)
	}
	return c
}

// parseDigest reads the comma-separated name=value pairs of a Digest
// header, where values are tokens or quoted strings with backslash
// escapes. The captured secret is the response hash.
func parseDigest(s string) credential {
	c := credential{scheme: "digest", kind: secretDigestMD5, params: make(map[string]string)}

	for range maxDigestParams {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			c.malformed = true
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value, remaining := digestValue(strings.TrimLeft(rest, " \t"))
		s = remaining

		switch name {
		case "username":
			c.username = value
		case "response":
			c.secret = []byte(value)
		default:
			if name != "" {
				c.params[name] = value
			}
		}
	}

	if alg := c.params["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") && !strings.EqualFold(alg, "MD5-sess") {
		c.kind = secretDigestHash
	}
	if len(c.secret) == 0 {
		c.malformed = true
	}
	return c
}

// digestValue splits one value off the front of s and returns it with the
// rest of s.
func digestValue(s string) (string, string) {
	if !strings.HasPrefix(s, `"`) {
		value, rest, _ := strings.Cut(s, ",")
		return strings.TrimSpace(value), rest
	}

	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), "" // unterminated quote: take the rest
}

// printable replaces bytes outside 0x20-0x7E with '?', the form credential
// rows show.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
