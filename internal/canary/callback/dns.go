package callback

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/decnet/decnet/internal/canary/slug"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// SinkholeA is the address every token host resolves to: 192.0.2.1 from
// TEST-NET-1 (RFC 5737), which routes nowhere.
var SinkholeA = [4]byte{192, 0, 2, 1}

// DNS answer TTLs, in seconds. They are short so that a repeated lookup
// reaches the receiver again instead of a resolver cache.
const (
	answerTTL = 60
	// negativeTTL is the SOA minimum and the TTL of SOA records in
	// negative answers (RFC 2308 caches for the smaller of the two).
	negativeTTL = 60
	// ednsUDPSize is the payload size advertised in replies to EDNS
	// queries; 1232 avoids IP fragmentation on common paths.
	ednsUDPSize = 1232
)

// DNSHandler answers queries for one zone as its authoritative server and
// records lookups of token hosts. Names in the zone are:
//
//   - the apex: SOA and NS records;
//   - ns1.<zone>: the name server, with the sinkhole A record;
//   - <slug>.<zone> and any name with labels left of the slug: the
//     sinkhole A record, and a recorded hit for any query type. Every
//     slug-shaped name answers alike, planted or not, so answers do not
//     reveal which slugs exist and need no database lookup;
//   - anything else in the zone: NXDOMAIN with the SOA.
//
// Names outside the zone get REFUSED. Responses, opcodes other than QUERY
// and malformed packets (compression loops included) get no reply.
type DNSHandler struct {
	zone   string // lowercase, no trailing dot
	apex   dnsmessage.Name
	ns     dnsmessage.Name
	mbox   dnsmessage.Name
	serial uint32

	recorder Submitter
	limiter  *Limiter
	now      func() time.Time
	log      *slog.Logger
}

// DNSConfig configures a DNSHandler.
type DNSConfig struct {
	// Zone is the zone the handler is authoritative for, such as
	// canary.example.net.
	Zone     string
	Recorder Submitter
	// Limiter caps the hits recorded per source; nil records every hit.
	Limiter *Limiter
	Now     func() time.Time
	Logger  *slog.Logger
}

// NewDNSHandler checks the zone and returns a handler.
func NewDNSHandler(cfg DNSConfig) (*DNSHandler, error) {
	zone := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(cfg.Zone)), ".")
	apex, err := dnsmessage.NewName(zone + ".")
	if err != nil || !validZone(zone) {
		return nil, &ZoneError{Zone: cfg.Zone}
	}
	ns, err := dnsmessage.NewName("ns1." + zone + ".")
	if err != nil {
		return nil, &ZoneError{Zone: cfg.Zone}
	}
	mbox, err := dnsmessage.NewName("hostmaster." + zone + ".")
	if err != nil {
		return nil, &ZoneError{Zone: cfg.Zone}
	}

	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The serial is the start date as YYYYMMDD01, the usual convention.
	start := now().UTC()
	serial, _ := strconv.ParseUint(start.Format("20060102")+"01", 10, 32)
	return &DNSHandler{zone: zone, apex: apex, ns: ns, mbox: mbox, serial: uint32(serial),
		recorder: cfg.Recorder, limiter: cfg.Limiter, now: now, log: log}, nil
}

// ZoneError reports a zone that is not a valid DNS name.
type ZoneError struct{ Zone string }

func (e *ZoneError) Error() string {
	return "callback: invalid DNS zone " + strconv.Quote(e.Zone) + ": want a name such as canary.example.net"
}

