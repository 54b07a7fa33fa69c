package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func pack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wireName is the uncompressed wire form of a presentation name.
func wireName(t testing.TB, name string) []byte {
	t.Helper()
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestHeader(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(*dns.Msg)
		want Flags
	}{
		{"query", func(m *dns.Msg) {}, RD},
		{"response", func(m *dns.Msg) { m.Response, m.RecursionAvailable = true, true }, QR | RD | RA},
		{"every bit", func(m *dns.Msg) {
			m.Response, m.Authoritative, m.Truncated, m.RecursionAvailable = true, true, true, true
			m.Zero, m.AuthenticatedData, m.CheckingDisabled = true, true, true
		}, QR | AA | TC | RD | RA | Z | AD | CD},
		{"notify", func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify; m.RecursionDesired = false }, Flags(dns.OpcodeNotify) << 11},
		{"refused", func(m *dns.Msg) { m.Response = true; m.Rcode = dns.RcodeRefused }, QR | RD | RcodeRefused},
	} {
		m := new(dns.Msg)
		m.SetQuestion("example.", dns.TypeA)
		m.Id = 0xBEEF
		tt.set(m)
		b := pack(t, m)
		h := Header(b)
		if h.ID() != 0xBEEF || h.Flags() != tt.want || h.QDCount() != 1 || h.ANCount()+h.NSCount()+h.ARCount() != 0 {
			t.Errorf("%s: id %#x flags %#x counts %d %d %d %d", tt.name, h.ID(), h.Flags(), h.QDCount(), h.ANCount(), h.NSCount(), h.ARCount())
		}
		if got := h.Flags().Opcode(); got != uint8(m.Opcode) {
			t.Errorf("%s: opcode %d, want %d", tt.name, got, m.Opcode)
		}
		if got := h.Flags().Rcode(); got != uint8(m.Rcode) {
			t.Errorf("%s: rcode %d, want %d", tt.name, got, m.Rcode)
		}
	}

	// Setters write what miekg/dns reads.
	m := new(dns.Msg)
	m.SetQuestion("example.", dns.TypeA)
	b := pack(t, m)
	h := Header(b)
	h.SetID(7)
	h.SetFlags((QR | AA | CD).WithRcode(RcodeNXDomain))
	h.SetCount(SectionAnswer, 0)
	var got dns.Msg
	if err := got.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if got.Id != 7 || !got.Response || !got.Authoritative || !got.CheckingDisabled || got.RecursionDesired || got.Rcode != dns.RcodeNameError {
		t.Errorf("after the setters: %v", &got)
	}
	for s := SectionQuestion; s <= SectionAdditional; s++ {
		h.SetCount(s, uint16(10+s))
		if h.Count(s) != uint16(10+s) {
			t.Errorf("%s count %d", s, h.Count(s))
		}
	}
	if h.QDCount() != 10 || h.ANCount() != 11 || h.NSCount() != 12 || h.ARCount() != 13 {
		t.Errorf("counts %d %d %d %d", h.QDCount(), h.ANCount(), h.NSCount(), h.ARCount())
	}
	if f := (QR | 0xF).WithRcode(RcodeFormErr); f != QR|RcodeFormErr {
		t.Errorf("WithRcode: %#x", f)
	}
}

// msgWith is a 12-octet header followed by body.
func msgWith(body ...byte) []byte {
	return append(make([]byte, HeaderLen), body...)
}

