package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/miekg/dns"
)

// FuzzMessage: any bytes walk without a panic and every view stays inside
// them; a message that miekg/dns packs walks without a fault; and where
// the walk and miekg/dns's Unpack both succeed, they agree on every field
// both read (header, questions, owners, types, classes, TTLs, RDATA
// lengths, OPT and its options). Where miekg/dns accepts what the walk
// refuses, the walk's rule is the stricter one on purpose: a pointer to
// no prior occurrence, or a second OPT record or one not owned by the
// root.
func FuzzMessage(f *testing.F) {
	_, b := testMessage(f)
	f.Add(b)
	m := new(dns.Msg)
	m.SetQuestion("www.example.", dns.TypeA)
	f.Add(pack(f, m))
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
	f.Add(pack(f, m))
	// A referral with glue, a signed answer and a negative answer: names
	// compressed against each other in every section.
	for _, rrs := range [][]string{
		{"lab. 172800 IN NS ns1.lab.", "lab. 172800 IN NS ns2.lab.", "ns1.lab. 172800 IN A 192.0.2.10", "ns2.lab. 172800 IN AAAA 2001:db8::10"},
		{"www.example.lab. 300 IN A 192.0.2.1", "www.example.lab. 300 IN RRSIG A 13 3 300 20270101000000 20260101000000 12345 example.lab. " +
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"example.lab. 3600 IN SOA ns1.example.lab. hostmaster.example.lab. 1 7200 900 1209600 300", `x.example.lab. 60 IN TXT "a" "b"`},
	} {
		m := new(dns.Msg)
		m.SetQuestion("www.example.lab.", dns.TypeA)
		m.Response = true
		for i, s := range rrs {
			rr := mustRR(f, s)
			switch {
			case i == 0:
				m.Answer = append(m.Answer, rr)
			case i%2 == 1:
				m.Ns = append(m.Ns, rr)
			default:
				m.Extra = append(m.Extra, rr)
			}
		}
		m.SetEdns0(4096, true)
		m.Compress = true
		f.Add(pack(f, m))
	}
	f.Add(msgWith(1, 'a', 0xC0, 16, 1, 'b', 0xC0, 12))
	f.Add([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := walk(t, b)
		var m dns.Msg
		if err := m.Unpack(b); err != nil {
			return
		}
		if v.err == nil {
			agree(t, b, v, &m)
		} else if !stricter(b, v, &m) {
			t.Fatalf("miekg/dns reads what the walk refuses (%v): %v", v.err, &m)
		}
		// What miekg/dns packs is well formed, and read alike.
		m.Compress = true
		b2, err := m.Pack()
		if err != nil {
			return
		}
		var m2 dns.Msg
		if err := m2.Unpack(b2); err != nil {
			return
		}
		v2 := walk(t, b2)
		if v2.err != nil && !errors.Is(v2.err, ErrTwoOPT) && !errors.Is(v2.err, ErrOPTOwner) {
			t.Fatalf("walk of a message miekg/dns packed: %v\n%x", v2.err, b2)
		}
		if v2.err == nil {
			agree(t, b2, v2, &m2)
		}
	})
}

// stricter reports whether the walk's fault v.err breaks a rule the walk
// keeps and miekg/dns does not: a pointer to no prior occurrence; one
// OPT record, owned by the root; and the whole of every entry the header
// announces, where miekg/dns takes a message that ends after its header,
// inside a question or where a record would start as having no more
// entries.
func stricter(b []byte, v walked, m *dns.Msg) bool {
	var e *Error
	switch {
	case errors.Is(v.err, ErrPointer), errors.Is(v.err, ErrTwoOPT), errors.Is(v.err, ErrOPTOwner):
		return true
	case errors.As(v.err, &e) && e.Reason == ErrTruncated:
		return len(b) == HeaderLen || v.questionFault || (e.Offset == len(b) && countsLie(b, m))
	}
	return false
}

