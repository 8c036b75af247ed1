package generators

import (
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"strings"

	"github.com/decnet/decnet/internal/canary/artifact"
)

// awsCreds writes a shared credentials file with two profiles. The keys
// are well-formed but belong to no account; the token is passive.
type awsCreds struct{}

func (awsCreds) Name() string           { return "aws_creds" }
func (awsCreds) Kinds() []artifact.Kind { return []artifact.Kind{artifact.KindPassive} }

var (
	awsProfiles = []string{"prod", "deploy", "backup", "billing", "ci", "terraform"}
	awsRegions  = []string{"us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-east-2", "ca-central-1"}
	upperBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// awsKeyPair derives an access key id (AKIA + 16 base32 characters, the
// shape of real long-term keys) and a 40-character secret.
func awsKeyPair(tc artifact.Context, label string) (string, string) {
	id := "AKIA" + upperBase32.EncodeToString(derive(tc, "aws-id/"+label))[:16]
	sum := sha512.Sum512(derive(tc, "aws-secret/"+label))
	return id, base64.StdEncoding.EncodeToString(sum[:30])
}

func (awsCreds) Generate(tc artifact.Context) (artifact.Artifact, error) {
	id1, secret1 := awsKeyPair(tc, "default")
	profile := pick(tc, "aws-profile", awsProfiles)
	id2, secret2 := awsKeyPair(tc, profile)

	var b strings.Builder
	fmt.Fprintf(&b, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = us-east-1\n\n", id1, secret1)
	fmt.Fprintf(&b, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = %s\n", profile, id2, secret2, pick(tc, "aws-region", awsRegions))

	return artifact.Artifact{
		MIME:        "text/plain",
		Kind:        artifact.KindPassive,
		Content:     []byte(b.String()),
		Mode:        0o600,
		MtimeOffset: -artifact.Days(14),
		Notes: artifact.Notes{
			What:    "AWS shared credentials file with profiles default and " + profile,
			Trips:   "nothing calls back: the keys are fake, so use shows up only where AWS API calls are observed",
			Clients: []string{"aws CLI", "AWS SDKs", "credential scanners such as trufflehog"},
			Details: []string{"access key ids " + id1 + " and " + id2},
		},
	}, nil
}

// gitConfig writes a repository config whose origin is the callback URL.
type gitConfig struct{}

func (gitConfig) Name() string           { return "git_config" }
func (gitConfig) Kinds() []artifact.Kind { return []artifact.Kind{artifact.KindHTTP} }

var (
	gitOrgs  = []string{"platform", "infra", "backend", "ops", "payments"}
	gitRepos = []string{"billing-api", "deploy-scripts", "terraform-prod", "auth-service", "data-pipeline", "customer-portal"}
)

func (gitConfig) Generate(tc artifact.Context) (artifact.Artifact, error) {
	url := tc.CallbackURL(pick(tc, "git-org", gitOrgs), pick(tc, "git-repo", gitRepos)+".git")
	content := "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n" +
		"[remote \"origin\"]\n\turl = " + url + "\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n" +
		"[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n"

	return artifact.Artifact{
		MIME:        "text/plain",
		Kind:        artifact.KindHTTP,
		Content:     []byte(content),
		Mode:        0o644,
		MtimeOffset: -artifact.Days(30),
		Notes: artifact.Notes{
			What:    "git repository config (.git/config) with an HTTP origin remote",
			Trips:   "git fetch, pull or clone of origin: git requests <url>/info/refs?service=git-upload-pack",
			Clients: []string{"git", "IDEs and tools that refresh remotes"},
			Details: []string{"origin url=" + url},
		},
	}, nil
}

// envFile writes a dotenv file whose API and webhook URLs are the callback.
type envFile struct{}

func (envFile) Name() string           { return "env_file" }
func (envFile) Kinds() []artifact.Kind { return []artifact.Kind{artifact.KindHTTP} }

var envServices = []string{"orders", "billing", "accounts", "inventory", "checkout"}

func (envFile) Generate(tc artifact.Context) (artifact.Artifact, error) {
	service := pick(tc, "env-service", envServices)
	host := tc.Decky
	if host == "" {
		host = service + "-01"
	}
	api := tc.CallbackURL("api", "v2")
	hook := tc.CallbackURL("hooks", "deploy")
	secret := func(label string, n int) string { return hex.EncodeToString(derive(tc, "env/"+label))[:n] }

	lines := []string{
		"# " + service + " service, production",
		"APP_ENV=production",
		"APP_NAME=" + service,
		"APP_HOST=" + host,
		"PORT=8080",
		"LOG_LEVEL=info",
		"",
		"API_BASE_URL=" + api,
		"API_TOKEN=" + secret("api", 40),
		"DEPLOY_WEBHOOK_URL=" + hook,
		"",
		"DATABASE_URL=postgres://" + service + ":" + secret("db", 24) + "@db.internal:5432/" + service + "_production",
		"REDIS_URL=redis://:" + secret("redis", 16) + "@redis.internal:6379/0",
		"JWT_SECRET=" + secret("jwt", 64),
		"SMTP_HOST=smtp.internal",
		"SMTP_PASSWORD=" + secret("smtp", 20),
	}

	return artifact.Artifact{
		MIME:        "text/plain",
		Kind:        artifact.KindHTTP,
		Content:     []byte(strings.Join(lines, "\n") + "\n"),
		Mode:        0o600,
		MtimeOffset: -artifact.Days(7),
		Notes: artifact.Notes{
			What:    "dotenv file of a production service with database, cache and API secrets",
			Trips:   "a request to API_BASE_URL or DEPLOY_WEBHOOK_URL (any path below them)",
			Clients: []string{"curl", "browsers", "scripts that load the file and call the API"},
			Details: []string{"API_BASE_URL=" + api, "DEPLOY_WEBHOOK_URL=" + hook},
		},
	}, nil
}

// htmlReport writes an HTML report that loads a 1×1 image from the
// callback URL.
type htmlReport struct{}

func (htmlReport) Name() string           { return "honeydoc" }
func (htmlReport) Kinds() []artifact.Kind { return []artifact.Kind{artifact.KindHTTP} }

func (htmlReport) Generate(tc artifact.Context) (artifact.Artifact, error) {
	r := newReport(tc)
	url := tc.CallbackURL()

	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<meta name=\"author\" content=\"%s\">\n<title>%s</title>\n", html.EscapeString(r.Author), html.EscapeString(r.Title))
	b.WriteString("<style>body{font-family:Arial,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 10px}</style>\n</head>\n<body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p><em>%s, %s. %s</em></p>\n", html.EscapeString(r.Title), html.EscapeString(r.Company), r.Date.Format("2 January 2006"), html.EscapeString(r.Status))
	for _, p := range r.Paragraphs {
		fmt.Fprintf(&b, "<p>%s</p>\n", html.EscapeString(p))
	}
	b.WriteString("<table>\n<tr>")
	for _, h := range r.Header {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>\n")
	for _, row := range r.Rows {
		b.WriteString("<tr>")
		for _, c := range row {
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	fmt.Fprintf(&b, "</table>\n<p>Questions: <a href=\"mailto:%s\">%s</a></p>\n", r.Contact, r.Contact)
	fmt.Fprintf(&b, "<img src=\"%s\" width=\"1\" height=\"1\" alt=\"\" style=\"border:0\">\n</body>\n</html>\n", html.EscapeString(url))

	return artifact.Artifact{
		MIME:        "text/html",
		Kind:        artifact.KindHTTP,
		Content:     []byte(b.String()),
		Mode:        0o644,
		MtimeOffset: -artifact.Days(21),
		Notes: artifact.Notes{
			What:    "HTML report \"" + r.Title + "\" with a 1x1 image",
			Trips:   "opening the page in a browser, which loads the image from the callback URL",
			Clients: []string{"web browsers", "HTML mail clients with remote images enabled", "file manager previews"},
			Details: []string{"image src=" + url},
		},
	}, nil
}
