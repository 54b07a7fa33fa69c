package traffic

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Server addresses of the generated traffic.
var (
	webServer = netip.MustParseAddrPort("203.0.113.80:80")
	tlsServer = netip.MustParseAddrPort("203.0.113.90:443")
	dnsServer = netip.MustParseAddrPort("203.0.113.10:53")
)

// mixChunk is how many payloads of the corpus each seed gives: the mix
// takes Corpus(mixChunk, seed), seed+1, ... until it has its size.
const mixChunk = 1000

// Mix generates the corpus as traffic on the wire, frame by frame, until
// the frames hold at least size bytes: every HTTP request with the
// response that follows it in the corpus in a TCP connection of its own
// (handshake, segments of at most 1460 bytes, acknowledgements, FINs),
// each TLS ClientHello in a connection of its own, DNS queries from a
// client to the resolver and answers back over UDP. Each exchange has a
// client address and port of its own (10.0.0.0/8), so no two flows share
// a 5-tuple. HEAD requests are left out, as the corpus answers them with
// a body. emit receives each frame in order, a millisecond apart from
// start; its Data is not reused. The same size, seed and start give the
// same frames. Mix returns the frames' bytes.
func Mix(size int64, seed uint64, start time.Time, emit func(Frame) error) (int64, error) {
	c := NewCapture(start)
	var total int64
	flows := 0
	client := func() netip.AddrPort {
		flows++
		a := netip.AddrFrom4([4]byte{10, byte(flows >> 16), byte(flows >> 8), byte(flows)})
		return netip.AddrPortFrom(a, uint16(32768+flows%28000))
	}
	var req []byte
	for s := seed; total < size; s++ {
		for _, p := range Corpus(mixChunk, s) {
			switch {
			case isClientHello(p):
				h := c.TCP(client(), tlsServer)
				h.Send(0, p, 1460)
				h.Close()
			case bytes.HasPrefix(p, []byte("HTTP/")):
				if req == nil {
					continue
				}
				h := c.TCP(client(), webServer)
				h.Send(0, req, 1460)
				h.Send(1, p, 1460)
				h.Close()
				req = nil
			case bytes.HasPrefix(p, []byte("GET ")) || bytes.HasPrefix(p, []byte("POST ")):
				req = p
			case bytes.HasPrefix(p, []byte("HEAD ")):
			case p[2]&0x80 == 0: // a DNS query
				c.UDP(client(), dnsServer, p)
			default:
				c.UDP(dnsServer, client(), p)
			}
			for _, f := range c.Frames {
				if err := emit(f); err != nil {
					return total, err
				}
				total += int64(len(f.Data))
			}
			clear(c.Frames)
			c.Frames = c.Frames[:0]
			if total >= size {
				return total, nil
			}
		}
	}
	return total, nil
}

// isClientHello tells a TLS record of the corpus from a DNS message
// whose random ID starts with the same byte: its header's length is the
// rest of the payload.
func isClientHello(p []byte) bool {
	return len(p) > 5 && p[0] == 0x16 && p[1] == 0x03 && int(p[3])<<8|int(p[4]) == len(p)-5
}

// content renders p as a rule's content value: printable bytes as
// themselves, the rest and the characters either language would need
// escaped (" ; \ |) in hex, so that the value is the same literal in
// Suricata's and Snort's languages.
func content(p []byte) string {
	var b strings.Builder
	b.WriteByte('"')
	hex := false
	for _, c := range p {
		plain := c >= 0x20 && c < 0x7f && !strings.ContainsRune(`";\|`, rune(c))
		switch {
		case plain && hex:
			b.WriteByte('|')
			hex = false
		case !plain && !hex:
			b.WriteByte('|')
			hex = true
		case !plain:
			b.WriteByte(' ')
		}
		if plain {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%02X", c)
		}
	}
	if hex {
		b.WriteByte('|')
	}
	b.WriteByte('"')
	return b.String()
}

// ContentRules renders n content rules over Patterns(n, n), one content
// each, half of them nocase, four in five on TCP and the rest on UDP,
// sid i+1 for the ith, in Suricata's language (suricata) and in Snort
// 3's (snort), where nocase is a modifier of the content and options
// are separated the same way. The two sets hold the same literals on the
// same protocols.
func ContentRules(n int) (suricata, snort string) {
	var sb, nb strings.Builder
	for i, p := range Patterns(n, uint64(n)) {
		proto := "tcp"
		if i%5 == 4 {
			proto = "udp"
		}
		content := content(p.Bytes)
		fmt.Fprintf(&sb, "alert %s any any -> any any (msg:\"bench %d\"; content:%s;", proto, i+1, content)
		fmt.Fprintf(&nb, "alert %s any any -> any any ( msg:\"bench %d\"; content:%s", proto, i+1, content)
		if p.Nocase {
			sb.WriteString(" nocase;")
			nb.WriteString(",nocase")
		}
		fmt.Fprintf(&sb, " sid:%d; rev:1;)\n", i+1)
		fmt.Fprintf(&nb, "; sid:%d; rev:1; )\n", i+1)
	}
	return sb.String(), nb.String()
}