func TestNames(t *testing.T) {
	long := func(labels int) []byte { // labels of 63 octets, then the root
		var b []byte
		for range labels {
			b = append(b, 63)
			b = append(b, bytes.Repeat([]byte{'a'}, 63)...)
		}
		return b
	}
	name254 := append(long(3), 61) // 3*64 + 62 = 254 octets before the root
	name254 = append(name254, bytes.Repeat([]byte{'b'}, 61)...)
	name254 = append(name254, 0)
	for _, tt := range []struct {
		name   string
		msg    []byte
		off    int
		skip   int    // SkipName's end, or the fault's offset
		read   string // ReadName's name in presentation form ("" on a fault)
		end    int    // ReadName's end, or the fault's offset
		reason Reason
	}{
		{"plain", msgWith(3, 'w', 'w', 'w', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0), 12, 25, "www.Example.", 25, 0},
		{"root", msgWith(0), 12, 13, ".", 13, 0},
		{"pointer", msgWith(7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 3, 'w', 'w', 'w', 0xC0, 12), 21, 27, "www.example.", 27, 0},
		{"two pointers", msgWith(7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 1, 'a', 0xC0, 12, 1, 'b', 0xC0, 21), 25, 29, "b.a.example.", 29, 0},
		{"pointer alone", msgWith(1, 'x', 0, 0xC0, 12), 15, 17, "x.", 17, 0},
		{"forward pointer", msgWith(0xC0, 14, 0), 12, 12, "", 12, ErrPointer},
		{"pointer to itself", msgWith(1, 'a', 0xC0, 12), 12, 14, "", 14, ErrPointer},
		{"loop through two", msgWith(1, 'a', 0xC0, 16, 1, 'b', 0xC0, 12), 16, 20, "", 14, ErrPointer},
		{"pointer into the header", msgWith(0xC0, 4), 12, 12, "", 12, ErrPointer},
		{"label type 0x40", msgWith(0x41, 'a', 0), 12, 12, "", 12, ErrLabelType},
		{"label type 0x80", msgWith(1, 'a', 0x81, 0), 12, 14, "", 14, ErrLabelType},
		{"label past the end", msgWith(5, 'a', 'b'), 12, 12, "", 12, ErrTruncated},
		{"no root", msgWith(1, 'a'), 12, 14, "", 14, ErrTruncated},
		{"half a pointer", msgWith(1, 'a', 0xC0), 12, 14, "", 14, ErrTruncated},
		{"offset past the end", msgWith(0), 13, 13, "", 13, ErrTruncated},
		{"negative offset", msgWith(0), -1, -1, "", -1, ErrTruncated},
		{"255 octets", msgWith(name254...), 12, 12 + 255, strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + ".", 12 + 255, 0},
		{"256 octets", msgWith(append(long(4), 0)...), 12, 12 + 192, "", 12 + 192, ErrNameLen},
		// Each part is short, the name it makes is not: only ReadName,
		// which follows the pointer, can tell.
		{"256 octets through a pointer", append(msgWith(append(long(2), 0)...), append(long(2), 0xC0, 12)...), 12 + 129, 12 + 129 + 130,
			"", 12 + 64, ErrNameLen},
	} {
		t.Run(tt.name, func(t *testing.T) {
			skip, err := SkipName(tt.msg, tt.off)
			wantSkipErr := tt.reason != 0 && !(tt.name == "256 octets through a pointer" || tt.name == "loop through two")
			if skip != tt.skip || (err != nil) != wantSkipErr {
				t.Errorf("SkipName = %d, %v; want %d (fault %v)", skip, err, tt.skip, wantSkipErr)
			}
			if wantSkipErr {
				var we *Error
				if !errors.As(err, &we) || we.Offset != tt.skip || !errors.Is(err, tt.reason) {
					t.Errorf("SkipName error %v, want %v at %d", err, tt.reason, tt.skip)
				}
			}
			var dst [MaxNameLen]byte
			n, end, err := ReadName(tt.msg, tt.off, &dst)
			if tt.reason != 0 {
				var we *Error
				if !errors.As(err, &we) || we.Reason != tt.reason || we.Offset != tt.end || end != tt.end {
					t.Errorf("ReadName = %d, %v; want %v at %d", end, err, tt.reason, tt.end)
				}
				return
			}
			if err != nil || end != tt.end || !bytes.Equal(dst[:n], wireName(t, tt.read)) {
				t.Errorf("ReadName = %q, %d, %v; want %q, %d", dst[:n], end, err, tt.read, tt.end)
			}
		})
	}
}

func TestCase(t *testing.T) {
	a, b := wireName(t, "wWw.ExAmPlE."), wireName(t, "www.example.")
	if !EqualFold(a, b) || EqualFold(a, wireName(t, "www.example.org.")) || EqualFold(wireName(t, "a."), wireName(t, "b.")) {
		t.Error("EqualFold")
	}
	// A length octet of 'A'-'a' apart must not fold: lengths stay below 64.
	var low [MaxNameLen]byte
	if n := CopyLower(low[:], a); !bytes.Equal(low[:n], b) {
		t.Errorf("CopyLower: %q", low[:n])
	}
	if CopyLower(low[:2], a) != 2 {
		t.Error("CopyLower past dst")
	}
}

