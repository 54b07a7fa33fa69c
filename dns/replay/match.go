package replay

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// mismatch names the first criterion a message failed; mmNone is a match.
// Matching returns only this code so that scanning many entries allocates
// nothing; describe builds the message when one is needed.
type mismatch uint8

const (
	mmNone mismatch = iota
	mmOpcode
	mmQType
	mmQName
	mmQCase
	mmSubdomain
	mmRcode
	mmFlags
	mmQuestion
	mmAnswer
	mmAuthority
	mmAdditional
	mmDO
	mmNoEDNS
	mmEDNS
	mmEDNSData
	mmNSID
	mmSerial
	mmEDE
	mmClientCookie
	mmServerCookie
	mmTransport
	mmAnswerTypes
	mmAnswerRRSIGs
	mmRaw
)

// expand resolves the composite criteria into the individual ones.
func (m Match) expand() Match {
	if m&(MatchAll|MatchAllNoEDNS) != 0 {
		m |= MatchOpcode | MatchRcode | MatchFlags | MatchQuestion | MatchAnswer | MatchAuthority | MatchAdditional
	}
	return m
}

// mismatch compares got with the entry's first packet under the entry's
// MATCH criteria. tcp is the transport got arrived on.
func (e *Entry) mismatch(got *dns.Msg, tcp bool) mismatch {
	want := e.Packets[0].Msg
	m := e.Match.expand()
	ttl := m&MatchTTL != 0
	switch {
	case m&MatchOpcode != 0 && got.Opcode != want.Opcode:
		return mmOpcode
	case m&MatchQType != 0 && qtype(got) != qtype(want):
		return mmQType
	case m&MatchQName != 0 && !strings.EqualFold(qname(got), qname(want)):
		return mmQName
	case m&MatchQCase != 0 && qname(got) != qname(want):
		return mmQCase
	case m&MatchSubdomain != 0 && !isSubdomain(qname(got), qname(want)):
		return mmSubdomain
	case m&MatchRcode != 0 && got.Rcode != want.Rcode:
		return mmRcode
	case m&MatchFlags != 0 && flagBits(got) != flagBits(want):
		return mmFlags
	case m&MatchQuestion != 0 && !sameQuestions(got.Question, want.Question):
		return mmQuestion
	case m&MatchAnswer != 0 && !sameRRs(got.Answer, want.Answer, ttl):
		return mmAnswer
	case m&MatchAuthority != 0 && !sameRRs(got.Ns, want.Ns, ttl):
		return mmAuthority
	case m&MatchAdditional != 0 && !sameRRs(got.Extra, want.Extra, ttl):
		return mmAdditional
	case m&MatchDO != 0 && !doBit(got):
		return mmDO
	case m&MatchNoEDNS != 0 && findOPT(got) != nil:
		return mmNoEDNS
	case m&MatchEDNS != 0 && !sameEDNS(got, want):
		return mmEDNS
	case m&MatchEDNSData != 0 && !sameOptionData(got, e.Packets[0].EDNSData):
		return mmEDNSData
	case m&MatchNSID != 0 && nsid(got) != nsid(want):
		return mmNSID
	case m&MatchSerial != 0 && soaSerial(got) != e.Serial:
		return mmSerial
	case m&MatchEDE != 0 && !e.edeMatches(got):
		return mmEDE
	case m&MatchClientCookie != 0 && cookieLen(got) != 8:
		return mmClientCookie
	case m&MatchServerCookie != 0 && cookieLen(got) != 24:
		return mmServerCookie
	case m&MatchTCP != 0 && !tcp, m&MatchUDP != 0 && tcp:
		return mmTransport
	case m&MatchAnswerTypes != 0 && !sameTypes(got.Answer, want.Answer, false):
		return mmAnswerTypes
	case m&MatchAnswerRRSIGs != 0 && !sameTypes(got.Answer, want.Answer, true):
		return mmAnswerRRSIGs
	}
	return mmNone
}

func qtype(m *dns.Msg) uint16 {
	if len(m.Question) == 0 {
		return 0
	}
	return m.Question[0].Qtype
}

func qname(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return ""
	}
	return m.Question[0].Name
}

