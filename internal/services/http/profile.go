package httpsvc

import (
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/decky"
)

// kind names the web server a profile imitates.
type kind int

const (
	kindNginx kind = iota
	kindApache
	kindIIS
)

// profile is the web server a persona runs: its Server header, extra
// headers, index file names and the pages it sends by default and on
// errors.
type profile struct {
	kind       kind
	server     string
	osName     string   // distro name shown on the Apache test page
	extra      []string // header name, value, name, value...
	indexFiles []string
	realm      string // Basic realm on protected paths
}

// nginxVersions and apacheVersions give the Server header of the web server
// package each distro ships (server_tokens on, ServerTokens OS).
var nginxVersions = map[string]string{
	"debian":   "nginx/1.22.1",
	"ubuntu22": "nginx/1.18.0 (Ubuntu)",
	"ubuntu20": "nginx/1.18.0 (Ubuntu)",
	"alpine":   "nginx/1.24.0",
	"kali":     "nginx/1.26.0",
	"arch":     "nginx/1.26.1",
}

var apacheVersions = map[string][2]string{
	"rocky9":  {"Apache/2.4.57 (Rocky Linux)", "Rocky Linux"},
	"centos7": {"Apache/2.4.6 (CentOS)", "CentOS"},
	"fedora":  {"Apache/2.4.58 (Fedora Linux)", "Fedora"},
}

// profileFor picks the web server of a persona: IIS 10.0 on Windows
// personas, Apache httpd on the RHEL family, nginx elsewhere.
func profileFor(persona decky.Persona, distro string) profile {
	if persona.IsWindows() {
		return profile{
			kind:       kindIIS,
			server:     "Microsoft-IIS/10.0",
			extra:      []string{"X-Powered-By", "ASP.NET"},
			indexFiles: []string{"Default.htm", "Default.asp", "index.htm", "index.html", "iisstart.htm", "default.aspx"},
		}
	}
	if v, ok := apacheVersions[distro]; ok {
		return profile{kind: kindApache, server: v[0], osName: v[1], indexFiles: []string{"index.html"}, realm: "Restricted Area"}
	}
	server, ok := nginxVersions[distro]
	if !ok {
		server = nginxVersions["debian"]
	}
	return profile{kind: kindNginx, server: server, indexFiles: []string{"index.html", "index.htm"}, realm: "Restricted"}
}

// setHeaders sets the headers every response of the profile carries.
// Header names are set as the server spells them (ETag, not Etag).
//
// NOTE: net/http writes headers sorted by name, but nginx sends Server
// first and IIS sends Content-Type first. A client that fingerprints header
// order can tell the emulator apart.
func (p profile) setHeaders(h http.Header, now time.Time) {
	h["Server"] = []string{p.server}
	h["Date"] = []string{now.UTC().Format(http.TimeFormat)}
	for i := 0; i+1 < len(p.extra); i += 2 {
		h[p.extra[i]] = []string{p.extra[i+1]}
	}
	if p.kind == kindNginx {
		h["Connection"] = []string{"keep-alive"}
	}
}

// etag formats a file's entity tag the way the server does: nginx uses
// hex mtime-size, Apache hex size-mtime in microseconds, IIS a hex
// FILETIME with a change number.
func (p profile) etag(mod time.Time, size int64) string {
	switch p.kind {
	case kindApache:
		return fmt.Sprintf(`"%x-%x"`, size, mod.UnixMicro())
	case kindIIS:
		const filetimeEpochOffset = 116444736000000000 // 100 ns ticks from 1601 to 1970
		return fmt.Sprintf(`"%x:0"`, mod.UnixNano()/100+filetimeEpochOffset)
	default:
		return fmt.Sprintf(`"%x-%x"`, mod.Unix(), size)
	}
}

// errorPage returns the content type and body the server sends with an
// error status. method is quoted by Apache's 405 and 501 pages.
func (p profile) errorPage(status int, method string) (string, string) {
	switch p.kind {
	case kindApache:
		return "text/html; charset=iso-8859-1", apacheErrorPage(status, method)
	case kindIIS:
		return "text/html", iisErrorPage(status)
	default:
		return "text/html", nginxErrorPage(status, "", p.server)
	}
}

func nginxStatusLine(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "401 Authorization Required"
	case http.StatusMethodNotAllowed:
		return "405 Not Allowed"
	case http.StatusMovedPermanently:
		return "301 Moved Permanently"
	}
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

func nginxErrorPage(status int, detail, server string) string {
	title := nginxStatusLine(status)
	heading := title
	if detail != "" {
		title = fmt.Sprintf("%d %s", status, detail)
	}
	var b strings.Builder
	b.WriteString("<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n")
	b.WriteString("<center><h1>" + heading + "</h1></center>\r\n")
	if detail != "" {
		b.WriteString("<center>" + detail + "</center>\r\n")
	}
	b.WriteString("<hr><center>" + server + "</center>\r\n</body>\r\n</html>\r\n")
	return b.String()
}

