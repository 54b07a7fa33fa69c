package resolver

import (
	crand "crypto/rand"
	"math/rand/v2"
	"sync"
)

// Every protocol field an off-path attacker must guess (query IDs, source
// ports, the 0x20 case pattern, cookie secrets) comes from ChaCha8 generators
// seeded from crypto/rand. ChaCha8 is a CSPRNG; a pool of them avoids both a
// system call per field and a lock shared by every resolution.
var csprngPool = sync.Pool{New: func() any {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand, Go 1.24+)
	return rand.NewChaCha8(seed)
}}

// randUint64 returns 64 unpredictable bits.
func randUint64() uint64 {
	g := csprngPool.Get().(*rand.ChaCha8)
	v := g.Uint64()
	csprngPool.Put(g)
	return v
}

// randUint16 returns 16 unpredictable bits.
func randUint16() uint16 { return uint16(randUint64()) }

// Source ports come from the whole unprivileged range (RFC 5452 §9.2
// asks for as many bits as possible; the kernel's ephemeral range alone gives
// about 15).
const (
	minSourcePort = 1024
	maxSourcePort = 65535
)

// randSourcePort returns a port uniform over [minSourcePort, maxSourcePort].
func randSourcePort() uint16 {
	g := csprngPool.Get().(*rand.ChaCha8)
	defer csprngPool.Put(g)
	for {
		// Rejection sampling keeps the distribution uniform.
		if p := uint16(g.Uint64()); p >= minSourcePort {
			return p
		}
	}
}

// randomiseCase returns name with every ASCII letter in a random case (DNS
// 0x20, draft-vixie-dnsext-dns0x20): each letter adds one bit an attacker
// must guess. Escaped bytes (\DDD and \X) are left alone.
func randomiseCase(name string) string {
	letters := 0
	for i := 0; i < len(name); i++ {
		if c := name[i] | 0x20; c >= 'a' && c <= 'z' {
			letters++
		}
	}
	if letters == 0 {
		return name
	}
	g := csprngPool.Get().(*rand.ChaCha8)
	defer csprngPool.Put(g)
	b := []byte(name)
	var bits uint64
	left := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' {
			// Skip the escape: \DDD or \X.
			if i+3 < len(b) && isDigit(b[i+1]) && isDigit(b[i+2]) && isDigit(b[i+3]) {
				i += 3
			} else {
				i++
			}
			continue
		}
		if l := c | 0x20; l >= 'a' && l <= 'z' {
			if left == 0 {
				bits, left = g.Uint64(), 64
			}
			if bits&1 == 1 {
				b[i] = l - ('a' - 'A')
			} else {
				b[i] = l
			}
			bits >>= 1
			left--
		}
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
