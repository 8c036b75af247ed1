package callback

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/decnet/decnet/internal/canary/slug"
)

var testSrc = netip.MustParseAddrPort("127.0.0.53:40000")

func newTestDNS(t testing.TB) *DNSHandler {
	t.Helper()
	h, err := NewDNSHandler(DNSConfig{Zone: "T.Test.", Now: func() time.Time { return time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// query builds a DNS query with one question.
func query(t testing.TB, id uint16, name string, qtype dnsmessage.Type, edns bool) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.StartQuestions()
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: qtype, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	if edns {
		b.StartAdditionals()
		var root dnsmessage.Name
		root.Data[0], root.Length = '.', 1
		b.OPTResource(dnsmessage.ResourceHeader{Name: root, Type: dnsmessage.TypeOPT, Class: 4096}, dnsmessage.OPTResource{})
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func parseReply(t testing.TB, reply []byte) dnsmessage.Message {
	t.Helper()
	var m dnsmessage.Message
	if err := m.Unpack(reply); err != nil {
		t.Fatalf("unpack reply %x: %v", reply, err)
	}
	return m
}

func TestDNSRespond(t *testing.T) {
	h := newTestDNS(t)
	s := slug.MustNew()
	mixed := strings.ToUpper(s[:13]) + s[13:]

	tests := []struct {
		name      string
		qname     string
		qtype     dnsmessage.Type
		rcode     dnsmessage.RCode
		auth      bool
		answers   []dnsmessage.Type
		soaInAuth bool
		hitSlug   string
	}{
		{"token A", s + ".t.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, true, []dnsmessage.Type{dnsmessage.TypeA}, false, s},
		{"token mixed case", mixed + ".T.TeSt.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, true, []dnsmessage.Type{dnsmessage.TypeA}, false, s},
		{"token AAAA", s + ".t.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, true, nil, true, s},
		{"token TXT", s + ".t.test.", dnsmessage.TypeTXT, dnsmessage.RCodeSuccess, true, nil, true, s},
		{"extra labels left of the slug", "x.y." + s + ".t.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, true, []dnsmessage.Type{dnsmessage.TypeA}, false, s},
		{"apex SOA", "t.test.", dnsmessage.TypeSOA, dnsmessage.RCodeSuccess, true, []dnsmessage.Type{dnsmessage.TypeSOA}, false, ""},
		{"apex NS", "T.test.", dnsmessage.TypeNS, dnsmessage.RCodeSuccess, true, []dnsmessage.Type{dnsmessage.TypeNS}, false, ""},
		{"apex ANY", "t.test.", dnsmessage.TypeALL, dnsmessage.RCodeSuccess, true, []dnsmessage.Type{dnsmessage.TypeSOA, dnsmessage.TypeNS}, false, ""},
		{"apex A", "t.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, true, nil, true, ""},
		{"name server", "ns1.t.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, true, []dnsmessage.Type{dnsmessage.TypeA}, false, ""},
		{"unknown name in zone", "www.t.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, true, nil, true, ""},
		{"slug right of another label", s + ".x.t.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, true, nil, true, ""},
		{"outside the zone", s + ".example.net.", dnsmessage.TypeA, dnsmessage.RCodeRefused, false, nil, false, ""},
		{"zone suffix without a dot", "xt.test.", dnsmessage.TypeA, dnsmessage.RCodeRefused, false, nil, false, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uint16(1000 + i)
			reply, hit := h.Respond(query(t, id, tt.qname, tt.qtype, false), testSrc, "udp")
			if reply == nil {
				t.Fatal("no reply")
			}
			m := parseReply(t, reply)
			if m.ID != id || !m.Response || !m.RecursionDesired || m.RecursionAvailable {
				t.Errorf("header = %+v, want id %d, QR, RD echoed, no RA", m.Header, id)
			}
			if m.RCode != tt.rcode || m.Authoritative != tt.auth {
				t.Errorf("rcode %v aa %v, want %v %v", m.RCode, m.Authoritative, tt.rcode, tt.auth)
			}
			if len(m.Questions) != 1 || m.Questions[0].Name.String() != tt.qname || m.Questions[0].Type != tt.qtype {
				t.Errorf("question = %+v, want %s %v echoed with its letter case", m.Questions, tt.qname, tt.qtype)
			}
			var got []dnsmessage.Type
			for _, a := range m.Answers {
				got = append(got, a.Header.Type)
				if a.Header.Name.String() != tt.qname {
					t.Errorf("answer owner %s, want %s", a.Header.Name, tt.qname)
				}
				if a, ok := a.Body.(*dnsmessage.AResource); ok && a.A != SinkholeA {
					t.Errorf("A = %v, want the sinkhole", a.A)
				}
				if a.Header.TTL != answerTTL {
					t.Errorf("TTL = %d, want %d", a.Header.TTL, answerTTL)
				}
			}
			if len(got) != len(tt.answers) {
				t.Fatalf("answers %v, want %v", got, tt.answers)
			}
			for j := range got {
				if got[j] != tt.answers[j] {
					t.Errorf("answer %d type %v, want %v", j, got[j], tt.answers[j])
				}
			}
			hasSOA := len(m.Authorities) == 1 && m.Authorities[0].Header.Type == dnsmessage.TypeSOA
			if hasSOA != tt.soaInAuth {
				t.Errorf("authority = %+v, want SOA: %v", m.Authorities, tt.soaInAuth)
			}
			if hasSOA && m.Authorities[0].Header.Name.String() != "t.test." {
				t.Errorf("SOA owner %s, want the apex", m.Authorities[0].Header.Name)
			}

			switch {
			case tt.hitSlug == "" && hit != nil:
				t.Errorf("hit %+v, want none", hit)
			case tt.hitSlug != "" && hit == nil:
				t.Error("no hit, want one")
			case hit != nil:
				if hit.Slug != tt.hitSlug || hit.Trigger.SrcIP != "127.0.0.53" || hit.Trigger.ResolverAddr != "127.0.0.53:40000" {
					t.Errorf("hit = %+v", hit)
				}
				if hit.Trigger.DNSQName != strings.TrimSuffix(tt.qname, ".") || hit.Trigger.DNSQType != uint16(tt.qtype) || hit.Trigger.DNSQClass != 1 {
					t.Errorf("hit question = %q %d %d", hit.Trigger.DNSQName, hit.Trigger.DNSQType, hit.Trigger.DNSQClass)
				}
			}
		})
	}
}

func TestDNSRespondEDNS(t *testing.T) {
	h := newTestDNS(t)
	reply, _ := h.Respond(query(t, 7, slug.MustNew()+".t.test.", dnsmessage.TypeA, true), testSrc, "udp")
	m := parseReply(t, reply)
	if len(m.Additionals) != 1 || m.Additionals[0].Header.Type != dnsmessage.TypeOPT {
		t.Errorf("additionals = %+v, want one OPT record", m.Additionals)
	}
	plain, _ := h.Respond(query(t, 7, slug.MustNew()+".t.test.", dnsmessage.TypeA, false), testSrc, "udp")
	if m := parseReply(t, plain); len(m.Additionals) != 0 {
		t.Errorf("reply to a query without EDNS has additionals %+v", m.Additionals)
	}
}

func TestDNSDropsWhatIsNotAQuery(t *testing.T) {
	h := newTestDNS(t)
	good := query(t, 9, slug.MustNew()+".t.test.", dnsmessage.TypeA, false)

	response := append([]byte(nil), good...)
	response[2] |= 0x80
	notify := append([]byte(nil), good...)
	notify[2] |= 4 << 3
	twoQuestions := append([]byte(nil), good...)
	twoQuestions[5] = 2
	noQuestion := append([]byte(nil), good[:12]...)
	noQuestion[5] = 0
	selfPointer := []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}
	loop := []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 1, 0, 1}
	forward := []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 200, 0, 1, 0, 1}

	cases := map[string][]byte{
		"empty":           {},
		"three bytes":     {1, 2, 3},
		"header only":     good[:12],
		"truncated name":  good[:20],
		"no qtype":        good[:len(good)-4],
		"response":        response,
		"notify opcode":   notify,
		"two questions":   twoQuestions,
		"no question":     noQuestion,
		"self pointer":    selfPointer,
		"pointer loop":    loop,
		"pointer too far": forward,
	}
	for name, msg := range cases {
		if reply, hit := h.Respond(msg, testSrc, "udp"); reply != nil || hit != nil {
			t.Errorf("%s: reply %x, hit %v; want the packet dropped", name, reply, hit)
		}
	}
}

func TestNewDNSHandlerRejectsBadZone(t *testing.T) {
	for _, zone := range []string{"", ".", strings.Repeat("a", 64) + ".test"} {
		if _, err := NewDNSHandler(DNSConfig{Zone: zone}); err == nil {
			t.Errorf("NewDNSHandler(%q) succeeded", zone)
		}
	}
}

func TestDNSOverUDPAndTCPRecordsOneTrigger(t *testing.T) {
	tw := startWorker(t)
	s := slug.MustNew()
	tok := plantToken(t, tw.store, s)
	addr := tw.w.DNSAddr()

	exchange := func(network string, msg []byte) dnsmessage.Message {
		t.Helper()
		c, err := (&net.Dialer{LocalAddr: localAddr(network, "127.0.0.54"), Timeout: 5 * time.Second}).Dial(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if network == "tcp" {
			msg = append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%s read: %v", network, err)
		}
		if network == "tcp" {
			return parseReply(t, buf[2:n])
		}
		return parseReply(t, buf[:n])
	}

	a := exchange("udp", query(t, 1, strings.ToUpper(s)+".t.test.", dnsmessage.TypeA, true))
	if len(a.Answers) != 1 {
		t.Fatalf("udp A reply has %d answers", len(a.Answers))
	}
	exchange("udp", query(t, 2, s+".t.test.", dnsmessage.TypeAAAA, true))
	tcp := exchange("tcp", query(t, 3, "www."+s+".t.test.", dnsmessage.TypeA, false))
	if len(tcp.Answers) != 1 {
		t.Fatalf("tcp A reply has %d answers", len(tcp.Answers))
	}

	list := waitTriggers(t, tw.store, tok.UUID, 1)
	deadline := time.Now().Add(5 * time.Second)
	for list[0].HitCount < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		list = waitTriggers(t, tw.store, tok.UUID, 1)
	}
	if len(list) != 1 || list[0].HitCount != 3 {
		t.Fatalf("triggers = %+v, want one trigger with 3 hits", list)
	}
	tr := list[0]
	if tr.DNSQName != strings.ToUpper(s)+".t.test" || tr.DNSQType != 1 || tr.DNSTransport != "udp" || tr.SrcIP != "127.0.0.54" {
		t.Errorf("trigger = %+v", tr)
	}
	if evs := tw.waitEvents(t, tok.UUID, 1); len(evs) != 1 || evs[0].DNSQName != tr.DNSQName {
		t.Errorf("events = %+v, want one for the burst", evs)
	}
}

func localAddr(network, ip string) net.Addr {
	if network == "tcp" {
		return &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	return &net.UDPAddr{IP: net.ParseIP(ip)}
}

func FuzzDNSRespond(f *testing.F) {
	h := newTestDNS(f)
	s := slug.MustNew()
	for _, seed := range [][]byte{
		query(f, 1, s+".t.test.", dnsmessage.TypeA, true),
		query(f, 2, "t.test.", dnsmessage.TypeSOA, false),
		query(f, 3, "www.example.net.", dnsmessage.TypeAAAA, false),
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1},
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 1, 0, 1},
		{1, 2, 3},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		reply, hit := h.Respond(msg, testSrc, "udp")
		if reply == nil {
			if hit != nil {
				t.Fatal("hit without a reply")
			}
			return
		}
		var m dnsmessage.Message
		if err := m.Unpack(reply); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if !m.Response || len(m.Questions) != 1 {
			t.Fatalf("reply header %+v with %d questions", m.Header, len(m.Questions))
		}
		if hit != nil && !slug.Valid(hit.Slug) {
			t.Fatalf("hit slug %q is not a slug", hit.Slug)
		}
	})
}

func mustAddrPort(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		panic(err)
	}
	return ap
}