// countsLie reports whether miekg/dns read fewer entries than the header
// announces, which it does silently when the message ends early at an
// entry's boundary; the walk calls that a truncated message.
func countsLie(b []byte, m *dns.Msg) bool {
	h := Header(b)
	return int(h.QDCount()) != len(m.Question) || int(h.ANCount()) != len(m.Answer) ||
		int(h.NSCount()) != len(m.Ns) || int(h.ARCount()) != len(m.Extra)
}

// walked is what the views read from a message.
type walked struct {
	flags     Flags
	id        uint16
	questions []Question
	qnames    [][]byte
	rrs       []RR
	owners    [][]byte
	sections  []Section
	opt       OPT
	hasOPT    bool
	err       error
	// questionFault: the walk stopped at a fault inside the questions.
	questionFault bool
}

// walk reads b with every view, checking that each offset and slice they
// return lies inside b, and returns what they read.
func walk(t *testing.T, b []byte) walked {
	var v walked
	inside := func(what string, offs ...int) {
		prev := 0
		for _, o := range offs {
			if o < prev || o > len(b) {
				t.Fatalf("%s: offsets %v outside 0..%d", what, offs, len(b))
			}
			prev = o
		}
	}
	if len(b) >= HeaderLen {
		h := Header(b)
		v.flags, v.id = h.Flags(), h.ID()
		_ = h.Flags().Opcode() + h.Flags().Rcode()
		for s := SectionQuestion; s <= SectionAdditional; s++ {
			_ = h.Count(s)
		}
	}
	var name [MaxNameLen]byte
	readName := func(off, wantEnd int) []byte {
		n, end, err := ReadName(b, off, &name)
		if err != nil {
			if e := (*Error)(nil); !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(b) {
				t.Fatalf("ReadName error %v outside the message", err)
			}
			return nil
		}
		if end != wantEnd || n < 1 || n > MaxNameLen || name[n-1] != 0 {
			t.Fatalf("ReadName at %d: %d octets, end %d, want end %d", off, n, end, wantEnd)
		}
		if skip, err := SkipName(b, off); err != nil || skip != end {
			t.Fatalf("SkipName at %d: %d %v, ReadName ends at %d", off, skip, err, end)
		}
		return append([]byte(nil), name[:n]...)
	}
	r := NewReader(b)
	for {
		q, ok := r.Question()
		if !ok {
			break
		}
		inside("question", q.Off, q.NameEnd, q.End())
		_ = q.Name(b)
		v.questions = append(v.questions, q)
		v.qnames = append(v.qnames, readName(q.Off, q.NameEnd))
	}
	v.questionFault = r.Reason() != 0
	for {
		rr, ok := r.Next()
		if !ok {
			break
		}
		inside("record", rr.Off, rr.NameEnd, rr.TTLOff(), rr.RDataOff(), rr.End)
		_ = rr.RData(b)
		v.rrs = append(v.rrs, rr)
		v.owners = append(v.owners, readName(rr.Off, rr.NameEnd))
		v.sections = append(v.sections, r.Section())
		if rr.Type() == TypeOPT {
			o := OPT(rr).Options(b)
			_, _, _ = o.Find(OptionCookie)
			for off := 0; off < len(o); {
				_, data, next, err := o.Next(off)
				if err != nil {
					break
				}
				_ = Cookie(data).Valid()
				_, _ = Cookie(data).Client(), Cookie(data).Server()
				if next <= off || next > len(o) {
					t.Fatalf("option at %d: next %d of %d", off, next, len(o))
				}
				off = next
			}
		}
	}
	if r.Reason() != 0 && r.Err() == nil {
		t.Fatal("a Reason without an Err")
	}
	inside("reader", r.Offset())
	r2 := NewReader(b)
	v.opt, v.hasOPT = r2.OPT()
	v.err = r2.Err()
	if v.err == nil && r.Err() != nil {
		t.Fatalf("Next failed (%v) where OPT walked", r.Err())
	}
	return v
}

