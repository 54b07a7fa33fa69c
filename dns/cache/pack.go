package cache

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// scratchPool holds pack buffers for the Put paths. miekg/dns allocates a
// fresh buffer when the one given is too small, so the pool only saves the
// common case and never limits sizes.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// packUncompressed packs rrs as the answer section of an otherwise empty
// message. Packing through a Msg, rather than dns.PackRR, leaves the
// caller's records untouched: PackRR writes their Rdlength, which would race
// with a resolver sharing records between goroutines.
func packUncompressed(rrs []dns.RR, buf []byte) ([]byte, error) {
	m := dns.Msg{Answer: rrs}
	return m.PackBuffer(buf)
}

// isMetaType reports types that name an operation rather than data and so
// never belong in a cache (RFC 6895 §3.1).
func isMetaType(t uint16) bool {
	switch t {
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeIXFR, dns.TypeAXFR,
		dns.TypeMAILA, dns.TypeMAILB, dns.TypeANY, dns.TypeNone:
		return true
	}
	return false
}

// rrsigRemaining returns the seconds until the RRSIG whose rdata is given
// expires, using RFC 1982 serial arithmetic as RFC 4034 §3.1.5 requires,
// or a negative number if it already has.
func rrsigRemaining(rdata []byte, now int64) (int64, error) {
	if len(rdata) < 18 {
		return 0, fmt.Errorf("RRSIG rdata of %d octets is shorter than its fixed fields", len(rdata))
	}
	exp := binary.BigEndian.Uint32(rdata[8:])
	return int64(int32(exp - uint32(now/int64(time.Second)))), nil
}

// checkUnpack verifies that the record r located in msg parses back.
// An A record of 4 octets of RDATA or an AAAA record of 16 does (miekg/dns
// reads them as they are, and the caller's walk has checked the owner and
// the lengths), which spares the commonest records of a cold name an
// unpack into allocated records that is thrown away.
func checkUnpack(msg []byte, r wire.RR) error {
	switch n := r.End - r.RDataOff(); r.Type() {
	case dns.TypeA:
		if n == 4 {
			return nil
		}
	case dns.TypeAAAA:
		if n == 16 {
			return nil
		}
	}
	if _, _, err := dns.UnpackRR(msg[:r.End], r.Off); err != nil {
		return fmt.Errorf("packed record does not parse back: %w", err)
	}
	return nil
}

func clampTTL(ttl, lo, hi uint32) uint32 {
	if ttl < lo {
		ttl = lo
	}
	if ttl > hi {
		ttl = hi
	}
	return ttl
}

func putU16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }

func getU16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
