package ssh

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Wire limits from RFC 4253: an identification line is at most 255 bytes
// including CRLF, and an implementation must accept packets of 35000 bytes.
const (
	maxVersionLine   = 255
	maxPreVersion    = 1024
	maxPacketLength  = 35000
	msgKexInit       = 20
	kexInitNameLists = 10
)

// KexInit is the algorithm negotiation message (SSH_MSG_KEXINIT) a peer
// sends first, unencrypted, right after the identification lines.
type KexInit struct {
	Cookie                  [16]byte
	KexAlgorithms           []string
	HostKeyAlgorithms       []string
	CiphersClientServer     []string
	CiphersServerClient     []string
	MACsClientServer        []string
	MACsServerClient        []string
	CompressionClientServer []string
	CompressionServerClient []string
	LanguagesClientServer   []string
	LanguagesServerClient   []string
	FirstKexFollows         bool
}

// Errors from ParseKEXINIT and the wire reader.
var (
	ErrNotKexInit = errors.New("ssh: not a KEXINIT message")
	ErrTruncated  = errors.New("ssh: truncated message")
)

// ParseKEXINIT parses a KEXINIT payload, starting with the message number.
// Every length is checked against the bytes left; the names themselves are
// kept as sent, even when they are not the printable ASCII RFC 4251 asks
// for, so HASSH is defined for any client that x/crypto/ssh would accept.
func ParseKEXINIT(payload []byte) (KexInit, error) {
	var k KexInit
	if len(payload) < 1 || payload[0] != msgKexInit {
		return k, ErrNotKexInit
	}
	rest := payload[1:]
	if len(rest) < len(k.Cookie) {
		return k, fmt.Errorf("parse kexinit cookie: %w", ErrTruncated)
	}
	copy(k.Cookie[:], rest)
	rest = rest[len(k.Cookie):]

	lists := []*[]string{
		&k.KexAlgorithms, &k.HostKeyAlgorithms,
		&k.CiphersClientServer, &k.CiphersServerClient,
		&k.MACsClientServer, &k.MACsServerClient,
		&k.CompressionClientServer, &k.CompressionServerClient,
		&k.LanguagesClientServer, &k.LanguagesServerClient,
	}
	for i, list := range lists {
		if len(rest) < 4 {
			return k, fmt.Errorf("parse kexinit name-list %d length: %w", i, ErrTruncated)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return k, fmt.Errorf("parse kexinit name-list %d: length %d exceeds %d bytes left: %w", i, n, len(rest), ErrTruncated)
		}
		if n > 0 {
			*list = strings.Split(string(rest[:n]), ",")
		}
		rest = rest[n:]
	}

	if len(rest) < 5 {
		return k, fmt.Errorf("parse kexinit trailer: %w", ErrTruncated)
	}
	k.FirstKexFollows = rest[0] != 0
	return k, nil
}

// HASSH returns the HASSH fingerprint of a client KEXINIT: the MD5, in
// lowercase hex, of its key exchange, client-to-server cipher, MAC and
// compression lists joined as "kex;enc;mac;comp", together with that string.
func HASSH(k KexInit) (hash, algorithms string) {
	algorithms = strings.Join([]string{
		strings.Join(k.KexAlgorithms, ","),
		strings.Join(k.CiphersClientServer, ","),
		strings.Join(k.MACsClientServer, ","),
		strings.Join(k.CompressionClientServer, ","),
	}, ";")
	sum := md5.Sum([]byte(algorithms))
	return hex.EncodeToString(sum[:]), algorithms
}

// ParsePacket splits the first unencrypted binary packet off data and
// returns its payload. n is the packet's length on the wire; n is 0 with a
// nil error when data does not hold the whole packet yet.
func ParsePacket(data []byte) (payload []byte, n int, err error) {
	if len(data) < 5 {
		return nil, 0, nil
	}
	length := binary.BigEndian.Uint32(data)
	if length < 5 || length > maxPacketLength {
		return nil, 0, fmt.Errorf("ssh: packet length %d out of range", length)
	}
	padding := uint32(data[4])
	if padding+1 > length {
		return nil, 0, fmt.Errorf("ssh: padding length %d exceeds packet length %d", padding, length)
	}
	total := 4 + int(length)
	if len(data) < total {
		return nil, 0, nil
	}
	return data[5 : 4+length-padding], total, nil
}

// kexReader follows the first bytes a client sends: identification lines
// and the first binary packet. It never fails the connection itself; it
// only stops looking once it has what it needs or sees something it cannot
// read, and x/crypto/ssh decides what to do with the same bytes.
type kexReader struct {
	lines   int
	line    []byte
	version string
	gotVer  bool
	packet  []byte
	done    bool
	kex     *KexInit
	err     error
}

// feed consumes bytes in the order they arrived. It returns true once the
// reader is done (successfully or not); later calls do nothing.
func (r *kexReader) feed(p []byte) bool {
	for len(p) > 0 && !r.done {
		if !r.gotVer {
			p = r.feedVersion(p)
			continue
		}
		room := 4 + maxPacketLength - len(r.packet)
		chunk := p
		if len(chunk) > room {
			chunk = chunk[:room]
		}
		r.packet = append(r.packet, chunk...)
		p = p[len(chunk):]

		payload, n, err := ParsePacket(r.packet)
		switch {
		case err != nil:
			r.finish(nil, err)
		case n > 0:
			k, err := ParseKEXINIT(payload)
			if err != nil {
				r.finish(nil, err)
			} else {
				r.finish(&k, nil)
			}
		}
	}
	return r.done
}

func (r *kexReader) feedVersion(p []byte) []byte {
	for i, c := range p {
		if c != '\n' {
			if len(r.line) >= maxVersionLine {
				r.finish(nil, errors.New("ssh: identification line too long"))
				return nil
			}
			r.line = append(r.line, c)
			continue
		}
		line := strings.TrimSuffix(string(r.line), "\r")
		r.line = r.line[:0]
		if strings.HasPrefix(line, "SSH-") {
			r.version = line
			r.gotVer = true
			return p[i+1:]
		}
		r.lines++
		if r.lines > maxPreVersion {
			r.finish(nil, errors.New("ssh: too many lines before identification"))
			return nil
		}
	}
	return nil
}

func (r *kexReader) finish(k *KexInit, err error) {
	r.done = true
	r.kex = k
	r.err = err
	r.line = nil
	r.packet = nil
}
