package shell

import (
	"context"
	"net"
	"net/url"
	"strings"
)

// wget and curl record the URLs they are given and fail as a host without
// outbound access would. They never resolve a name or open a connection.
var netCommands = map[string]builtin{
	"wget": cmdWget,
	"curl": cmdCurl,
}

// fetchArgs describes the options of a download tool that take a value, so
// their values are not mistaken for URLs.
type fetchArgs struct {
	shortWithValue string
	longWithValue  []string
	urlOptions     []string // options whose value is a URL
}

var (
	wgetArgs = fetchArgs{
		shortWithValue: "OoPUtTaeiBYw",
		longWithValue: []string{"--output-document", "--output-file", "--user-agent", "--header",
			"--tries", "--timeout", "--directory-prefix", "--post-data", "--post-file",
			"--user", "--password", "--append-output", "--wait", "--referer", "--load-cookies",
			"--save-cookies", "--input-file", "--base", "--execute"},
	}
	curlArgs = fetchArgs{
		shortWithValue: "oHdAuXexTFbcrmwyYKEUzCQt",
		longWithValue: []string{"--output", "--header", "--data", "--data-binary", "--data-raw",
			"--data-urlencode", "--user-agent", "--user", "--request", "--proxy", "--connect-timeout",
			"--max-time", "--referer", "--cookie", "--cookie-jar", "--form", "--upload-file",
			"--retry", "--config", "--cert", "--key", "--resolve", "--write-out", "--output-dir"},
		urlOptions: []string{"--url"},
	}
)

// urls returns the URL operands of a download command line and the short
// flags it carries.
func (fa fetchArgs) urls(args []string) (urls []string, flags map[byte]bool) {
	flags = map[byte]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-" || !strings.HasPrefix(a, "-"):
			urls = append(urls, a)
		case strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a, "=")
			isURL := contains(fa.urlOptions, name)
			if !hasValue && (isURL || contains(fa.longWithValue, name)) && i+1 < len(args) {
				i++
				value = args[i]
			}
			if isURL {
				urls = append(urls, value)
			}
		default:
			for j := 1; j < len(a); j++ {
				flags[a[j]] = true
				if strings.IndexByte(fa.shortWithValue, a[j]) >= 0 {
					if j == len(a)-1 && i+1 < len(args) {
						i++
					}
					break
				}
			}
		}
	}
	return urls, flags
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// target returns the host and port a URL names, defaulting to http.
func target(raw string) (host, port string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		u, err = url.Parse("http://" + raw)
		if err != nil {
			return raw, "80"
		}
	}
	port = u.Port()
	if port == "" {
		port = "80"
		switch u.Scheme {
		case "https":
			port = "443"
		case "ftp":
			port = "21"
		}
	}
	return u.Hostname(), port
}

func cmdWget(_ context.Context, s *Shell, in *invocation) int {
	urls, flags := wgetArgs.urls(in.args[1:])
	in.rec.URLs = urls
	if len(urls) == 0 {
		in.err("wget: missing URL\nUsage: wget [OPTION]... [URL]...\n\nTry `wget --help' for more options.\n")
		return 1
	}

	quiet := flags['q']
	status := 0
	for _, raw := range urls {
		host, port := target(raw)
		shown := raw
		if !strings.Contains(raw, "://") {
			shown = "http://" + raw
		}
		if !quiet {
			in.err("--%s--  %s\n", s.env.Now().Format("2006-01-02 15:04:05"), shown)
		}
		if net.ParseIP(host) != nil {
			if !quiet {
				in.err("Connecting to %s:%s... failed: Connection timed out.\nRetrying.\n\n", host, port)
			}
			status = 4
			continue
		}
		if !quiet {
			in.err("Resolving %s (%s)... failed: Temporary failure in name resolution.\n", host, host)
			in.err("wget: unable to resolve host address '%s'\n", host)
		}
		status = 4
	}
	return status
}

func cmdCurl(_ context.Context, s *Shell, in *invocation) int {
	urls, flags := curlArgs.urls(in.args[1:])
	in.rec.URLs = urls
	if len(urls) == 0 {
		in.err("curl: try 'curl --help' or 'curl --manual' for more information\n")
		return 2
	}

	silent := flags['s'] && !flags['S']
	host, port := target(urls[0])
	if net.ParseIP(host) != nil {
		if !silent {
			in.err("curl: (28) Failed to connect to %s port %s after 130003 ms: Couldn't connect to server\n", host, port)
		}
		return 28
	}
	if !silent {
		in.err("curl: (6) Could not resolve host: %s\n", host)
	}
	return 6
}