// isSubdomain reports whether child is parent or below it, ignoring case,
// without allocating.
func isSubdomain(child, parent string) bool {
	if parent == "" || child == "" {
		return parent == child
	}
	if parent == "." {
		return true
	}
	if len(child) < len(parent) {
		return false
	}
	if !strings.EqualFold(child[len(child)-len(parent):], parent) {
		return false
	}
	if len(child) == len(parent) {
		return true
	}
	// The suffix must start a label: an unescaped dot must precede it.
	dot := len(child) - len(parent) - 1
	if child[dot] != '.' {
		return false
	}
	backslashes := 0
	for i := dot - 1; i >= 0 && child[i] == '\\'; i-- {
		backslashes++
	}
	return backslashes%2 == 0
}

// Header flag bits as compared by MATCH flags.
const (
	flagQR = 1 << iota
	flagAA
	flagTC
	flagRD
	flagRA
	flagAD
	flagCD
)

func flagBits(m *dns.Msg) uint8 {
	var f uint8
	if m.Response {
		f |= flagQR
	}
	if m.Authoritative {
		f |= flagAA
	}
	if m.Truncated {
		f |= flagTC
	}
	if m.RecursionDesired {
		f |= flagRD
	}
	if m.RecursionAvailable {
		f |= flagRA
	}
	if m.AuthenticatedData {
		f |= flagAD
	}
	if m.CheckingDisabled {
		f |= flagCD
	}
	return f
}

func flagString(f uint8) string {
	names := [...]string{"QR", "AA", "TC", "RD", "RA", "AD", "CD"}
	var parts []string
	for i, n := range names {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " ")
}

func sameQuestions(got, want []dns.Question) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Qtype != want[i].Qtype || got[i].Qclass != want[i].Qclass || !strings.EqualFold(got[i].Name, want[i].Name) {
			return false
		}
	}
	return true
}

// countRRs counts the records of a section, OPT excluded: EDNS is compared
// on its own terms, never as a record.
func countRRs(rrs []dns.RR) int {
	n := 0
	for _, rr := range rrs {
		if rr != nil && rr.Header().Rrtype != dns.TypeOPT {
			n++
		}
	}
	return n
}

