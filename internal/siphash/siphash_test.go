package siphash

import (
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// The reference vectors of the SipHash paper (key 00..0f, message 00..n-1),
// as the reference implementation prints them.
var vectors = []string{
	"310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
	"b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
	"6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
	"fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
}

func refKey() Key {
	var b [16]byte
	for i := range b {
		b[i] = byte(i)
	}
	return KeyFrom(&b)
}

func TestVectors(t *testing.T) {
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, want := range vectors {
		var got [8]byte
		binary.LittleEndian.PutUint64(got[:], Sum64(refKey(), msg[:n]))
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("length %d: %x, want %s", n, got, want)
		}
	}
	// The words form hashes the same octets.
	for words := 0; words <= 8; words++ {
		w := make([]uint64, words)
		for i := range w {
			w[i] = binary.LittleEndian.Uint64(msg[i*8:])
		}
		if a, b := Sum64Words(refKey(), w), Sum64(refKey(), msg[:words*8]); a != b {
			t.Errorf("%d words: %x, bytes %x", words, a, b)
		}
	}
}

func BenchmarkSum64Words48(b *testing.B) {
	w := make([]uint64, 6)
	b.ReportAllocs()
	for b.Loop() {
		w[0] = Sum64Words(refKey(), w)
	}
}