// testMessage is a response with every section, compression, an OPT
// record with two options, and a record of an unknown type.
func testMessage(t testing.TB) (*dns.Msg, []byte) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.Example.lab.", dns.TypeA)
	m.Response, m.Authoritative = true, true
	m.Answer = []dns.RR{mustRR(t, "www.Example.lab. 300 IN CNAME web.example.lab."), mustRR(t, "web.example.lab. 60 IN A 192.0.2.1")}
	m.Ns = []dns.RR{mustRR(t, "example.lab. 3600 IN NS ns.example.lab."), mustRR(t, "example.lab. 3600 IN TYPE65280 \\# 3 010203")}
	m.Extra = []dns.RR{mustRR(t, "ns.example.lab. 3600 IN AAAA 2001:db8::53")}
	m.SetEdns0(1232, true)
	opt := m.IsEdns0()
	opt.Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "abcd"},
		&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708" + "1112131415161718"}}
	m.Compress = true
	return m, pack(t, m)
}

func TestReader(t *testing.T) {
	m, b := testMessage(t)
	r := NewReader(b)
	q, ok := r.Question()
	if !ok || q.Off != 12 || q.Compressed() || !bytes.Equal(q.Name(b), wireName(t, "www.Example.lab.")) || q.Type() != dns.TypeA || q.Class() != dns.ClassINET || r.Section() != SectionQuestion {
		t.Fatalf("question %+v %v", q, ok)
	}
	if _, ok := r.Question(); ok {
		t.Fatal("a second question")
	}
	var r2 Reader
	if q2, ok := r2.OneQuestion(b); !ok || q2 != q || r2.Offset() != q.End() {
		t.Errorf("OneQuestion: %+v %v", q2, ok)
	}
	two := append([]byte(nil), b...)
	Header(two).SetCount(SectionQuestion, 2)
	pointed := msgWith(0xC0, 12, 0, 1, 0, 1)
	Header(pointed).SetCount(SectionQuestion, 1)
	for _, bad := range [][]byte{two, pointed, b[:13]} {
		if q, ok := r2.OneQuestion(bad); ok {
			t.Errorf("OneQuestion(%x) = %+v", bad, q)
		}
	}
	var all []dns.RR
	all = append(all, m.Answer...)
	all = append(all, m.Ns...)
	all = append(all, m.Extra...)
	sections := []Section{SectionAnswer, SectionAnswer, SectionAuthority, SectionAuthority, SectionAdditional, SectionAdditional}
	for i, want := range all {
		rr, ok := r.Next()
		if !ok {
			t.Fatalf("record %d: %v", i, r.Err())
		}
		h := want.Header()
		var owner [MaxNameLen]byte
		n, end, err := ReadName(b, rr.Off, &owner)
		if err != nil || end != rr.NameEnd || !bytes.Equal(owner[:n], wireName(t, h.Name)) {
			t.Errorf("record %d: owner %q end %d (%v), want %s", i, owner[:n], end, err, h.Name)
		}
		if rr.Type() != h.Rrtype || rr.Class() != h.Class || rr.TTL() != h.Ttl || r.Section() != sections[i] {
			t.Errorf("record %d: %+v in %s, want %s in %s", i, rr, r.Section(), want, sections[i])
		}
		if got := binary.BigEndian.Uint32(b[rr.TTLOff():]); got != h.Ttl {
			t.Errorf("record %d: TTL at TTLOff %d is %d", i, rr.TTLOff(), got)
		}
		if rr.RDataOff() != rr.NameEnd+10 || rr.End != rr.RDataOff()+len(rr.RData(b)) {
			t.Errorf("record %d: offsets %+v", i, rr)
		}
	}
	if _, ok := r.Next(); ok || r.Err() != nil || r.Offset() != len(b) {
		t.Errorf("after the last record: %v %v at %d of %d", ok, r.Err(), r.Offset(), len(b))
	}

	// Next reads past the questions on its own; OPT finds the OPT record
	// and its options.
	r = NewReader(b)
	opt, found := r.OPT()
	if !found || r.Err() != nil {
		t.Fatalf("OPT: %v %v", found, r.Err())
	}
	if opt.UDPSize() != 1232 || !opt.DO() || opt.Version() != 0 || opt.ExtRcode() != 0 || opt.Flags() != DO {
		t.Errorf("OPT %+v", opt)
	}
	options := opt.Options(b)
	nsid, found, valid := options.Find(dns.EDNS0NSID)
	if !found || !valid || hex.EncodeToString(nsid) != "abcd" {
		t.Errorf("NSID %x %v %v", nsid, found, valid)
	}
	c, found, valid := options.Find(OptionCookie)
	cookie := Cookie(c)
	if !found || !valid || !cookie.Valid() || hex.EncodeToString(cookie.Client()) != "0102030405060708" || hex.EncodeToString(cookie.Server()) != "1112131415161718" {
		t.Errorf("cookie %x %v %v", c, found, valid)
	}
	var codes []uint16
	for off := 0; off < len(options); {
		code, data, next, err := options.Next(off)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
		if next != off+4+len(data) {
			t.Errorf("option at %d: next %d", off, next)
		}
		off = next
	}
	if len(codes) != 2 || codes[0] != dns.EDNS0NSID || codes[1] != OptionCookie {
		t.Errorf("options %v", codes)
	}
}