// agree compares a walk without a fault with miekg/dns's Unpack of the
// same message.
func agree(t *testing.T, b []byte, v walked, m *dns.Msg) {
	if countsLie(b, m) {
		t.Fatalf("the walk read every entry the header announces, miekg/dns did not: %v", m)
	}
	bit := func(f Flags) bool { return v.flags&f != 0 }
	if v.id != m.Id || bit(QR) != m.Response || v.flags.Opcode() != uint8(m.Opcode) || bit(AA) != m.Authoritative ||
		bit(TC) != m.Truncated || bit(RD) != m.RecursionDesired || bit(RA) != m.RecursionAvailable || bit(Z) != m.Zero ||
		bit(AD) != m.AuthenticatedData || bit(CD) != m.CheckingDisabled || int(v.flags.Rcode()) != m.Rcode&0xF {
		t.Fatalf("header %#x id %d, miekg/dns %v", v.flags, v.id, &m.MsgHdr)
	}
	same := func(what string, wire []byte, name string) {
		buf := make([]byte, 256)
		n, err := dns.PackDomainName(name, buf, 0, nil, false)
		if err != nil || !bytes.Equal(buf[:n], wire) {
			t.Fatalf("%s: %q, miekg/dns %q (%v)", what, wire, name, err)
		}
	}
	for i, q := range m.Question {
		same("question", v.qnames[i], q.Name)
		if v.questions[i].Type() != q.Qtype || v.questions[i].Class() != q.Qclass {
			t.Fatalf("question %d: %+v, miekg/dns %v", i, v.questions[i], q)
		}
	}
	var all []dns.RR
	all = append(all, m.Answer...)
	all = append(all, m.Ns...)
	all = append(all, m.Extra...)
	sections := []Section{}
	for range m.Answer {
		sections = append(sections, SectionAnswer)
	}
	for range m.Ns {
		sections = append(sections, SectionAuthority)
	}
	for range m.Extra {
		sections = append(sections, SectionAdditional)
	}
	if len(all) != len(v.rrs) {
		t.Fatalf("%d records, miekg/dns %d", len(v.rrs), len(all))
	}
	for i, rr := range all {
		h, got := rr.Header(), v.rrs[i]
		same("owner", v.owners[i], h.Name)
		if got.Type() != h.Rrtype || got.Class() != h.Class || got.TTL() != h.Ttl || got.End-got.RDataOff() != int(h.Rdlength) ||
			v.sections[i] != sections[i] {
			t.Fatalf("record %d: %+v in %s, miekg/dns %v (rdlength %d) in %s", i, got, v.sections[i], rr, h.Rdlength, sections[i])
		}
	}
	opt := m.IsEdns0()
	if opt == nil || !v.hasOPT {
		// miekg/dns's IsEdns0 finds the last OPT of the additional section.
		if (opt != nil) != v.hasOPT {
			t.Fatalf("OPT found %v, miekg/dns %v", v.hasOPT, opt)
		}
		return
	}
	o := v.opt
	if o.UDPSize() != opt.UDPSize() || o.Version() != opt.Version() || o.DO() != opt.Do() || uint32(o.ExtRcode()) != opt.Hdr.Ttl>>24 ||
		o.Flags() != uint16(opt.Hdr.Ttl) {
		t.Fatalf("OPT %+v, miekg/dns %v", o, opt)
	}
	i := 0
	options := o.Options(b)
	for off := 0; off < len(options); i++ {
		code, data, next, err := options.Next(off)
		if err != nil {
			t.Fatalf("option at %d: %v, where miekg/dns read %v", off, err, opt)
		}
		if i >= len(opt.Option) || code != opt.Option[i].Option() {
			t.Fatalf("option %d at %d: code %d, miekg/dns %v", i, off, code, opt.Option)
		}
		switch mo := opt.Option[i].(type) {
		case *dns.EDNS0_COOKIE:
			if mo.Cookie != hex.EncodeToString(data) {
				t.Fatalf("cookie %x, miekg/dns %s", data, mo.Cookie)
			}
		case *dns.EDNS0_LOCAL:
			if !bytes.Equal(mo.Data, data) {
				t.Fatalf("option %d: %x, miekg/dns %x", code, data, mo.Data)
			}
		}
		off = next
	}
	if i != len(opt.Option) {
		t.Fatalf("%d options, miekg/dns %v", i, opt.Option)
	}
}
