package callback

import (
	"bytes"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/canary/slug"
)

// rawRequest sends one HTTP/1.1 request from a chosen loopback source and
// returns the raw response bytes.
func rawRequest(t *testing.T, addr, src, method, target string, headers ...string) []byte {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))

	req := method + " " + target + " HTTP/1.1\r\nHost: cdn.example.test\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	req += "\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read response to %s %s: %v", method, target, err)
	}
	return out
}

func TestTransparentGIFBytes(t *testing.T) {
	want, _ := hex.DecodeString("47494638396101000100800100000000ffffff21f90401000001002c00000000010001000002024401003b")
	if !bytes.Equal(transparentGIF, want) {
		t.Errorf("GIF = %x, want %x", transparentGIF, want)
	}
	if len(transparentGIF) != 43 {
		t.Errorf("GIF is %d bytes, want 43", len(transparentGIF))
	}
}

func TestHTTPResponsesAreIdentical(t *testing.T) {
	tw := startWorker(t)
	known := slug.MustNew()
	plantToken(t, tw.store, known)
	addr := tw.w.HTTPAddr()

	base := rawRequest(t, addr, "", "GET", "/c/"+known)
	if !bytes.HasPrefix(base, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(base, transparentGIF) {
		t.Fatalf("known slug response is not a 200 GIF:\n%q", base)
	}

	cases := []struct{ method, target string }{
		{"GET", "/c/" + slug.MustNew()},
		{"GET", "/c/" + strings.ToUpper(known)},
		{"GET", "/c/" + known + "/"},
		{"GET", "/c/" + known + "/webhook?x=1"},
		{"GET", "/"},
		{"GET", "/docs"},
		{"GET", "/openapi.json"},
		{"GET", "/c/"},
		{"GET", "/c/not-a-slug"},
		{"GET", "/random/" + slug.MustNew() + "/x.png"},
		{"POST", "/c/" + known},
		{"PUT", "/nothing"},
		{"DELETE", "/c/" + known},
		{"OPTIONS", "/c/" + known},
		{"PATCH", "/x"},
		{"BREW", "/c/" + known},
	}
	for _, tc := range cases {
		got := rawRequest(t, addr, "", tc.method, tc.target)
		if diff := cmp.Diff(string(base), string(got)); diff != "" {
			t.Errorf("%s %s differs from the known-slug response (-known +got):\n%s", tc.method, tc.target, diff)
		}
	}

	head := rawRequest(t, addr, "", "HEAD", "/c/"+known)
	if want := bytes.TrimSuffix(base, transparentGIF); !bytes.Equal(head, want) {
		t.Errorf("HEAD response = %q, want the GET headers without body %q", head, want)
	}
	headUnknown := rawRequest(t, addr, "", "HEAD", "/nowhere")
	if !bytes.Equal(head, headUnknown) {
		t.Errorf("HEAD of an unknown path = %q, want %q", headUnknown, head)
	}

	for _, resp := range [][]byte{base, head} {
		lower := strings.ToLower(string(resp))
		for _, tell := range []string{"decnet", "canary", "server:", "date:", "go-http", "golang", "json"} {
			if strings.Contains(lower, tell) {
				t.Errorf("response contains %q:\n%s", tell, resp)
			}
		}
	}
}

func TestHTTPGitRequestsGetAuthChallenge(t *testing.T) {
	tw := startWorker(t)
	known := slug.MustNew()
	tok := plantToken(t, tw.store, known)
	addr := tw.w.HTTPAddr()

	refs := "/c/" + known + "/platform/app.git/info/refs?service=git-upload-pack"
	got := rawRequest(t, addr, "", "GET", refs, "User-Agent: git/2.43.0")
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 401 Unauthorized\r\n")) || !bytes.Contains(got, []byte("Www-Authenticate: Basic realm=")) {
		t.Fatalf("git ref advertisement answered:\n%s", got)
	}
	unknown := rawRequest(t, addr, "", "GET", "/c/"+slug.MustNew()+"/platform/app.git/info/refs?service=git-upload-pack", "User-Agent: git/2.43.0")
	if !bytes.Equal(got, unknown) {
		t.Errorf("git answer for an unknown slug differs:\n%s\nvs\n%s", got, unknown)
	}
	rpc := rawRequest(t, addr, "", "POST", "/c/"+slug.MustNew()+"/a.git/git-upload-pack")
	if !bytes.Equal(got, rpc) {
		t.Errorf("git upload-pack RPC answer differs:\n%s", rpc)
	}

	list := waitTriggers(t, tw.store, tok.UUID, 1)
	if list[0].RequestPath != "/c/"+known+"/platform/app.git/info/refs" || list[0].UserAgent != "git/2.43.0" {
		t.Errorf("git trigger = %+v", list[0])
	}
	if list[0].RequestQuery != "service=git-upload-pack" {
		t.Errorf("request_query = %q", list[0].RequestQuery)
	}
}

