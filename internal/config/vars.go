package config

// Var describes one DECNET_* environment variable: its name, its default as
// the user would write it, and what it sets. Vars is the single list that
// docs/configuration.md is checked against.
type Var struct {
	Name    string
	Default string
	Help    string
}

// Vars lists every environment variable decnet reads. Add new variables here;
// a test fails when docs/configuration.md does not describe one of them.
var Vars = []Var{
	{"DECNET_DATA_DIR", "./decnet-data", "Directory for the database, the bus store, decky filesystems, the state file and secrets."},
	{"DECNET_LOG_FORMAT", "text", "Log format on stderr: text or json."},
	{"DECNET_LOG_LEVEL", "info", "Minimum log level: debug, info, warn or error."},
	{"DECNET_BUS_URL", "(embedded)", "NATS URL every worker connects to, such as nats://127.0.0.1:4222. Empty inside `decnet up` means the in-process embedded server."},
	{"DECNET_BUS_LISTEN", "127.0.0.1:4222", "Address the embedded NATS server listens on (`decnet bus`, and `decnet up` for outside workers). Set to `none` to accept in-process clients only."},
	{"DECNET_DB_TYPE", "sqlite", "Database backend. Only sqlite is implemented."},
	{"DECNET_DB_PATH", "<data dir>/decnet.db", "Path of the SQLite database."},
	{"DECNET_HOST_ID", "local", "Name of this host in fleet_deckies rows and decky bus subjects."},
	{"DECNET_SUBNET", "127.77.0.0/24", "Subnet decky addresses are allocated from. The native driver needs a range inside 127.0.0.0/8."},
	{"DECNET_DECKIES", "3", "Number of deckies `decnet up` deploys on an empty data directory."},
	{"DECNET_PORTS", "(service defaults)", "Port overrides per service, such as ssh=2222,http=8080, for hosts where the default ports are taken."},
	{"DECNET_API_ADDR", "127.0.0.1:8000", "Address the REST API listens on (`decnet api`, `decnet up`); overridden by --api-addr."},
	{"DECNET_ADMIN_PASSWORD", "(generated)", "Password of the admin account created on first start (12 to 72 bytes). When unset a strong one is generated, printed once and must be changed at first login."},
	{"DECNET_JWT_SECRET", "(generated)", "HS256 signing secret of API tokens, at least 32 bytes. When unset a random one is kept in <data dir>/jwt.secret with mode 0600."},
	{"DECNET_JWT_TTL", "4h", "Lifetime of an API access token, as a Go duration such as 30m or 8h."},
	{"DECNET_SSE_MAX_PER_USER", "5", "Maximum concurrent event streams per API user; the next one is answered 429."},
	{"DECNET_WEBHOOK_CONFIG", "(none)", "YAML file of webhook and syslog egress targets read by `decnet webhook` and the API."},
	{"DECNET_WEBHOOK_ALLOW_PRIVATE", "false", "Allow egress targets on link-local and cloud metadata addresses, which are rejected by default."},
	{"DECNET_CANARY_HTTP_BASE", "http://<http bind>:<http port>", "Public base URL of the canary HTTP receiver that planted files call back to, such as https://cdn.example.net. Tokens keep the base they were minted with."},
	{"DECNET_CANARY_DNS_ZONE", "(none; cdn-edge.test in `decnet up`)", "Zone the canary DNS receiver is authoritative for; token hosts are <slug>.<zone>. Empty turns DNS tokens off."},
	{"DECNET_CANARY_HTTP_BIND", "127.0.0.1", "Address the canary HTTP receiver listens on."},
	{"DECNET_CANARY_HTTP_PORT", "8088", "Port of the canary HTTP receiver."},
	{"DECNET_CANARY_DNS_BIND", "127.0.0.1", "Address the canary DNS receiver listens on (UDP and TCP)."},
	{"DECNET_CANARY_DNS_PORT", "5354", "Port of the canary DNS receiver; 53 when resolvers on the internet must reach it."},
	{"DECNET_CANARY_BASELINE", "git_config,env_file,honeydoc,aws_creds,ssh_key", "Generators planted in every decky on deploy, comma-separated, or none."},
	{"DECNET_CANARY_TRUSTED_PROXIES", "(none)", "Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client of a canary callback."},
	{"DECNET_CANARY_UPLOAD_MAX", "25MiB", "Largest file the API accepts for a canary blob, in bytes or with a KiB, MiB or GiB suffix."},
}
