package e2e

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// loginWithGoClient logs in from src with golang.org/x/crypto/ssh and
// algorithm lists OpenSSH does not offer in that order, so its HASSH
// differs from the OpenSSH client's.
func loginWithGoClient(t *testing.T, src, addr, password, command string) {
	t.Helper()
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 20 * time.Second}
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Config: ssh.Config{
			KeyExchanges: []string{"ecdh-sha2-nistp256", "curve25519-sha256"},
			Ciphers:      []string{"aes128-ctr", "aes256-ctr"},
			MACs:         []string{"hmac-sha2-256"},
		},
		Timeout: 20 * time.Second,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		t.Fatalf("ssh handshake from %s: %v", src, err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatalf("ssh session from %s: %v", src, err)
	}
	defer sess.Close()
	if out, err := sess.Output(command); err != nil {
		t.Fatalf("ssh %q from %s: %v (%s)", command, src, err, out)
	}
}

// TestIdentityFromRotatingAddresses logs in to two deckies with the real
// OpenSSH client from three addresses and with another client from a
// fourth. The API must show one identity with the first three and a
// separate one for the fourth.
func TestIdentityFromRotatingAddresses(t *testing.T) {
	f := startFleet(t, "--deckies", "2", "--ports", "ssh=2222,http=8080")
	deckies := f.status(t)
	if len(deckies) != 2 {
		t.Fatalf("status lists %d deckies, want 2", len(deckies))
	}

	sameTool := []string{"127.0.0.51", "127.0.0.52", "127.0.0.53"}
	for i, src := range sameTool {
		d := deckies[i%2]
		res := runSSH(t, src, "root", "toor", d.IP, d.port(t, "ssh"), "id; uname -a")
		if res.err != nil {
			t.Fatalf("ssh from %s: %v\n%s", src, res.err, tail(res.debug, 2000))
		}
	}
	other := "127.0.0.54"
	loginWithGoClient(t, other, fmt.Sprintf("%s:%d", deckies[0].IP, deckies[0].port(t, "ssh")), "toor", "id")

	token := f.apiToken(t)
	type identity struct {
		UUID string `json:"uuid"`
	}
	var groups [][]string
	waitFor(t, 90*time.Second, "the clusterer to form two identities over the four sources", func() bool {
		var page struct {
			Data []identity `json:"data"`
		}
		if code := f.apiGet(t, token, "/api/v1/identities?limit=100", &page); code != 200 {
			return false
		}
		groups = nil
		for _, id := range page.Data {
			var obs struct {
				Data []struct {
					IP string `json:"ip"`
				} `json:"data"`
			}
			f.apiGet(t, token, "/api/v1/identities/"+id.UUID+"/observations?limit=100", &obs)
			var ips []string
			for _, o := range obs.Data {
				ips = append(ips, o.IP)
			}
			sort.Strings(ips)
			groups = append(groups, ips)
		}
		total := 0
		for _, g := range groups {
			total += len(g)
		}
		return total == 4
	})

	sort.Slice(groups, func(i, j int) bool { return len(groups[i]) > len(groups[j]) })
	if len(groups) != 2 || !slices.Equal(groups[0], sameTool) || !slices.Equal(groups[1], []string{other}) {
		t.Errorf("identities group the sources as %v, want %v and [%s]", groups, sameTool, other)
	}

	out := string(f.run(t, "identities"))
	if !strings.Contains(out, "2 of 2 identities") {
		t.Errorf("decnet identities printed:\n%s\nwant two identities", out)
	}
}
