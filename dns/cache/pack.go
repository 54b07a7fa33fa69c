package cache

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// scratchPool holds pack buffers for the Put paths. miekg/dns allocates a
// fresh buffer when the one given is too small, so the pool only saves the
// common case and never limits sizes.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// wireRR is one record located in a packed message.
type wireRR struct {
	nameOff, nameEnd int // owner name bytes (possibly compressed)
	rrtype, class    uint16
	ttl              uint32
	ttlOff           int
	rdata            []byte
	end              int
}

// skipName returns the offset just after the possibly compressed name at
// off. It does not follow pointers: a pointer always ends a name.
func skipName(msg []byte, off int) (int, error) {
	for {
		if off >= len(msg) {
			return 0, fmt.Errorf("offset %d: name runs past the end of the message", off)
		}
		c := msg[off]
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, nil
			}
			off += 1 + int(c)
		case 0xC0:
			if off+2 > len(msg) {
				return 0, fmt.Errorf("offset %d: truncated compression pointer", off)
			}
			return off + 2, nil
		default:
			return 0, fmt.Errorf("offset %d: unsupported label type 0x%02x", off, c&0xC0)
		}
	}
}

// readRR locates the resource record at off.
func readRR(msg []byte, off int) (wireRR, error) {
	var r wireRR
	end, err := skipName(msg, off)
	if err != nil {
		return r, err
	}
	if end+10 > len(msg) {
		return r, fmt.Errorf("offset %d: truncated record header", end)
	}
	r.nameOff, r.nameEnd = off, end
	r.rrtype = binary.BigEndian.Uint16(msg[end:])
	r.class = binary.BigEndian.Uint16(msg[end+2:])
	r.ttlOff = end + 4
	r.ttl = binary.BigEndian.Uint32(msg[end+4:])
	rdlen := int(binary.BigEndian.Uint16(msg[end+8:]))
	if end+10+rdlen > len(msg) {
		return r, fmt.Errorf("offset %d: rdata of %d octets runs past the end of the message", end+10, rdlen)
	}
	r.rdata = msg[end+10 : end+10+rdlen]
	r.end = end + 10 + rdlen
	return r, nil
}

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
func checkUnpack(msg []byte, r wireRR) error {
	if _, _, err := dns.UnpackRR(msg[:r.end], r.nameOff); err != nil {
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