func TestHTTPRecordsKnownSlugOnly(t *testing.T) {
	tw := startWorker(t)
	known := slug.MustNew()
	tok := plantToken(t, tw.store, known)
	addr := tw.w.HTTPAddr()

	rawRequest(t, addr, "127.0.0.31", "GET", "/c/"+slug.MustNew())
	rawRequest(t, addr, "127.0.0.31", "GET", "/c/"+strings.ToUpper(known)+"/api/v2?k=1", "User-Agent: Mozilla/5.0 test",
		"X-Forwarded-For: 203.0.113.9, 198.51.100.2")

	list := waitTriggers(t, tw.store, tok.UUID, 1)
	tr := list[0]
	if tr.SrcIP != "127.0.0.31" || !strings.HasPrefix(tr.PeerAddr, "127.0.0.31:") {
		t.Errorf("src = %s peer = %s, want the socket address 127.0.0.31 (X-Forwarded-For from an untrusted peer is evidence only)", tr.SrcIP, tr.PeerAddr)
	}
	if diff := cmp.Diff([]string{"203.0.113.9", "198.51.100.2"}, tr.ForwardedFor); diff != "" {
		t.Errorf("forwarded_for (-want +got):\n%s", diff)
	}
	if tr.UserAgent != "Mozilla/5.0 test" || tr.Method != "GET" || tr.Protocol != "http" {
		t.Errorf("trigger = %+v", tr)
	}
	if got := tr.Headers["Host"]; len(got) != 1 || got[0] != "cdn.example.test" {
		t.Errorf("stored Host header = %v", got)
	}

	evs := tw.waitEvents(t, tok.UUID, 1)
	if evs[0].TriggerID != tr.UUID || evs[0].SrcIP != "127.0.0.31" || evs[0].DeckyName != "decky-01" {
		t.Errorf("triggered event = %+v", evs[0])
	}

	time.Sleep(200 * time.Millisecond)
	var planted, unknownRows int
	toks, _ := tw.store.ListCanaryTokens(t.Context(), sqlstoreFilterAll)
	for _, tk := range toks {
		planted++
		unknownRows += int(tk.TriggerCount)
	}
	if planted != 1 || unknownRows != 1 {
		t.Errorf("%d tokens with %d triggers in all, want 1 and 1 (the unknown slug records nothing)", planted, unknownRows)
	}
}