func TestReaderFaults(t *testing.T) {
	_, good := testMessage(t)
	gr := NewReader(good)
	lastOPT, _ := gr.OPT()
	withCount := func(s Section, n uint16) []byte {
		b := append([]byte(nil), good...)
		Header(b).SetCount(s, n)
		return b
	}
	m := new(dns.Msg)
	m.SetQuestion("example.", dns.TypeA)
	m.SetEdns0(1232, false)
	twoOPT := pack(t, m)
	twoOPT = append(twoOPT, twoOPT[len(twoOPT)-OPTLen:]...)
	Header(twoOPT).SetCount(SectionAdditional, 2)
	ownedOPT := pack(t, m)
	ownedOPT = append(ownedOPT[:len(ownedOPT)-OPTLen], append([]byte{0xC0, 12}, ownedOPT[len(ownedOPT)-OPTLen+1:]...)...)
	optInAnswer := pack(t, m)
	Header(optInAnswer).SetCount(SectionAnswer, 1)
	Header(optInAnswer).SetCount(SectionAdditional, 0)
	for _, tt := range []struct {
		name   string
		msg    []byte
		reason Reason
		at     int
		opt    bool
	}{
		{"short", good[:11], ErrShort, 0, false},
		{"one record too many", withCount(SectionAdditional, 3), ErrTruncated, len(good), false},
		{"cut in a record", good[:len(good)-5], ErrTruncated, lastOPT.Off, false},
		{"two OPT records", twoOPT, ErrTwoOPT, len(twoOPT) - OPTLen, false},
		{"OPT owned by a name", ownedOPT, ErrOPTOwner, len(ownedOPT) - OPTLen - 1, false},
		{"OPT in the answer section", optInAnswer, 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.msg)
			_, found := r.OPT()
			if r.Reason() != tt.reason || found != tt.opt {
				t.Fatalf("reason %v found %v, want %v %v", r.Reason(), found, tt.reason, tt.opt)
			}
			if tt.reason == 0 {
				return
			}
			var e *Error
			if err := r.Err(); !errors.As(err, &e) || e.Offset != tt.at || !errors.Is(err, tt.reason) {
				t.Errorf("Err() = %v, want %v at %d", err, tt.reason, tt.at)
			}
			if !strings.Contains(r.Err().Error(), "offset") {
				t.Errorf("%q names no offset", r.Err())
			}
		})
	}
}

