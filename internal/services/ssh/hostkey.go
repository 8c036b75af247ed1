package ssh

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	gossh "golang.org/x/crypto/ssh"
)

// HostKeyFromSeed derives an Ed25519 host key from a decky's seed, so a
// decky keeps the same host key (and known_hosts entry) across restarts
// while two deckies never share one.
//
// NOTE: real sshd also offers RSA and ECDSA host keys. Only Ed25519 is
// derived because crypto/rsa key generation is not deterministic.
func HostKeyFromSeed(seed uint64) (gossh.Signer, error) {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], seed)
	h := sha256.New()
	h.Write([]byte("decnet ssh host key ed25519\x00"))
	h.Write(buf[:])
	key := ed25519.NewKeyFromSeed(h.Sum(nil))

	signer, err := gossh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("ssh: host key from seed %d: %w", seed, err)
	}
	return signer, nil
}
