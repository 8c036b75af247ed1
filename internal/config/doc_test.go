package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the variable table in docs/configuration.md")

const (
	docPath    = "../../docs/configuration.md"
	tableStart = "<!-- variables:start -->"
	tableEnd   = "<!-- variables:end -->"
)

// renderTable renders Vars as the Markdown table the documentation holds.
func renderTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Meaning |\n|---|---|---|\n")
	for _, v := range Vars {
		b.WriteString("| `" + v.Name + "` | `" + v.Default + "` | " + strings.ReplaceAll(v.Help, "|", `\|`) + " |\n")
	}
	return b.String()
}

// TestConfigurationDocListsEveryVariable keeps docs/configuration.md in
// step with Vars. Run `go test ./internal/config -update` after adding a
// variable.
func TestConfigurationDocListsEveryVariable(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("read %s: %v", docPath, err)
	}
	doc := string(data)
	start := strings.Index(doc, tableStart)
	end := strings.Index(doc, tableEnd)
	if start < 0 || end < start {
		t.Fatalf("%s lacks the %s ... %s markers", docPath, tableStart, tableEnd)
	}
	want := renderTable()
	got := doc[start+len(tableStart)+1 : end]
	if got == want {
		return
	}
	if *update {
		doc = doc[:start+len(tableStart)+1] + want + doc[end:]
		if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the variable table in %s is out of date: run go test ./internal/config -update", docPath)
}

func TestVarsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Vars {
		if !strings.HasPrefix(v.Name, "DECNET_") {
			t.Errorf("variable %s lacks the DECNET_ prefix", v.Name)
		}
		if seen[v.Name] {
			t.Errorf("variable %s listed twice", v.Name)
		}
		seen[v.Name] = true
	}
}

func TestLoadValidation(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"bad subnet", map[string]string{"DECNET_SUBNET": "10.0.0.0/33"}, "DECNET_SUBNET"},
		{"ipv6 subnet", map[string]string{"DECNET_SUBNET": "::1/128"}, "DECNET_SUBNET"},
		{"bad deckies", map[string]string{"DECNET_DECKIES": "many"}, "DECNET_DECKIES"},
		{"bad ports", map[string]string{"DECNET_PORTS": "ssh=99999"}, "DECNET_PORTS"},
		{"bad db type", map[string]string{"DECNET_DB_TYPE": "oracle"}, "DECNET_DB_TYPE"},
		{"bad host id", map[string]string{"DECNET_HOST_ID": "a b"}, "DECNET_HOST_ID"},
		{"bad bus url", map[string]string{"DECNET_BUS_URL": "localhost"}, "DECNET_BUS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Load: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Load error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DBPath != "decnet-data/decnet.db" || cfg.Subnet.String() != "127.77.0.0/24" || cfg.Deckies != 3 || cfg.HostID != "local" {
		t.Errorf("defaults = %+v", cfg)
	}
}