// sameRRs compares two sections as multisets: order is ignored, names
// compare without case, TTLs only when ttl is set. Sections of up to 512
// records are compared without allocating.
func sameRRs(got, want []dns.RR, ttl bool) bool {
	n := countRRs(got)
	if n != countRRs(want) {
		return false
	}
	var small [8]uint64
	used := small[:]
	if len(got) > len(small)*64 {
		used = make([]uint64, (len(got)+63)/64)
	}
	for _, w := range want {
		if w == nil || w.Header().Rrtype == dns.TypeOPT {
			continue
		}
		found := false
		for j, g := range got {
			if g == nil || used[j/64]&(1<<(j%64)) != 0 || g.Header().Rrtype == dns.TypeOPT {
				continue
			}
			if ttl && g.Header().Ttl != w.Header().Ttl {
				continue
			}
			if dns.IsDuplicate(g, w) || sameWire(g, w) {
				used[j/64] |= 1 << (j % 64)
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sameWire reports whether two records are the same on the wire, owner
// case and TTL aside. dns.IsDuplicate compares the text of hex fields,
// which miekg/dns keeps as written (a scenario's upper-case DS digest) or
// as decoded (lower case): the same record can differ there.
func sameWire(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	if ha.Rrtype != hb.Rrtype || ha.Class != hb.Class || !strings.EqualFold(ha.Name, hb.Name) {
		return false
	}
	switch ha.Rrtype {
	case dns.TypeDS, dns.TypeCDS, dns.TypeDLV, dns.TypeTLSA, dns.TypeSMIMEA, dns.TypeSSHFP,
		dns.TypeNSEC3, dns.TypeNSEC3PARAM, dns.TypeZONEMD:
		// The types with hex fields; the others compare as text alone,
		// without packing.
	default:
		return false
	}
	var bufA, bufB [1024]byte
	pa, errA := packRdata(a, bufA[:])
	pb, errB := packRdata(b, bufB[:])
	return errA == nil && errB == nil && bytes.Equal(pa, pb)
}

// packRdata returns the RDATA of rr in wire form, uncompressed.
func packRdata(rr dns.RR, buf []byte) ([]byte, error) {
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, err
	}
	_, off, err := dns.UnpackDomainName(buf[:n], 0)
	if err != nil || off+10 > n {
		return nil, fmt.Errorf("malformed record")
	}
	return buf[off+10 : n], nil
}

// sameTypes compares the sets of RR types (Deckard's answertypes and
// answerrrsigs); RRSIGs count by the type they cover when withSigs.
func sameTypes(got, want []dns.RR, withSigs bool) bool {
	has := func(rrs []dns.RR, t uint16, sig bool) bool {
		for _, rr := range rrs {
			if rr == nil {
				continue
			}
			if s, ok := rr.(*dns.RRSIG); ok {
				if sig && s.TypeCovered == t {
					return true
				}
				continue
			}
			if !sig && rr.Header().Rrtype == t {
				return true
			}
		}
		return false
	}
	covers := func(a, b []dns.RR) bool {
		for _, rr := range a {
			if rr == nil || rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			if s, ok := rr.(*dns.RRSIG); ok {
				if withSigs && !has(b, s.TypeCovered, true) {
					return false
				}
				continue
			}
			if !has(b, rr.Header().Rrtype, false) {
				return false
			}
		}
		return true
	}
	return covers(got, want) && covers(want, got)
}

// findOPT is IsEdns0 without its unchecked type assertion: a message built
// by the resolver under test may hold anything.
func findOPT(m *dns.Msg) *dns.OPT {
	for i := len(m.Extra) - 1; i >= 0; i-- {
		if opt, ok := m.Extra[i].(*dns.OPT); ok {
			return opt
		}
	}
	return nil
}

func doBit(m *dns.Msg) bool {
	opt := findOPT(m)
	return opt != nil && opt.Do()
}

func sameEDNS(got, want *dns.Msg) bool {
	g, w := findOPT(got), findOPT(want)
	if g == nil || w == nil {
		return g == nil && w == nil
	}
	return g.Version() == w.Version() && g.UDPSize() == w.UDPSize()
}

// optionData returns the packed OPT RDATA of m, or nil without EDNS.
func optionData(m *dns.Msg) []byte {
	opt := findOPT(m)
	if opt == nil {
		return nil
	}
	// Most OPT records are small; retry at the largest size only if needed.
	for _, size := range [...]int{512, dns.MaxMsgSize} {
		buf := make([]byte, size)
		end, err := dns.PackRR(opt, buf, 0, nil, false)
		if err == nil && end >= 11 {
			return buf[11:end]
		}
	}
	return nil
}

func sameOptionData(got *dns.Msg, want []byte) bool {
	g := optionData(got)
	if len(g) == 0 && len(want) == 0 {
		return true
	}
	return string(g) == string(want)
}

func nsid(m *dns.Msg) string {
	opt := findOPT(m)
	if opt == nil {
		return ""
	}
	for _, o := range opt.Option {
		if n, ok := o.(*dns.EDNS0_NSID); ok {
			return "nsid:" + n.Nsid
		}
	}
	return ""
}

// soaSerial returns the serial of the first SOA in the authority section,
// 0 when there is none (as testbound does).
func soaSerial(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial
		}
	}
	return 0
}

func ede(m *dns.Msg) (uint16, bool) {
	opt := findOPT(m)
	if opt == nil {
		return 0, false
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			return e.InfoCode, true
		}
	}
	return 0, false
}

func (e *Entry) edeMatches(m *dns.Msg) bool {
	code, ok := ede(m)
	return ok && (e.EDEAny || code == e.EDE)
}

// cookieLen is the length in bytes of the first EDNS cookie, -1 without
// one. testbound's client_cookie wants 8 (client part only), server_cookie
// 24 (client part and a 16-byte server part).
func cookieLen(m *dns.Msg) int {
	opt := findOPT(m)
	if opt == nil {
		return -1
	}
	for _, o := range opt.Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			return len(c.Cookie) / 2
		}
	}
	return -1
}

