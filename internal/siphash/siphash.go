// Package siphash is SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed
// hash of the DNS server's cookies and the gateway's SYN cookies: one
// implementation, no allocation. It owns the function only; keys, their
// rotation and what is hashed are its callers'.
package siphash

import (
	"encoding/binary"
	"math/bits"
)

// Key is a 128-bit SipHash key as two little-endian words.
type Key struct{ K0, K1 uint64 }

// KeyFrom reads a key from its 16 octets, as the reference implementation
// takes it.
func KeyFrom(b *[16]byte) Key {
	return Key{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])}
}

// The state is four words passed by value, which the compiler keeps in
// registers; a struct behind a pointer measured three times slower.

func initial(k Key) (v0, v1, v2, v3 uint64) {
	return k.K0 ^ 0x736f6d6570736575, k.K1 ^ 0x646f72616e646f6d, k.K0 ^ 0x6c7967656e657261, k.K1 ^ 0x7465646279746573
}

func round(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// block compresses one 64-bit word (two rounds: the 2 of 2-4).
func block(v0, v1, v2, v3, w uint64) (uint64, uint64, uint64, uint64) {
	v3 ^= w
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	return v0 ^ w, v1, v2, v3
}

// final compresses the last block and finalises (four rounds).
func final(v0, v1, v2, v3, last uint64) uint64 {
	v0, v1, v2, v3 = block(v0, v1, v2, v3, last)
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// Sum64 returns the 64-bit SipHash-2-4 of m under k; its little-endian
// octets are the reference implementation's output.
func Sum64(k Key, m []byte) uint64 {
	v0, v1, v2, v3 := initial(k)
	last := uint64(len(m)) << 56
	for ; len(m) >= 8; m = m[8:] {
		v0, v1, v2, v3 = block(v0, v1, v2, v3, binary.LittleEndian.Uint64(m))
	}
	for i := len(m) - 1; i >= 0; i-- {
		last |= uint64(m[i]) << (8 * i)
	}
	return final(v0, v1, v2, v3, last)
}

// Sum64Words is Sum64 of the message whose octets are the words of w in
// little-endian order (len(w)*8 octets), for callers that assemble their
// input as words and need no buffer for it.
func Sum64Words(k Key, w []uint64) uint64 {
	v0, v1, v2, v3 := initial(k)
	for _, x := range w {
		v0, v1, v2, v3 = block(v0, v1, v2, v3, x)
	}
	return final(v0, v1, v2, v3, uint64(len(w)*8)<<56)
}