func TestOptionsAndCookies(t *testing.T) {
	for _, tt := range []struct {
		name        string
		opts        string // hex
		found       string
		valid, ok   bool
		nextFailsAt int // -1: every option reads
	}{
		{"none", "", "", true, false, -1},
		{"cookie", "000a0008" + "0102030405060708", "0102030405060708", true, true, -1},
		{"the first of two", "000a00020a0b" + "000a00010c", "0a0b", true, true, -1},
		{"after another", "0003000161" + "000a00010c", "0c", true, true, -1},
		{"cut header", "000a00", "", false, false, 0},
		{"cut data", "000a0009" + "0102030405060708", "", false, false, 0},
		{"cut after a cookie", "000a00010c" + "0003", "", false, false, 5},
	} {
		o, _ := hex.DecodeString(tt.opts)
		data, found, valid := Options(o).Find(OptionCookie)
		if valid != tt.valid || found != tt.ok || hex.EncodeToString(data) != tt.found {
			t.Errorf("%s: Find = %x %v %v", tt.name, data, found, valid)
		}
		failed := -1
		for off := 0; off < len(o); {
			_, _, next, err := Options(o).Next(off)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Offset != off {
					t.Errorf("%s: error %v at %d", tt.name, err, off)
				}
				failed = off
				break
			}
			off = next
		}
		if failed != tt.nextFailsAt {
			t.Errorf("%s: Next failed at %d, want %d", tt.name, failed, tt.nextFailsAt)
		}
	}
	for _, tt := range []struct {
		n     int
		valid bool
	}{{0, false}, {7, false}, {8, true}, {9, false}, {15, false}, {16, true}, {24, true}, {40, true}, {41, false}} {
		c := Cookie(make([]byte, tt.n))
		if c.Valid() != tt.valid {
			t.Errorf("a cookie of %d octets: valid %v", tt.n, c.Valid())
		}
		if tt.n >= 8 && (len(c.Client()) != 8 || len(c.Server()) != tt.n-8) {
			t.Errorf("a cookie of %d octets: client %d server %d", tt.n, len(c.Client()), len(c.Server()))
		}
	}
	if Cookie(make([]byte, 3)).Client() != nil || Cookie(nil).Server() != nil {
		t.Error("a short cookie has parts")
	}
}

func TestPutOPT(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("example.", dns.TypeA)
	b := pack(t, m)
	b = append(b, make([]byte, OPTLen)...)
	PutOPT(b[len(b)-OPTLen:], 4096, true)
	Header(b).SetCount(SectionAdditional, 1)
	var got dns.Msg
	if err := got.Unpack(b); err != nil {
		t.Fatal(err)
	}
	opt := got.IsEdns0()
	if opt == nil || opt.UDPSize() != 4096 || !opt.Do() || opt.Version() != 0 || len(opt.Option) != 0 {
		t.Errorf("OPT %v", opt)
	}
	// An option appended in place: the header, then RDLENGTH.
	b = append(b, make([]byte, 4+2)...)
	PutOptionHeader(b[len(b)-6:], OptionCookie, 2)
	copy(b[len(b)-2:], "hi")
	r := NewReader(b)
	rr, _ := r.OPT()
	RR(rr).SetRDLength(b, 6)
	if err := got.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if o := got.IsEdns0(); len(o.Option) != 1 || o.Option[0].Option() != OptionCookie {
		t.Errorf("after an option was appended: %v", o)
	}
}

func TestReasons(t *testing.T) {
	for r := ErrShort; r <= ErrOPTOwner; r++ {
		if s := r.Error(); strings.Contains(s, "fault") {
			t.Errorf("reason %d has no text: %s", r, s)
		}
	}
	if s := Reason(200).Error(); !strings.Contains(s, "200") {
		t.Errorf("unknown reason: %s", s)
	}
	if s := (&Error{Offset: 3, Reason: 99}).Error(); !strings.Contains(s, "offset 3") {
		t.Error(s)
	}
	if SectionAdditional.String() != "additional" || Section(9).String() != "no section" {
		t.Error("section names")
	}
}

