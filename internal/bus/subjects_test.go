package bus

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateToken(t *testing.T) {
	tests := []struct {
		tok     string
		wantErr bool
	}{
		{"ssh", false},
		{"campaign-clusterer", false},
		{"host-1:web1", false},
		{"~2E", false},
		{"", true},
		{"a.b", true},
		{"*", true},
		{"a*", true},
		{">", true},
		{"a b", true},
		{"a\tb", true},
		{"a\nb", true},
		{"a\x00b", true},
		{"a\x7fb", true},
		{strings.Repeat("a", MaxTokenLen), false},
		{strings.Repeat("a", MaxTokenLen+1), true},
	}
	for _, tt := range tests {
		err := ValidateToken(tt.tok)
		if (err != nil) != tt.wantErr {
			t.Errorf("ValidateToken(%q) = %v, want error %v", tt.tok, err, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Errorf("ValidateToken(%q) = %v, want ErrInvalidToken", tt.tok, err)
		}
	}
}

func TestSubjectBuilders(t *testing.T) {
	tests := []struct {
		name  string
		build func() (string, error)
		want  string
	}{
		{"log", func() (string, error) { return Log("web1", "ssh") }, "log.web1.ssh"},
		{"log dotted decky", func() (string, error) { return Log("web.1", "http") }, "log.web~2E1.http"},
		{"log ipv4 decky", func() (string, error) { return Log("10.0.0.1", "ssh") }, "log.10~2E0~2E0~2E1.ssh"},
		{"log ipv6 decky", func() (string, error) { return Log("fe80::1", "ssh") }, "log.fe80::1.ssh"},
		{"log spaces decky", func() (string, error) { return Log("my box", "ssh") }, "log.my~20box.ssh"},
		{"log empty decky", func() (string, error) { return Log("", "ssh") }, "log.~.ssh"},
		{"log filter", func() (string, error) { return LogFilter("web1") }, "log.web1.>"},
		{"decky state", func() (string, error) { return DeckyState("3f2a", "web1") }, "decky.3f2a:web1.state"},
		{"decky host with colon", func() (string, error) { return DeckyState("a:b", "c:d") }, "decky.a~3Ab:c:d.state"},
		{"decky lifecycle", func() (string, error) { return Decky("h", "n", DeckyLeafLifecycle) }, "decky.h:n.lifecycle"},
		{"system health", func() (string, error) { return SystemHealth("ingester") }, "system.ingester.health"},
		{"system control", func() (string, error) { return SystemControl("campaign-clusterer") }, "system.campaign-clusterer.control"},
		{"canary placed", func() (string, error) { return CanaryPlaced("tok1") }, "canary.tok1.placed"},
		{"canary triggered", func() (string, error) { return CanaryTriggered("tok.1") }, "canary.tok~2E1.triggered"},
		{"canary revoked", func() (string, error) { return CanaryRevoked("tok1") }, "canary.tok1.revoked"},
		{"orchestrator", func() (string, error) { return Orchestrator(OrchestratorEmail, "u-1") }, "orchestrator.email.u-1"},
		{"observation dotted", func() (string, error) { return AttackerObservation("http.user_agent") }, "attacker.observation.http.user_agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.build()
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if strings.HasSuffix(got, ".>") {
				return
			}
			if err := ValidateSubject(got); err != nil {
				t.Errorf("ValidateSubject(%q) = %v", got, err)
			}
		})
	}
}

func TestSubjectBuildersReject(t *testing.T) {
	tests := []struct {
		name  string
		build func() (string, error)
	}{
		{"log dotted service", func() (string, error) { return Log("web1", "s.sh") }},
		{"log empty service", func() (string, error) { return Log("web1", "") }},
		{"log wildcard service", func() (string, error) { return Log("web1", "*") }},
		{"log decky too long", func() (string, error) { return Log(strings.Repeat(".", MaxTokenLen), "ssh") }},
		{"decky empty host", func() (string, error) { return DeckyState("", "web1") }},
		{"decky empty name", func() (string, error) { return DeckyState("h", "") }},
		{"decky bad leaf", func() (string, error) { return Decky("h", "n", "a b") }},
		{"health empty worker", func() (string, error) { return SystemHealth("") }},
		{"health wildcard worker", func() (string, error) { return SystemHealth(">") }},
		{"control dotted worker", func() (string, error) { return SystemControl("a.b") }},
		{"orchestrator spaced kind", func() (string, error) { return Orchestrator("a b", "u") }},
		{"observation empty part", func() (string, error) { return AttackerObservation("http..ua") }},
		{"observation empty", func() (string, error) { return AttackerObservation("") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.build()
			if err == nil {
				t.Fatalf("got %q, want an error", got)
			}
			if got != "" {
				t.Errorf("got subject %q with error %v, want empty", got, err)
			}
		})
	}
}