// describe explains a mismatch for a failure report.
func describe(mm mismatch, e *Entry, got *dns.Msg, tcp bool) string {
	want := e.Packets[0].Msg
	ttl := e.Match&MatchTTL != 0
	switch mm {
	case mmOpcode:
		return fmt.Sprintf("opcode differs: got %s, want %s", dns.OpcodeToString[got.Opcode], dns.OpcodeToString[want.Opcode])
	case mmQType:
		return fmt.Sprintf("qtype differs: got %s, want %s", dns.Type(qtype(got)), dns.Type(qtype(want)))
	case mmQName:
		return fmt.Sprintf("qname differs: got %q, want %q", qname(got), qname(want))
	case mmQCase:
		return fmt.Sprintf("qname letter case differs: got %q, want %q", qname(got), qname(want))
	case mmSubdomain:
		return fmt.Sprintf("qname %q is not at or below %q", qname(got), qname(want))
	case mmRcode:
		return fmt.Sprintf("rcode differs: got %s, want %s", rcodeString(got.Rcode), rcodeString(want.Rcode))
	case mmFlags:
		return fmt.Sprintf("flags differ: got %s, want %s", flagString(flagBits(got)), flagString(flagBits(want)))
	case mmQuestion:
		return fmt.Sprintf("question section differs: got %s, want %s", questionsString(got.Question), questionsString(want.Question))
	case mmAnswer:
		return sectionDiff("answer", got.Answer, want.Answer, ttl)
	case mmAuthority:
		return sectionDiff("authority", got.Ns, want.Ns, ttl)
	case mmAdditional:
		return sectionDiff("additional", got.Extra, want.Extra, ttl)
	case mmDO:
		return "EDNS DO bit is not set"
	case mmNoEDNS:
		return "message has EDNS, want none"
	case mmEDNS:
		return fmt.Sprintf("EDNS differs: got %s, want %s", ednsString(got), ednsString(want))
	case mmEDNSData:
		return fmt.Sprintf("EDNS option data differs: got %s, want %s", hex.EncodeToString(optionData(got)), hex.EncodeToString(e.Packets[0].EDNSData))
	case mmNSID:
		return fmt.Sprintf("NSID differs: got %q, want %q", nsid(got), nsid(want))
	case mmSerial:
		return fmt.Sprintf("SOA serial differs: got %d, want %d", soaSerial(got), e.Serial)
	case mmEDE:
		code, ok := ede(got)
		want := "any"
		if !e.EDEAny {
			want = fmt.Sprint(e.EDE)
		}
		if !ok {
			return fmt.Sprintf("no extended DNS error, want %s", want)
		}
		return fmt.Sprintf("extended DNS error differs: got %d, want %s", code, want)
	case mmClientCookie:
		return fmt.Sprintf("EDNS cookie is %d bytes, want an 8-byte client cookie", cookieLen(got))
	case mmServerCookie:
		return fmt.Sprintf("EDNS cookie is %d bytes, want a 24-byte client and server cookie", cookieLen(got))
	case mmTransport:
		if tcp {
			return "came over TCP, want UDP"
		}
		return "came over UDP, want TCP"
	case mmAnswerTypes, mmAnswerRRSIGs:
		return fmt.Sprintf("answer RR types differ: got %s, want %s", typesString(got.Answer), typesString(want.Answer))
	case mmRaw:
		return "raw message differs"
	}
	return "matches"
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

func questionsString(qs []dns.Question) string {
	parts := make([]string, len(qs))
	for i, q := range qs {
		parts[i] = fmt.Sprintf("%s %s %s", q.Name, dns.Class(q.Qclass), dns.Type(q.Qtype))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func ednsString(m *dns.Msg) string {
	opt := findOPT(m)
	if opt == nil {
		return "none"
	}
	return fmt.Sprintf("version %d payload %d", opt.Version(), opt.UDPSize())
}

// rrString renders a record on one line with single spaces.
func rrString(rr dns.RR) string {
	if rr == nil {
		return "<nil>"
	}
	return strings.Join(strings.Fields(rr.String()), " ")
}

func rrsString(rrs []dns.RR) string {
	var parts []string
	for _, rr := range rrs {
		if rr != nil && rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		parts = append(parts, rrString(rr))
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, "; ") + "]"
}

func typesString(rrs []dns.RR) string {
	seen := map[string]bool{}
	var parts []string
	for _, rr := range rrs {
		if rr == nil || rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		t := dns.Type(rr.Header().Rrtype).String()
		if s, ok := rr.(*dns.RRSIG); ok {
			t = "RRSIG(" + dns.Type(s.TypeCovered).String() + ")"
		}
		if !seen[t] {
			seen[t] = true
			parts = append(parts, t)
		}
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, " ") + "]"
}

func sectionDiff(name string, got, want []dns.RR, ttl bool) string {
	s := fmt.Sprintf("%s section differs: got %s, want %s", name, rrsString(got), rrsString(want))
	if !ttl {
		s += " (TTLs not compared)"
	}
	return s
}