// TestNoAllocations: walking a message, its names and options allocates
// nothing, and neither does a Reader that stops at a fault.
func TestNoAllocations(t *testing.T) {
	_, b := testMessage(t)
	bad := b[:len(b)-3]
	var dst [MaxNameLen]byte
	walk := func(msg []byte) {
		r := NewReader(msg)
		for {
			rr, ok := r.Next()
			if !ok {
				break
			}
			_, _, _ = ReadName(msg, rr.Off, &dst)
		}
		_ = r.Reason()
		r = NewReader(msg)
		if opt, ok := r.OPT(); ok {
			_, _, _ = opt.Options(msg).Find(OptionCookie)
		}
	}
	if n := testing.AllocsPerRun(100, func() { walk(b); walk(bad) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
	var err error = ErrTruncated // a Reason is an error without an allocation
	if n := testing.AllocsPerRun(100, func() { err = Reason(len(b) % 7) }); n != 0 || err == nil {
		t.Errorf("%v allocations", n)
	}
}

func BenchmarkReader(b *testing.B) {
	_, msg := testMessage(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		r := NewReader(msg)
		if _, ok := r.OPT(); !ok {
			b.Fatal(r.Err())
		}
	}
}

func BenchmarkReadName(b *testing.B) {
	_, msg := testMessage(b)
	r := NewReader(msg)
	var last RR
	for rr, ok := r.Next(); ok; rr, ok = r.Next() {
		if rr.Type() == dns.TypeAAAA {
			last = rr
		}
	}
	var dst [MaxNameLen]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ReadName(msg, last.Off, &dst); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLower8 holds the eight-octets-at-once lowering to LowerByte for
// every octet value in every position.
func TestLower8(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			var in [8]byte
			for i := range in {
				in[i] = byte(c + 37*i) // neighbours of every kind
			}
			in[pos] = byte(c)
			got := lower8(binary.LittleEndian.Uint64(in[:]))
			for i := range in {
				if want := LowerByte(in[i]); byte(got>>(8*i)) != want {
					t.Fatalf("octet %#x at %d (in %x): %#x, want %#x", in[i], i, in, byte(got>>(8*i)), want)
				}
			}
		}
	}
	long := []byte("\x0bMiXeD-CaSe1\x07EXAMPLE\x03CoM\x00")
	var low [MaxNameLen]byte
	n := CopyLower(low[:], long)
	if string(low[:n]) != "\x0bmixed-case1\x07example\x03com\x00" || !EqualFold(long, low[:n]) {
		t.Errorf("CopyLower: %q", low[:n])
	}
	CopyLower(long, long)
	if string(long) != string(low[:n]) {
		t.Errorf("CopyLower in place: %q", long)
	}
	other := []byte("\x0bmixed-case2\x07example\x03com\x00")
	if EqualFold(other, low[:n]) || EqualFold(low[:n], []byte("\x0bmixed-case1\x07exAmplf\x03com\x00")) {
		t.Error("EqualFold of different names")
	}
}

// BenchmarkQueryWalk is what a server's hit path asks of a query: its
// question and its OPT record's cookie.
func BenchmarkQueryWalk(b *testing.B) {
	m := new(dns.Msg)
	m.SetQuestion("wWw.ExAmPlE.", dns.TypeA)
	m.SetEdns0(1232, false)
	q := pack(b, m)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var r Reader
		r.Reset(q)
		qq, ok := r.Question()
		if !ok || qq.Compressed() {
			b.Fatal("q")
		}
		rr, found := r.OPT()
		if !found {
			b.Fatal("opt")
		}
		if _, _, valid := rr.Options(q).Find(OptionCookie); !valid {
			b.Fatal("opts")
		}
	}
}

func TestAppendOption(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("example.", dns.TypeA)
	m.Response = true
	m.Answer = []dns.RR{mustRR(t, "example. 60 IN A 192.0.2.1")}
	m.SetEdns0(1232, true)
	withOPT := pack(t, m)
	m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "ab"}}
	withOption := pack(t, m)
	m.Extra = nil
	noOPT := pack(t, m)
	data := []byte("0123456789abcdef01234567")
	for _, tt := range []struct {
		name string
		msg  []byte
		room int
		ok   bool
	}{
		{"OPT last", withOPT, 4 + len(data), true},
		{"no room", withOPT, 4 + len(data) - 1, false},
		{"no OPT", noOPT, 4 + len(data), false},
		{"OPT with an option", withOption, 4 + len(data), false},
		{"short", withOPT[:HeaderLen+OPTLen-1], 4 + len(data), false},
	} {
		buf := make([]byte, len(tt.msg)+tt.room)
		copy(buf, tt.msg)
		n := AppendOption(buf, len(tt.msg), OptionCookie, data)
		if (n > 0) != tt.ok {
			t.Errorf("%s: %d", tt.name, n)
			continue
		}
		if !tt.ok {
			continue
		}
		var got dns.Msg
		if err := got.Unpack(buf[:n]); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		o := got.IsEdns0()
		if c, ok := o.Option[0].(*dns.EDNS0_COOKIE); len(o.Option) != 1 || !ok || c.Cookie != hex.EncodeToString(data) || !o.Do() {
			t.Errorf("%s: %v", tt.name, o)
		}
	}
}