func TestConstantSubjectsValid(t *testing.T) {
	for _, s := range []string{
		AttackerObserved, AttackerScored, AttackerFingerprinted, AttackerFingerprintRotated,
		AttackerSessionStarted, AttackerSessionEnded, AttackerIntelEnriched,
		CredentialCaptured, CredentialReuseDetected,
		IdentityFormed, IdentityMerged, IdentityUnmerged, IdentityObservationLinked, IdentityCampaignAssigned,
		CampaignFormed, CampaignMerged, CampaignUnmerged, CampaignIdentityAssigned,
		SystemLog, SystemWebhookSubscriptionsChanged,
	} {
		if err := ValidateSubject(s); err != nil {
			t.Errorf("ValidateSubject(%q) = %v", s, err)
		}
	}
}

func TestParseLog(t *testing.T) {
	for _, decky := range []string{"web1", "10.0.0.1", "fe80::1%eth0", "", "~", "a b.c"} {
		subject, err := Log(decky, "ssh")
		if err != nil {
			t.Fatalf("Log(%q): %v", decky, err)
		}
		gotDecky, gotService, err := ParseLog(subject)
		if err != nil {
			t.Fatalf("ParseLog(%q): %v", subject, err)
		}
		if gotDecky != decky || gotService != "ssh" {
			t.Errorf("ParseLog(%q) = %q, %q, want %q, %q", subject, gotDecky, gotService, decky, "ssh")
		}
	}
	for _, bad := range []string{"log.a", "log.a.b.c", "system.a.b", "log.~2e.ssh", "log.~zz.ssh"} {
		if _, _, err := ParseLog(bad); err == nil {
			t.Errorf("ParseLog(%q) succeeded, want an error", bad)
		}
	}
}

func TestParseDeckyID(t *testing.T) {
	tests := []struct{ host, name string }{
		{"3f2a-uuid", "web1"},
		{"a:b", "c:d"},
		{"h~3A", "n.1"},
		{"~", "~3A"},
	}
	for _, tt := range tests {
		id, err := DeckyID(tt.host, tt.name)
		if err != nil {
			t.Fatalf("DeckyID(%q, %q): %v", tt.host, tt.name, err)
		}
		host, name, err := ParseDeckyID(id)
		if err != nil {
			t.Fatalf("ParseDeckyID(%q): %v", id, err)
		}
		if host != tt.host || name != tt.name {
			t.Errorf("ParseDeckyID(%q) = %q, %q, want %q, %q", id, host, name, tt.host, tt.name)
		}
	}
}

func TestStreamFor(t *testing.T) {
	tests := map[string]string{
		"log.web1.ssh":             EventsStream,
		AttackerObserved:           BusStream,
		CredentialCaptured:         BusStream,
		"decky.h:n.state":          BusStream,
		"canary.t.triggered":       BusStream,
		IdentityFormed:             BusStream,
		CampaignIdentityAssigned:   BusStream,
		"orchestrator.file.u":      BusStream,
		"system.ingester.health":   "",
		"system.ingester.control":  "",
		"logs.something":           "",
		"unknown.root.of.the.tree": "",
	}
	for subject, want := range tests {
		if got := StreamFor(subject); got != want {
			t.Errorf("StreamFor(%q) = %q, want %q", subject, got, want)
		}
	}
}

func TestDecodeTokenRejects(t *testing.T) {
	for _, tok := range []string{"", "a.b", "~", "~4", "~2e", "~41", "~3A", "~G0", "a~", "é"} {
		got, err := DecodeToken(tok)
		if tok == "~" {
			if err != nil || got != "" {
				t.Errorf("DecodeToken(%q) = %q, %v, want empty string", tok, got, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("DecodeToken(%q) = %q, want an error", tok, got)
		}
	}
}

func FuzzTokenRoundTrip(f *testing.F) {
	for _, s := range []string{"", "web1", "10.0.0.1", "fe80::1%eth0", "~", "~7E", "a b", "*", ">", "é\x00\xff", "host:name"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := EncodeToken(s)
		if len(tok) <= MaxTokenLen {
			if err := ValidateToken(tok); err != nil {
				t.Fatalf("EncodeToken(%q) = %q, not a valid token: %v", s, tok, err)
			}
		}
		back, err := DecodeToken(tok)
		if err != nil {
			t.Fatalf("DecodeToken(EncodeToken(%q) = %q): %v", s, tok, err)
		}
		if back != s {
			t.Fatalf("DecodeToken(EncodeToken(%q)) = %q", s, back)
		}

		// Any token that decodes must re-encode to itself: one encoding
		// per string.
		if dec, err := DecodeToken(s); err == nil && EncodeToken(dec) != s {
			t.Fatalf("EncodeToken(DecodeToken(%q)) = %q", s, EncodeToken(dec))
		}
	})
}
