package ssh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// OpenSSH 9.2p1's client proposal (Debian bookworm), as sent on the wire.
var opensshClientLists = []string{
	"sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-c",
	"ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256",
	"chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
	"chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
	"umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
	"umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
	"none,zlib@openssh.com,zlib",
	"none,zlib@openssh.com,zlib",
	"",
	"",
}

// kexInitPayload builds a KEXINIT payload from ten name-lists.
func kexInitPayload(lists []string, firstFollows bool) []byte {
	var b bytes.Buffer
	b.WriteByte(msgKexInit)
	b.Write(bytes.Repeat([]byte{0xab}, 16))
	for _, l := range lists {
		binary.Write(&b, binary.BigEndian, uint32(len(l)))
		b.WriteString(l)
	}
	if firstFollows {
		b.WriteByte(1)
	} else {
		b.WriteByte(0)
	}
	b.Write([]byte{0, 0, 0, 0})
	return b.Bytes()
}

// packet frames a payload as an unencrypted binary packet.
func packet(payload []byte) []byte {
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(1+len(payload)+pad))
	b.WriteByte(byte(pad))
	b.Write(payload)
	b.Write(make([]byte, pad))
	return b.Bytes()
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func TestParseKEXINIT(t *testing.T) {
	valid := kexInitPayload(opensshClientLists, false)
	tests := []struct {
		name    string
		payload []byte
		wantErr error
	}{
		{"openssh client", valid, nil},
		{"empty", nil, ErrNotKexInit},
		{"wrong message", append([]byte{21}, valid[1:]...), ErrNotKexInit},
		{"short cookie", valid[:10], ErrTruncated},
		{"cut in a name-list", valid[:100], ErrTruncated},
		{"no trailer", valid[:len(valid)-5], ErrTruncated},
		{"length past end", append(append([]byte{msgKexInit}, make([]byte, 16)...), 0xff, 0xff, 0xff, 0xff, 'a'), ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKEXINIT(tc.payload)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseKEXINIT error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			got := [][]string{k.KexAlgorithms, k.HostKeyAlgorithms, k.CiphersClientServer, k.CiphersServerClient,
				k.MACsClientServer, k.MACsServerClient, k.CompressionClientServer, k.CompressionServerClient,
				k.LanguagesClientServer, k.LanguagesServerClient}
			var want [][]string
			for _, l := range opensshClientLists {
				want = append(want, split(l))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseKEXINIT lists (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHASSH(t *testing.T) {
	tests := []struct {
		name     string
		k        KexInit
		wantHash string
		wantAlgo string
	}{
		{
			name:     "empty lists",
			k:        KexInit{},
			wantHash: "95420f9d932ddd22833f17b96a80bedb", // md5sum of ";;;"
			wantAlgo: ";;;",
		},
		{
			name: "one of each",
			k: KexInit{
				KexAlgorithms:           []string{"curve25519-sha256"},
				CiphersClientServer:     []string{"aes128-ctr"},
				MACsClientServer:        []string{"hmac-sha2-256"},
				CompressionClientServer: []string{"none"},
				CiphersServerClient:     []string{"ignored"},
			},
			wantHash: "e97d07603350d1111ec2b64bf25413c9",
			wantAlgo: "curve25519-sha256;aes128-ctr;hmac-sha2-256;none",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hash, algo := HASSH(tc.k)
			if algo != tc.wantAlgo {
				t.Errorf("HASSH algorithms = %q, want %q", algo, tc.wantAlgo)
			}
			if hash != tc.wantHash {
				t.Errorf("HASSH hash = %q, want %q", hash, tc.wantHash)
			}
		})
	}
}

func TestKexReader(t *testing.T) {
	pkt := packet(kexInitPayload(opensshClientLists, false))
	hello := []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n")
	stream := append(append([]byte{}, hello...), pkt...)

	tests := []struct {
		name        string
		data        []byte
		chunk       int
		wantDone    bool
		wantVersion string
		wantKex     bool
	}{
		{"whole stream", stream, len(stream), true, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6", true},
		{"byte by byte", stream, 1, true, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6", true},
		{"lines before version", append([]byte("hello\r\nworld\n"), stream...), 7, true, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6", true},
		{"bare LF", append([]byte("SSH-2.0-x\n"), pkt...), 3, true, "SSH-2.0-x", true},
		{"version only", hello, 5, false, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6", false},
		{"overlong line", bytes.Repeat([]byte("A"), 300), 64, true, "", false},
		{"huge packet length", append(append([]byte{}, hello...), 0xff, 0xff, 0xff, 0xff, 4, 0), 2, true, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6", false},
		{"padding past packet", append(append([]byte{}, hello...), 0, 0, 0, 8, 200, 0), 2, true, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6", false},
		{"not kexinit", append(append([]byte{}, hello...), packet([]byte{5, 0, 0})...), 4, true, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r kexReader
			done := false
			for i := 0; i < len(tc.data); i += tc.chunk {
				end := min(i+tc.chunk, len(tc.data))
				done = r.feed(tc.data[i:end])
			}
			if done != tc.wantDone {
				t.Errorf("kexReader done = %v, want %v (err %v)", done, tc.wantDone, r.err)
			}
			if r.version != tc.wantVersion {
				t.Errorf("kexReader version = %q, want %q", r.version, tc.wantVersion)
			}
			if (r.kex != nil) != tc.wantKex {
				t.Errorf("kexReader got KEXINIT = %v, want %v (err %v)", r.kex != nil, tc.wantKex, r.err)
			}
		})
	}
}

func TestParsePacketBounds(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantN   int
		wantErr bool
	}{
		{"short header", []byte{0, 0, 0}, 0, false},
		{"incomplete", []byte{0, 0, 0, 12, 4, 1, 2}, 0, false},
		{"zero length", []byte{0, 0, 0, 0, 0}, 0, true},
		{"too long", []byte{0, 0, 0x90, 0, 4}, 0, true},
		{"padding too big", []byte{0, 0, 0, 5, 5, 1, 2, 3, 4}, 0, true},
		{"minimal", []byte{0, 0, 0, 5, 4, 20, 0, 0, 0, 0}, 9, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := ParsePacket(tc.data)
			if (err != nil) != tc.wantErr || n != tc.wantN {
				t.Errorf("ParsePacket(% x) = n %d, err %v; want n %d, err %v", tc.data, n, err, tc.wantN, tc.wantErr)
			}
		})
	}
}

func FuzzParseKEXINIT(f *testing.F) {
	f.Add(kexInitPayload(opensshClientLists, false))
	f.Add(kexInitPayload(make([]string, 10), true))
	f.Add([]byte{msgKexInit})
	f.Add([]byte{msgKexInit, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, payload []byte) {
		k, err := ParseKEXINIT(payload)
		if err != nil {
			return
		}
		hash, algos := HASSH(k)
		if len(hash) != 32 {
			t.Fatalf("HASSH hash %q is not 32 hex digits", hash)
		}
		if len(algos) > len(payload) {
			t.Fatalf("HASSH algorithms (%d bytes) longer than the payload (%d bytes)", len(algos), len(payload))
		}
	})
}

func FuzzKexReader(f *testing.F) {
	hello := []byte("SSH-2.0-OpenSSH_9.2p1\r\n")
	f.Add(append(append([]byte{}, hello...), packet(kexInitPayload(opensshClientLists, false))...), uint8(1))
	f.Add(append([]byte("junk\r\n"), hello...), uint8(3))
	f.Add(bytes.Repeat([]byte{0}, 600), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		step := int(chunk)%64 + 1
		var r kexReader
		for i := 0; i < len(data); i += step {
			r.feed(data[i:min(i+step, len(data))])
		}
		if len(r.version) > maxVersionLine {
			t.Fatalf("version %d bytes, cap %d", len(r.version), maxVersionLine)
		}
		if len(r.packet) > 4+maxPacketLength {
			t.Fatalf("buffered packet %d bytes, cap %d", len(r.packet), 4+maxPacketLength)
		}
		if r.kex != nil {
			HASSH(*r.kex)
		}
	})
}
