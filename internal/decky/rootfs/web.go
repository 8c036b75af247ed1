package rootfs

import (
	"fmt"
	"strings"

	"github.com/decnet/decnet/internal/decky"
)

// webServer adds the web root and the web server's configuration for the
// server the persona runs: nginx on Debian-like, Alpine and Arch distros,
// Apache httpd on the RHEL family.
func (t *tree) webServer() {
	root := User{}
	webRoot := WebRoot(t.d)
	t.dir(webRoot, 0o755, root, t.soon(10))
	t.file(webRoot+"/index.html", t.indexPage(), 0o644, root, t.recent(90))

	switch t.dist.Family {
	case decky.FamilyRHEL:
		t.file("/etc/httpd/conf/httpd.conf", apacheConfig, 0o644, root, t.soon(5))
		t.file("/etc/httpd/conf.d/app.conf", fmt.Sprintf(apacheVhost, t.d.Hostname), 0o644, root, t.soon(60))
	case decky.FamilyAlpine:
		t.file("/etc/nginx/nginx.conf", fmt.Sprintf(nginxConfig, "nginx", "/etc/nginx/http.d/*.conf"), 0o644, root, t.soon(5))
		t.file("/etc/nginx/http.d/default.conf", fmt.Sprintf(nginxSite, webRoot, t.d.Hostname), 0o644, root, t.soon(60))
	case decky.FamilyArch:
		t.file("/etc/nginx/nginx.conf", fmt.Sprintf(nginxConfig, "http", "/etc/nginx/sites-enabled/*"), 0o644, root, t.soon(5))
		t.file("/etc/nginx/sites-enabled/default", fmt.Sprintf(nginxSite, webRoot, t.d.Hostname), 0o644, root, t.soon(60))
	default:
		t.file("/etc/nginx/nginx.conf", fmt.Sprintf(nginxConfig, "www-data", "/etc/nginx/sites-enabled/*"), 0o644, root, t.soon(5))
		t.file("/etc/nginx/sites-available/default", fmt.Sprintf(nginxSite, webRoot, t.d.Hostname), 0o644, root, t.soon(60))
	}
}

func (t *tree) indexPage() string {
	return fmt.Sprintf(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%[1]s Intranet</title>
<style>body{font-family:Arial,sans-serif;margin:40px;color:#333}a{color:#1a5fb4}</style>
</head>
<body>
<h1>%[1]s Intranet</h1>
<p>Internal services. Access is restricted to staff on the corporate network.</p>
<ul>
<li><a href="/wiki/">Team wiki</a></li>
<li><a href="/helpdesk/">IT helpdesk</a></li>
<li><a href="/reports/">Monthly reports</a></li>
</ul>
<p>Problems? Contact the IT team at it-support@%[2]s.local</p>
</body>
</html>
`, t.company, companyDomain(t.company))
}

func companyDomain(company string) string {
	return strings.ToLower(strings.Fields(company)[0])
}

// nginxConfig takes the worker user and the include pattern for sites.
const nginxConfig = `user %s;
worker_processes auto;
pid /run/nginx.pid;

events {
	worker_connections 768;
}

http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;

	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_prefer_server_ciphers on;

	access_log /var/log/nginx/access.log;
	error_log /var/log/nginx/error.log;

	gzip on;

	include %s;
}
`

// nginxSite takes the web root and the server name.
const nginxSite = `server {
	listen 80 default_server;
	listen [::]:80 default_server;

	root %s;
	index index.html index.htm;
	server_name %s;

	location / {
		try_files $uri $uri/ =404;
	}

	location /api/ {
		proxy_pass http://127.0.0.1:8080/;
		proxy_set_header Host $host;
		proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
	}
}
`

const apacheConfig = `ServerRoot "/etc/httpd"
Listen 80
Include conf.modules.d/*.conf
User apache
Group apache
ServerAdmin root@localhost

<Directory />
    AllowOverride none
    Require all denied
</Directory>

DocumentRoot "/var/www/html"
<Directory "/var/www/html">
    Options Indexes FollowSymLinks
    AllowOverride None
    Require all granted
</Directory>

<IfModule dir_module>
    DirectoryIndex index.html
</IfModule>

<Files ".ht*">
    Require all denied
</Files>

ErrorLog "logs/error_log"
LogLevel warn
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined
CustomLog "logs/access_log" combined

AddDefaultCharset UTF-8
EnableSendfile on
IncludeOptional conf.d/*.conf
`

// apacheVhost takes the server name.
const apacheVhost = `<VirtualHost *:80>
    ServerName %s
    DocumentRoot /var/www/html
    ProxyPass /api/ http://127.0.0.1:8080/
    ProxyPassReverse /api/ http://127.0.0.1:8080/
</VirtualHost>
`