// validZone reports whether zone is a lowercase host name whose labels
// are 1 to 63 letters, digits and hyphens, leaving room for a slug label.
func validZone(zone string) bool {
	if zone == "" || len(zone) > 253-slug.Len-1 {
		return false
	}
	for _, label := range strings.Split(zone, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// Zone returns the zone in lowercase without the trailing dot.
func (h *DNSHandler) Zone() string { return h.zone }

// nameClass is what a query name is relative to the zone.
type nameClass int

const (
	nameOutside nameClass = iota
	nameApex
	nameHost // ns1 or a token host: has an A record
	nameMissing
)

// Respond builds the reply to one DNS message from src and, for a lookup
// of a token host, the hit to record. A nil reply means drop the packet.
// transport is "udp" or "tcp".
func (h *DNSHandler) Respond(msg []byte, src netip.AddrPort, transport string) ([]byte, *sqlstore.CanaryHit) {
	var p dnsmessage.Parser
	hdr, err := p.Start(msg)
	if err != nil || hdr.Response || hdr.OpCode != 0 {
		return nil, nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil, nil
	}
	q := qs[0]
	edns := hasOPT(&p)

	raw := string(q.Name.Data[:q.Name.Length])
	lower := strings.TrimSuffix(strings.ToLower(raw), ".")
	class, tokenSlug := h.classify(lower)
	if q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY {
		class = nameOutside
	}

	reply, err := h.build(hdr, q, class, edns)
	if err != nil {
		h.log.Debug("build dns reply", "qname", escapeName(raw), "err", err)
		return nil, nil
	}
	if tokenSlug == "" || class != nameHost {
		return reply, nil
	}

	resolver := src.Addr().Unmap()
	if !h.limiter.Allow(resolver) {
		return reply, nil
	}
	hit := &sqlstore.CanaryHit{Slug: tokenSlug, Time: h.now(), Trigger: sqlstore.CanaryTrigger{
		Protocol:     sqlstore.CanaryProtoDNS,
		SrcIP:        resolver.String(),
		PeerAddr:     src.String(),
		DNSQName:     escapeName(strings.TrimSuffix(raw, ".")),
		DNSQType:     uint16(q.Type),
		DNSQClass:    uint16(q.Class),
		DNSTransport: transport,
		ResolverAddr: src.String(),
		DedupeKey:    "dns|" + resolver.String(),
	}}
	return reply, hit
}

// classify places a lowercase name without trailing dot relative to the
// zone and returns the slug of a token host.
func (h *DNSHandler) classify(name string) (nameClass, string) {
	if name == h.zone {
		return nameApex, ""
	}
	left, ok := strings.CutSuffix(name, "."+h.zone)
	if !ok || left == "" {
		return nameOutside, ""
	}
	if left == "ns1" {
		return nameHost, ""
	}
	label := left
	if i := strings.LastIndexByte(left, '.'); i >= 0 {
		label = left[i+1:]
	}
	if slug.Valid(label) {
		return nameHost, slug.Normalize(label)
	}
	return nameMissing, ""
}

func (h *DNSHandler) build(qh dnsmessage.Header, q dnsmessage.Question, class nameClass, edns bool) ([]byte, error) {
	rh := dnsmessage.Header{ID: qh.ID, Response: true, RecursionDesired: qh.RecursionDesired}
	switch class {
	case nameOutside:
		rh.RCode = dnsmessage.RCodeRefused
	case nameMissing:
		rh.Authoritative, rh.RCode = true, dnsmessage.RCodeNameError
	default:
		rh.Authoritative = true
	}

	b := dnsmessage.NewBuilder(make([]byte, 0, 512), rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}

	answered, err := h.answers(&b, q, class)
	if err != nil {
		return nil, err
	}
	if err := b.StartAuthorities(); err != nil {
		return nil, err
	}
	if !answered && class != nameOutside {
		if err := b.SOAResource(h.rrHeader(h.apex, dnsmessage.TypeSOA, negativeTTL), h.soa()); err != nil {
			return nil, err
		}
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	if edns {
		var root dnsmessage.Name
		root.Data[0], root.Length = '.', 1
		opt := dnsmessage.ResourceHeader{Name: root, Type: dnsmessage.TypeOPT, Class: ednsUDPSize}
		if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// answers writes the answer records and reports whether there were any.
func (h *DNSHandler) answers(b *dnsmessage.Builder, q dnsmessage.Question, class nameClass) (bool, error) {
	any := q.Type == dnsmessage.TypeALL
	switch class {
	case nameApex:
		n := 0
		if q.Type == dnsmessage.TypeSOA || any {
			if err := b.SOAResource(h.rrHeader(q.Name, dnsmessage.TypeSOA, answerTTL), h.soa()); err != nil {
				return false, err
			}
			n++
		}
		if q.Type == dnsmessage.TypeNS || any {
			if err := b.NSResource(h.rrHeader(q.Name, dnsmessage.TypeNS, answerTTL), dnsmessage.NSResource{NS: h.ns}); err != nil {
				return false, err
			}
			n++
		}
		return n > 0, nil
	case nameHost:
		if q.Type == dnsmessage.TypeA || any {
			if err := b.AResource(h.rrHeader(q.Name, dnsmessage.TypeA, answerTTL), dnsmessage.AResource{A: SinkholeA}); err != nil {
				return false, err
			}
			return true, nil
		}
	}
	return false, nil
}

func (h *DNSHandler) rrHeader(name dnsmessage.Name, t dnsmessage.Type, ttl uint32) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: name, Type: t, Class: dnsmessage.ClassINET, TTL: ttl}
}

func (h *DNSHandler) soa() dnsmessage.SOAResource {
	return dnsmessage.SOAResource{NS: h.ns, MBox: h.mbox, Serial: h.serial, Refresh: 7200, Retry: 3600,
		Expire: 1209600, MinTTL: negativeTTL}
}

// hasOPT reports whether the rest of the message carries an EDNS OPT
// record. A message that fails to parse past the question has none.
func hasOPT(p *dnsmessage.Parser) bool {
	if p.SkipAllAnswers() != nil || p.SkipAllAuthorities() != nil {
		return false
	}
	for {
		rh, err := p.AdditionalHeader()
		if err != nil {
			return false
		}
		if rh.Type == dnsmessage.TypeOPT {
			return true
		}
		if p.SkipAdditional() != nil {
			return false
		}
	}
}

// escapeName renders name bytes for storage: printable ASCII as is, other
// bytes as \DDD (the zone-file escape).
func escapeName(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == '\\' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '\\' {
			b.WriteString("\\")
			d := strconv.Itoa(int(c))
			b.WriteString(strings.Repeat("0", 3-len(d)) + d)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// submitDNS queues a DNS hit, waiting at most timeout for queue room.
func submitDNS(ctx context.Context, rec Submitter, h *sqlstore.CanaryHit, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := rec.Submit(ctx, *h); err != nil {
		log.Warn("queue canary dns hit", "src", h.Trigger.SrcIP, "err", err)
	}
}
