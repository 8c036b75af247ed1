package decky

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// SeedFor derives the seed of the decky called name in a fleet whose seed
// is fleetSeed. Equal inputs give equal seeds, and two names in one fleet
// give unrelated seeds.
func SeedFor(fleetSeed uint64, name string) uint64 {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], fleetSeed)
	h.Write(b[:])
	h.Write([]byte(name))
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

// Rand returns a random number generator seeded by the decky's seed and by
// purpose. Each consumer passes its own purpose ("hostname", "users",
// "http-version", ...), so drawing more numbers for one purpose never
// changes the choices made for another.
func (d Decky) Rand(purpose string) *rand.Rand {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], d.Seed)
	h.Write(b[:])
	h.Write([]byte(purpose))
	var key [32]byte
	copy(key[:], h.Sum(nil))
	return rand.New(rand.NewChaCha8(key))
}

// Uptime bounds. A decky "reboots" once per uptimeCycle at a moment chosen
// by its seed, so uptimes differ across deckies, grow with the clock and
// never fall below minUptime.
const (
	uptimeCycle = 45 * 24 * time.Hour
	minUptime   = time.Hour
)

// Uptime returns how long the decky claims to have been up at now. The
// value lies in [1h, 45d), grows with now and wraps to 1h at a reboot
// moment the seed chooses.
func (d Decky) Uptime(now time.Time) time.Duration {
	phase := d.Rand("uptime").Int64N(int64(uptimeCycle))
	span := int64(uptimeCycle - minUptime)

	since := now.UnixNano() - phase
	offset := since % span
	if offset < 0 {
		offset += span
	}
	return minUptime + time.Duration(offset)
}

// BootTime returns the moment the decky claims to have booted, as seen at
// now.
func (d Decky) BootTime(now time.Time) time.Time {
	return now.Add(-d.Uptime(now))
}

// Kernel returns the kernel build the decky reports, chosen by its seed from
// its distro's list. An unknown distro falls back to Debian's kernels.
func (d Decky) Kernel() Kernel {
	dist, err := LookupDistro(d.Distro)
	if err != nil {
		dist = distros[0]
	}
	r := d.Rand("kernel")
	return dist.Kernels[r.IntN(len(dist.Kernels))]
}