func apacheErrorPage(status int, method string) string {
	text := http.StatusText(status)
	var msg string
	switch status {
	case http.StatusNotFound:
		msg = "<p>The requested URL was not found on this server.</p>"
	case http.StatusForbidden:
		msg = "<p>You don't have permission to access this resource.</p>"
	case http.StatusUnauthorized:
		text = "Unauthorized"
		msg = "<p>This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn't understand how to supply\nthe credentials required.</p>"
	case http.StatusMethodNotAllowed:
		msg = "<p>The requested method " + htmlEscape(method) + " is not allowed for this URL.</p>"
	case http.StatusBadRequest:
		msg = "<p>Your browser sent a request that this server could not understand.<br />\n</p>"
	case http.StatusNotImplemented:
		msg = "<p>" + htmlEscape(method) + " not supported for current URL.<br />\n</p>"
	default:
		msg = "<p>The server encountered an internal error or\nmisconfiguration and was unable to complete\nyour request.</p>"
	}
	return fmt.Sprintf("<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>%d %s</title>\n</head><body>\n<h1>%s</h1>\n%s\n</body></html>\n",
		status, text, text, msg)
}

func iisErrorPage(status int) string {
	var heading, detail string
	switch status {
	case http.StatusNotFound:
		heading = "404 - File or directory not found."
		detail = "The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable."
	case http.StatusForbidden:
		heading = "403 - Forbidden: Access is denied."
		detail = "You do not have permission to view this directory or page using the credentials that you supplied."
	case http.StatusUnauthorized:
		heading = "401 - Unauthorized: Access is denied due to invalid credentials."
		detail = "You do not have permission to view this directory or page using the credentials that you supplied."
	case http.StatusMethodNotAllowed:
		heading = "405 - HTTP verb used to access this page is not allowed."
		detail = "The page you are looking for cannot be displayed because an invalid method (HTTP verb) was used to attempt access."
	default:
		heading = "500 - Internal server error."
		detail = "There is a problem with the resource you are looking for, and it cannot be displayed."
	}
	return `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>` + heading + `</title>
<style type="text/css">
<!--
body{margin:0;font-size:.7em;font-family:Verdana, Arial, Helvetica, sans-serif;background:#EEEEEE;}
fieldset{padding:0 15px 10px 15px;}
h1{font-size:2.4em;margin:0;color:#FFF;}
h2{font-size:1.7em;margin:0;color:#CC0000;}
h3{font-size:1.2em;margin:10px 0 0 0;color:#000000;}
#header{width:96%;margin:0 0 0 0;padding:6px 2% 6px 2%;font-family:"trebuchet MS", Verdana, sans-serif;color:#FFF;
background-color:#555555;}
#content{margin:0 0 0 2%;position:relative;}
.content-container{background:#FFF;width:96%;margin-top:8px;padding:10px;position:relative;}
-->
</style>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>` + heading + `</h2>
  <h3>` + detail + `</h3>
 </fieldset></div>
</div>
</body>
</html>
`
}

// defaultPage returns the status and body the server sends for "/" when
// the web root has no index file: the welcome page of a fresh install.
// Apache on the RHEL family sends its test page with status 403.
func (p profile) defaultPage() (int, string) {
	switch p.kind {
	case kindApache:
		return http.StatusForbidden, fmt.Sprintf(`<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HTTP Server Test Page powered by: %[1]s</title>
</head>
<body>
<h1>HTTP Server Test Page</h1>
<p>This page shows that the Apache HTTP server on this %[1]s system works. No content has been published yet.</p>
<p>Site owners: put your files in /var/www/html/ and remove /etc/httpd/conf.d/welcome.conf to hide this page.</p>
<p><a href="https://httpd.apache.org/"><img src="/icons/apache_pb2.gif" alt="[ Powered by Apache ]"></a></p>
</body>
</html>
`, p.osName)
	case kindIIS:
		return http.StatusOK, `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1" />
<title>IIS Windows Server</title>
<style type="text/css">
<!--
body {
	color:#000000;
	background-color:#0072C6;
	margin:0;
}

#container {
	margin-left:auto;
	margin-right:auto;
	text-align:center;
	}

a img {
	border:none;
}

-->
</style>
</head>
<body>
<div id="container">
<a href="http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409"><img src="iisstart.png" alt="IIS" width="960" height="600" /></a>
</div>
</body>
</html>`
	default:
		return http.StatusOK, `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>The nginx web server on this host is installed and running. The site has
not been configured yet.</p>

<p>Documentation is available at
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>
</body>
</html>
`
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// contentType returns the Content-Type the server sends for a file name:
// nginx and IIS send bare types from their MIME maps, Apache on the RHEL
// family adds charset=UTF-8 to text (AddDefaultCharset UTF-8).
func (p profile) contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	t, ok := mimeTypes[ext]
	if !ok {
		if p.kind == kindNginx {
			return "application/octet-stream"
		}
		t = "text/plain"
	}
	if p.kind == kindApache && strings.HasPrefix(t, "text/") {
		return t + "; charset=UTF-8"
	}
	return t
}

var mimeTypes = map[string]string{
	".html": "text/html",
	".htm":  "text/html",
	".txt":  "text/plain",
	".css":  "text/css",
	".js":   "application/javascript",
	".json": "application/json",
	".xml":  "text/xml",
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".ico":  "image/x-icon",
	".svg":  "image/svg+xml",
	".pdf":  "application/pdf",
	".zip":  "application/zip",
	".gz":   "application/gzip",
	".tar":  "application/x-tar",
	".sql":  "application/octet-stream",
	".conf": "text/plain",
	".yml":  "text/plain",
	".env":  "text/plain",
}