func TestHTTPTrustedProxyWalksForwardedFor(t *testing.T) {
	tw := startWorker(t, netip.MustParsePrefix("127.0.0.40/32"), netip.MustParsePrefix("10.0.0.0/8"))
	known := slug.MustNew()
	tok := plantToken(t, tw.store, known)

	rawRequest(t, tw.w.HTTPAddr(), "127.0.0.40", "GET", "/c/"+known, "X-Forwarded-For: 1.2.3.4, 198.51.100.77, 10.1.1.1")
	list := waitTriggers(t, tw.store, tok.UUID, 1)
	if list[0].SrcIP != "198.51.100.77" {
		t.Errorf("src = %s, want 198.51.100.77 (the first untrusted hop from the right)", list[0].SrcIP)
	}
	if !strings.HasPrefix(list[0].PeerAddr, "127.0.0.40:") {
		t.Errorf("peer = %s, want the proxy's socket address", list[0].PeerAddr)
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name   string
		remote string
		hops   []string
		want   string
	}{
		{"untrusted peer ignores header", "198.51.100.1:5000", []string{"1.1.1.1"}, "198.51.100.1"},
		{"trusted peer, one hop", "10.0.0.1:5000", []string{"203.0.113.5"}, "203.0.113.5"},
		{"trusted chain", "10.0.0.1:5000", []string{"203.0.113.5", "10.2.2.2", "10.3.3.3"}, "203.0.113.5"},
		{"forged left entry", "10.0.0.1:5000", []string{"6.6.6.6", "203.0.113.5"}, "203.0.113.5"},
		{"garbage stops the walk", "10.0.0.1:5000", []string{"203.0.113.5", "garbage", "10.9.9.9"}, "10.9.9.9"},
		{"trusted peer, no header", "10.0.0.1:5000", nil, "10.0.0.1"},
		{"ipv6 trusted peer", "[::1]:5000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"mapped ipv4", "[::ffff:198.51.100.3]:80", nil, "198.51.100.3"},
		{"no port", "198.51.100.4", nil, "198.51.100.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, peer := ClientAddr(tt.remote, tt.hops, trusted)
			if got.String() != tt.want {
				t.Errorf("ClientAddr(%q, %v) = %s, want %s", tt.remote, tt.hops, got, tt.want)
			}
			if peer != tt.remote {
				t.Errorf("peer = %q, want %q", peer, tt.remote)
			}
		})
	}
	if a, _ := ClientAddr("not an address", nil, nil); a.IsValid() {
		t.Errorf("ClientAddr(garbage) = %s, want invalid", a)
	}
}

func TestParseCallbackPath(t *testing.T) {
	s := slug.MustNew()
	tests := []struct {
		path string
		want string
		ok   bool
	}{
		{"/c/" + s, s, true},
		{"/c/" + strings.ToUpper(s), s, true},
		{"/c/" + s + "/", s, true},
		{"/c/" + s + "/repo.git/info/refs", s, true},
		{"/c/" + s + "x", "", false},
		{"/c/" + s[:25], "", false},
		{"/c//" + s, "", false},
		{"/C/" + s, "", false},
		{"/x/c/" + s, "", false},
		{"c/" + s, "", false},
		{"/c/", "", false},
		{"", "", false},
		{"/c/" + strings.Repeat("1", 26), "", false},
	}
	for _, tt := range tests {
		got, ok := ParseCallbackPath(tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseCallbackPath(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseCallbackPath(f *testing.F) {
	for _, seed := range []string{"/c/abcdefghijklmnopqrstuvwxyz", "/c/abcdefghijklmnopqrstuvwxyz/repo.git/info/refs",
		"/", "/c/", "/c//", "/c/\x00", "/c/ABCDEFGHIJKLMNOPQRSTUVWXYZ/%2e%2e"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, ok := ParseCallbackPath(p)
		if !ok {
			if got != "" {
				t.Fatalf("ParseCallbackPath(%q) = %q with ok false", p, got)
			}
			return
		}
		if !slug.Valid(got) || got != strings.ToLower(got) {
			t.Fatalf("ParseCallbackPath(%q) = %q, not a lowercase slug", p, got)
		}
		if !strings.HasPrefix(strings.ToLower(p), "/c/"+got) {
			t.Fatalf("ParseCallbackPath(%q) = %q, which is not the first segment", p, got)
		}
	})
}
