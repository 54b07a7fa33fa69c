package dnssec

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/authoritative"
)

type scheme struct {
	name string
	opts zoneOpts
}

var schemes = []scheme{
	{"NSEC", zoneOpts{}},
	{"NSEC3", zoneOpts{nsec3: true, salt: "ABCD", iterations: 2}},
}

func schemeHierarchy(t testing.TB, s scheme) *hierarchy {
	return buildHierarchy(t, map[string]zoneOpts{"lab.": s.opts, "example.lab.": s.opts})
}

// denialRecords returns the NSEC or NSEC3 records in rrs.
func denialRecords(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if t := rr.Header().Rrtype; t == dns.TypeNSEC || t == dns.TypeNSEC3 {
			out = append(out, rr)
		}
	}
	return out
}

// withSigs returns records and the RRSIGs in from that cover them.
func withSigs(records, from []dns.RR) []dns.RR {
	out := append([]dns.RR(nil), records...)
	for _, rr := range records {
		for _, s := range from {
			if sig, ok := s.(*dns.RRSIG); ok && sig.TypeCovered == rr.Header().Rrtype && strings.EqualFold(sig.Hdr.Name, rr.Header().Name) {
				out = append(out, s)
			}
		}
	}
	return out
}

// zoneRecord finds the zone's NSEC or NSEC3 record at owner (NSEC) or
// matching owner (NSEC3), with its RRSIGs.
func zoneRecord(t testing.TB, z *authoritative.Zone, owner string) []dns.RR {
	t.Helper()
	all := z.Records()
	for _, rr := range all {
		switch rr := rr.(type) {
		case *dns.NSEC:
			if strings.EqualFold(rr.Hdr.Name, owner) {
				return withSigs([]dns.RR{rr}, all)
			}
		case *dns.NSEC3:
			if rr.Match(owner) {
				return withSigs([]dns.RR{rr}, all)
			}
		}
	}
	t.Fatalf("no NSEC or NSEC3 for %s in %s", owner, z.Origin())
	return nil
}

func TestDenial(t *testing.T) {
	for _, s := range schemes {
		t.Run(s.name, func(t *testing.T) {
			h := schemeHierarchy(t, s)
			v := h.validator(Limits{})
			keys := h.chain(t, v)
			ex, lab := keys["example.lab."], keys["lab."]
			ns := func(zone, qname string, qtype uint16) []dns.RR { return h.ask(zone, qname, qtype).Ns }
			nx := func(q string) []dns.RR { return ns("example.lab.", q, dns.TypeA) }

			tests := []struct {
				name   string
				r      Result
				status Status
				ede    uint16
				reason string
			}{
				{"NXDOMAIN", v.ProveNXDOMAIN("nope.example.lab.", nx("nope.example.lab."), ex, nil), Secure, 0, ""},
				{"NXDOMAIN in other case", v.ProveNXDOMAIN("NoPe.Example.LAB.", nx("nope.example.lab."), ex, nil), Secure, 0, ""},
				{"NXDOMAIN below an empty non-terminal", v.ProveNXDOMAIN("c.b.ent.example.lab.", nx("c.b.ent.example.lab."), ex, nil), Secure, 0, ""},
				{"NXDOMAIN many labels down", v.ProveNXDOMAIN("a.b.c.d.nope.example.lab.", nx("a.b.c.d.nope.example.lab."), ex, nil), Secure, 0, ""},
				{"NODATA", v.ProveNODATA("www.example.lab.", dns.TypeMX, ns("example.lab.", "www.example.lab.", dns.TypeMX), ex, nil), Secure, 0, ""},
				{"NODATA at an empty non-terminal", v.ProveNODATA("b.ent.example.lab.", dns.TypeA, ns("example.lab.", "b.ent.example.lab.", dns.TypeA), ex, nil), Secure, 0, ""},
				{"NODATA for DS at an unsigned delegation", v.ProveNODATA("sub.example.lab.", dns.TypeDS, ns("example.lab.", "sub.example.lab.", dns.TypeDS), ex, nil), Secure, 0, ""},
				{"wildcard NODATA", v.ProveNODATA("x.wild.example.lab.", dns.TypeMX, ns("example.lab.", "x.wild.example.lab.", dns.TypeMX), ex, nil), Secure, 0, ""},
				{"unsigned delegation", v.ProveInsecureDelegation("sub.example.lab.", ns("example.lab.", "www.sub.example.lab.", dns.TypeA), ex, nil), Insecure, 0, ""},
				{"unsigned delegation in the TLD", v.ProveInsecureDelegation("plain.lab.", ns("lab.", "plain.lab.", dns.TypeA), lab, nil), Insecure, 0, ""},

				{"NXDOMAIN for a name that exists", v.ProveNXDOMAIN("www.example.lab.", ns("example.lab.", "www.example.lab.", dns.TypeMX), ex, nil), Bogus, EDEBogus, "exists"},
				{"NXDOMAIN for an empty non-terminal", v.ProveNXDOMAIN("b.ent.example.lab.", ns("example.lab.", "b.ent.example.lab.", dns.TypeA), ex, nil), Bogus, EDEBogus, ""},
				{"NXDOMAIN for the apex", v.ProveNXDOMAIN("example.lab.", nx("nope.example.lab."), ex, nil), Bogus, EDEBogus, "not below zone"},
				{"NXDOMAIN with another name's proof", v.ProveNXDOMAIN("zz.example.lab.", ns("example.lab.", "www.example.lab.", dns.TypeMX), ex, nil), Bogus, EDEBogus, ""},
				{"NXDOMAIN without RRSIGs", v.ProveNXDOMAIN("nope.example.lab.", without(nx("nope.example.lab."), isSig), ex, nil), Bogus, EDERRSIGsMissing, ""},
				{"NXDOMAIN without denial records", v.ProveNXDOMAIN("nope.example.lab.", without(nx("nope.example.lab."), func(rr dns.RR) bool { return rr.Header().Rrtype != dns.TypeSOA }), ex, nil), Bogus, EDENSECMissing, ""},
				{"NXDOMAIN proven with the parent's keys", v.ProveNXDOMAIN("nope.example.lab.", nx("nope.example.lab."), lab, nil), Bogus, anyEDE, ""},
				{"NXDOMAIN without a key set", v.ProveNXDOMAIN("nope.example.lab.", nx("nope.example.lab."), KeySet{}, nil), Bogus, EDEDNSKEYMissing, ""},
				{"NODATA for a type that exists", v.ProveNODATA("www.example.lab.", dns.TypeA, ns("example.lab.", "www.example.lab.", dns.TypeMX), ex, nil), Bogus, EDEBogus, "the type exists"},
				{"NODATA at a CNAME", v.ProveNODATA("alias.example.lab.", dns.TypeMX, zoneRecord(t, h.zones["example.lab."].zone, "alias.example.lab."), ex, nil), Bogus, EDEBogus, "CNAME"},
				{"NODATA for a name that does not exist", v.ProveNODATA("nope.example.lab.", dns.TypeA, nx("nope.example.lab."), ex, nil), Bogus, EDEBogus, ""},
				{"NODATA for ANY", v.ProveNODATA("www.example.lab.", dns.TypeANY, ns("example.lab.", "www.example.lab.", dns.TypeMX), ex, nil), Bogus, EDEBogus, "meta-type"},
				{"NODATA for DS at the apex, from the child", v.ProveNODATA("example.lab.", dns.TypeDS, ns("example.lab.", "example.lab.", dns.TypeDS), ex, nil), Bogus, EDEBogus, "parent zone's to deny"},
				{"parent-side record denies a type at the child", v.ProveNODATA("plain.lab.", dns.TypeA, ns("lab.", "plain.lab.", dns.TypeA), lab, nil), Bogus, EDEBogus, "parent side of a zone cut"},
				{"parent-side record denies the child's apex types", v.ProveNODATA("sub.example.lab.", dns.TypeSOA, ns("example.lab.", "sub.example.lab.", dns.TypeDS), ex, nil), Bogus, EDEBogus, "parent side of a zone cut"},
				{"unsigned delegation that has a DS", v.ProveInsecureDelegation("example.lab.", zoneRecord(t, h.zones["lab."].zone, "example.lab."), lab, nil), Bogus, EDEBogus, "lists a DS RRset"},
				{"unsigned delegation that is no delegation", v.ProveInsecureDelegation("www.example.lab.", ns("example.lab.", "www.example.lab.", dns.TypeDS), ex, nil), Bogus, EDEBogus, "not a delegation"},
				{"unsigned delegation from the child's apex", v.ProveInsecureDelegation("example.lab.", ns("example.lab.", "example.lab.", dns.TypeDS), ex, nil), Bogus, EDEBogus, "not below zone"},
				{"unsigned delegation, child apex record under the parent's keys", v.ProveInsecureDelegation("example.lab.", ns("example.lab.", "example.lab.", dns.TypeDS), lab, nil), Bogus, anyEDE, ""},
				{"unsigned delegation for a name that does not exist", v.ProveInsecureDelegation("nope.example.lab.", nx("nope.example.lab."), ex, nil), Bogus, EDEBogus, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					expect(t, tt.name, tt.r, tt.status, tt.ede, tt.reason)
					if tt.status == Secure && tt.r.TTL == 0 {
						t.Errorf("TTL 0")
					}
				})
			}

			t.Run("every record of an NXDOMAIN proof is needed", func(t *testing.T) {
				auth := nx("nope.example.lab.")
				recs := denialRecords(auth)
				if len(recs) < 2 {
					t.Fatalf("only %d denial records", len(recs))
				}
				for _, drop := range recs {
					part := without(auth, func(rr dns.RR) bool {
						if rr == drop {
							return true
						}
						sig, ok := rr.(*dns.RRSIG)
						return ok && sig.TypeCovered == drop.Header().Rrtype && strings.EqualFold(sig.Hdr.Name, drop.Header().Name)
					})
					if r := v.ProveNXDOMAIN("nope.example.lab.", part, ex, nil); r.Status != Bogus {
						t.Errorf("without %s: %v", drop.Header().Name, r)
					}
				}
			})

			t.Run("wildcard answer", func(t *testing.T) {
				for _, q := range []string{"x.wild.example.lab.", "y.x.wild.example.lab."} {
					resp := h.ask("example.lab.", q, dns.TypeA)
					set, sigs := rrset(resp.Answer, "", dns.TypeA)
					r := v.VerifyRRset(set, sigs, ex, nil)
					if r.Status != Secure || r.Wildcard != "*.wild.example.lab." {
						t.Fatalf("%s: %+v", q, r)
					}
					expect(t, q, v.ProveWildcard(q, r.Wildcard, resp.Ns, ex, nil), Secure, 0, "")
					expect(t, q+" without proof", v.ProveWildcard(q, r.Wildcard, nil, ex, nil), Bogus, EDENSECMissing, "")
					expect(t, q+" with another name's proof", v.ProveWildcard(q, r.Wildcard, nx("a.example.lab."), ex, nil), Bogus, EDEBogus, "")
				}
				// A wildcard answer for a name that exists.
				expect(t, "www", v.ProveWildcard("www.example.lab.", "*.example.lab.", nx("nope.example.lab."), ex, nil), Bogus, EDEBogus, "")
				// A wildcard that does not enclose the name.
				expect(t, "elsewhere", v.ProveWildcard("x.wild.example.lab.", "*.ent.example.lab.", h.ask("example.lab.", "x.wild.example.lab.", dns.TypeA).Ns, ex, nil), Bogus, EDEBogus, "does not synthesise")
				// A closer name exists: b.ent is an empty non-terminal.
				expect(t, "closer", v.ProveWildcard("c.b.ent.example.lab.", "*.example.lab.", nx("c.b.ent.example.lab."), ex, nil), Bogus, EDEBogus, "closer")
			})

			t.Run("cross-zone wildcard via RRSIG label count", func(t *testing.T) {
				// lab. has a wildcard; its signed answer for evil.lab. is
				// renamed to www.example.lab. The RRSIG (labels 1, the
				// wildcard *.lab.) still verifies, since it covers *.lab.
				wh := buildHierarchy(t, map[string]zoneOpts{"lab.": {nsec3: s.opts.nsec3, salt: s.opts.salt, iterations: s.opts.iterations, extra: []string{"*.lab. 3600 IN A 10.6.6.6"}}, "example.lab.": s.opts})
				wv := wh.validator(Limits{})
				wkeys := wh.chain(t, wv)
				resp := wh.ask("lab.", "evil.lab.", dns.TypeA)
				set, sigs := rrset(resp.Answer, "", dns.TypeA)
				if r := wv.VerifyRRset(set, sigs, wkeys["lab."], nil); r.Status != Secure || r.Wildcard != "*.lab." {
					t.Fatalf("honest wildcard answer: %v", r)
				}
				forged := copies(set)
				forged[0].Header().Name = "www.example.lab."
				fsigs := copies(sigs)
				fsigs[0].Header().Name = "www.example.lab."
				expect(t, "with the zone's keys", wv.VerifyRRset(forged, fsigs, wkeys["example.lab."], nil), Bogus, EDEBogus, "signer lab. is not the zone example.lab.")
				r := wv.VerifyRRset(forged, fsigs, wkeys["lab."], nil)
				if r.Status != Secure || r.Wildcard != "*.lab." {
					t.Fatalf("signature over *.lab.: %v", r)
				}
				// The wildcard proof is where the claim fails: example.lab.
				// exists in lab. as a delegation.
				for _, auth := range [][]dns.RR{resp.Ns, zoneRecord(t, wh.zones["lab."].zone, "example.lab.")} {
					if r := wv.ProveWildcard("www.example.lab.", "*.lab.", auth, wkeys["lab."], nil); r.Status != Bogus {
						t.Errorf("wildcard proof held: %v", r)
					}
				}
				expect(t, "claimed by the child", wv.ProveWildcard("www.example.lab.", "*.lab.", resp.Ns, wkeys["example.lab."], nil), Bogus, EDEBogus, "above zone")
			})

			t.Run("synthesis from cached records (RFC 8198)", func(t *testing.T) {
				cached := denialRecords(nx("nope.example.lab."))
				rcode, r := v.Synthesize("nope.example.lab.", dns.TypeA, "example.lab.", cached, nil)
				if rcode != dns.RcodeNameError || r.Status != Secure {
					t.Errorf("nope: rcode %d %v", rcode, r)
				}
				cached = denialRecords(ns("example.lab.", "www.example.lab.", dns.TypeMX))
				rcode, r = v.Synthesize("www.example.lab.", dns.TypeTXT, "example.lab.", cached, nil)
				if rcode != dns.RcodeSuccess || r.Status != Secure {
					t.Errorf("www TXT: rcode %d %v", rcode, r)
				}
				rcode, r = v.Synthesize("www.example.lab.", dns.TypeA, "example.lab.", cached, nil)
				if rcode != -1 || r.Status != Indeterminate {
					t.Errorf("www A: rcode %d %v", rcode, r)
				}
				rcode, r = v.Synthesize("zz.example.lab.", dns.TypeA, "example.lab.", nil, nil)
				if rcode != -1 || r.Status != Indeterminate {
					t.Errorf("nothing cached: rcode %d %v", rcode, r)
				}
			})
		})
	}
}

func TestNSECForgeries(t *testing.T) {
	h := buildHierarchy(t, nil)
	v := h.validator(Limits{})
	keys := h.chain(t, v)
	ex := h.zones["example.lab."]
	now := h.now
	signed := func(rr dns.RR) []dns.RR {
		return []dns.RR{rr, sign(t, ex.zsk, "example.lab.", []dns.RR{rr}, now.Add(-time.Hour), now.Add(time.Hour), nil)}
	}
	nsec := func(owner, next string, types ...uint16) dns.RR {
		return &dns.NSEC{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300}, NextDomain: next, TypeBitMap: types}
	}
	apexWild := zoneRecord(t, ex.zone, "example.lab.") // covers *.example.lab.
	// An NSEC signed as *.example.lab. and served as mail.example.lab.:
	// the RRSIG verifies, as for any wildcard expansion.
	expanded := signed(nsec("*.example.lab.", "ns1.example.lab.", dns.TypeA))
	for _, rr := range expanded {
		rr.Header().Name = "mail.example.lab."
	}
	tests := []struct {
		name   string
		r      Result
		reason string
	}{
		{"next name outside the zone", v.ProveNXDOMAIN("nope.example.lab.", append(signed(nsec("mail.example.lab.", "www.other.lab.", dns.TypeA)), apexWild...), keys["example.lab."], nil), "outside zone example.lab."},
		{"next name before the owner and not the apex", v.ProveNXDOMAIN("zzz.example.lab.", signed(nsec("www.example.lab.", "a.example.lab.", dns.TypeA)), keys["example.lab."], nil), "not the apex"},
		{"covering record at a zone cut", v.ProveNXDOMAIN("x.sub.example.lab.", append(zoneRecord(t, ex.zone, "sub.example.lab."), apexWild...), keys["example.lab."], nil), "below the zone cut at sub.example.lab."},
		{"covering record at a DNAME", v.ProveNXDOMAIN("x.d.example.lab.", append(signed(nsec("d.example.lab.", "mail.example.lab.", dns.TypeDNAME)), apexWild...), keys["example.lab."], nil), "DNAME"},
		{"wildcard exists", v.ProveNXDOMAIN("nope.example.lab.", append(signed(nsec("mail.example.lab.", "ns1.example.lab.", dns.TypeA)), signed(nsec("*.example.lab.", "a.b.ent.example.lab.", dns.TypeA))...), keys["example.lab."], nil), "wildcard *.example.lab. exists"},
		{"NSEC synthesised from a wildcard", v.ProveNXDOMAIN("nope.example.lab.", expanded, keys["example.lab."], nil), "synthesised from wildcard *.example.lab."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.Status != Bogus || !strings.Contains(tt.r.Reason, tt.reason) {
				t.Errorf("got %v, want bogus with %q", tt.r, tt.reason)
			}
		})
	}

	t.Run("too many records", func(t *testing.T) {
		var auth []dns.RR
		for i := 0; i <= maxDenialRecords; i++ {
			auth = append(auth, nsec(string(rune('a'+i))+".example.lab.", string(rune('a'+i))+"a.example.lab."))
		}
		before := v.Stats().Verifications
		expect(t, "many", v.ProveNXDOMAIN("nope.example.lab.", auth, keys["example.lab."], nil), Bogus, EDEBogus, "more than 8")
		if n := v.Stats().Verifications - before; n > uint64(maxDenialRecords) {
			t.Errorf("%d signature checks", n)
		}
	})
}

// nextHash returns the base32hex hash one above or below h.
func shiftHash(h string, delta int64) string {
	var raw [20]byte
	n, ok := decodeBase32Hex(raw[:], h)
	if !ok || n != 20 {
		panic("bad hash " + h)
	}
	x := new(big.Int).SetBytes(raw[:])
	x.Add(x, big.NewInt(delta))
	b := x.FillBytes(make([]byte, 20))
	return strings.ToUpper(encodeBase32Hex(b))
}

func encodeBase32Hex(b []byte) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
	var s []byte
	var acc uint64
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			s = append(s, alphabet[(acc>>uint(bits))&31])
		}
	}
	if bits > 0 {
		s = append(s, alphabet[(acc<<uint(5-bits))&31])
	}
	return string(s)
}

func TestNSEC3(t *testing.T) {
	s := schemes[1]
	h := schemeHierarchy(t, s)
	v := h.validator(Limits{})
	keys := h.chain(t, v)
	ex := h.zones["example.lab."]
	labZone := h.zones["lab."]
	now := h.now
	exKeys := keys["example.lab."]
	nx := h.ask("example.lab.", "nope.example.lab.", dns.TypeA).Ns
	resign := func(rrs []dns.RR, k *authoritative.Key, signer string) []dns.RR {
		var out []dns.RR
		for _, rr := range denialRecords(rrs) {
			out = append(out, rr, sign(t, k, signer, []dns.RR{rr}, now.Add(-time.Hour), now.Add(time.Hour), nil))
		}
		return out
	}

	t.Run("signer name of another zone", func(t *testing.T) {
		labNX := h.ask("lab.", "nope.lab.", dns.TypeA).Ns
		expect(t, "lab.'s records", v.ProveNXDOMAIN("nope.example.lab.", labNX, exKeys, nil), Bogus, EDENSECMissing, "")
		expect(t, "re-signed by lab.", v.ProveNXDOMAIN("nope.example.lab.", resign(nx, labZone.zsk, "lab."), exKeys, nil), Bogus, EDEBogus, "signer lab. is not the zone example.lab.")
		// Owners moved one label down, into sub.example.lab., and
		// re-signed by example.lab.: not <hash>.<zone>, so not the chain.
		moved := copies(denialRecords(nx))
		for _, rr := range moved {
			rr.Header().Name = strings.Replace(rr.Header().Name, ".example.lab.", ".sub.example.lab.", 1)
		}
		expect(t, "owner below the zone", v.ProveNXDOMAIN("nope.example.lab.", resign(moved, ex.zsk, "example.lab."), exKeys, nil), Bogus, EDENSECMissing, "")
	})

	t.Run("ignored records", func(t *testing.T) {
		for _, edit := range []func(*dns.NSEC3){
			func(n *dns.NSEC3) { n.Hash = 2 },
			func(n *dns.NSEC3) { n.Flags = 2 },
			func(n *dns.NSEC3) { n.NextDomain, n.HashLength = "0000000000000000", 10 },
		} {
			recs := copies(denialRecords(nx))
			for _, rr := range recs {
				edit(rr.(*dns.NSEC3))
			}
			expect(t, "ignored", v.ProveNXDOMAIN("nope.example.lab.", resign(recs, ex.zsk, "example.lab."), exKeys, nil), Bogus, EDENSECMissing, "")
		}
	})

	t.Run("closest encloser at a zone cut", func(t *testing.T) {
		// x.sub.example.lab. lies below the unsigned delegation: the
		// NSEC3 matching sub.example.lab. (NS, no SOA) ends the proof.
		var auth []dns.RR
		all := ex.zone.Records()
		for _, rr := range all {
			if n, ok := rr.(*dns.NSEC3); ok && (n.Match("sub.example.lab.") || n.Cover("x.sub.example.lab.") || n.Cover("*.sub.example.lab.")) {
				auth = append(auth, withSigs([]dns.RR{n}, all)...)
			}
		}
		expect(t, "below the cut", v.ProveNXDOMAIN("x.sub.example.lab.", auth, exKeys, nil), Bogus, EDEBogus, "closest encloser is a delegation")
		expect(t, "wildcard NODATA below the cut", v.ProveNODATA("x.sub.example.lab.", dns.TypeA, auth, exKeys, nil), Bogus, EDEBogus, "closest encloser is a delegation")
	})

	t.Run("hash budget", func(t *testing.T) {
		q := "a.b.c.d.e.f.g.nope.example.lab."
		auth := h.ask("example.lab.", q, dns.TypeA).Ns
		tight := h.validator(Limits{MaxNSEC3Hashes: 4})
		b := tight.NewBudget()
		expect(t, "deep name", tight.ProveNXDOMAIN(q, auth, exKeys, b), Bogus, EDEBogus, "hash budget of 4 exhausted")
		if !b.Exhausted() || b.NSEC3Hashes() != 4 {
			t.Errorf("budget: exhausted %v, %d hashes", b.Exhausted(), b.NSEC3Hashes())
		}
		b = v.NewBudget()
		expect(t, "default budget", v.ProveNXDOMAIN(q, auth, exKeys, b), Secure, 0, "")
		if b.NSEC3Hashes() != 10 {
			t.Errorf("%d hashes for 8 labels below the zone, want 8 + apex + wildcard", b.NSEC3Hashes())
		}
	})

	t.Run("opt-out", func(t *testing.T) {
		// An opt-out span around hash(sub.example.lab.), signed by the
		// zone, with the apex as closest encloser and the real record
		// covering the wildcard.
		param := func() *dns.NSEC3 { return zoneRecord(t, ex.zone, "example.lab.")[0].(*dns.NSEC3) }()
		hsub := dns.HashName("sub.example.lab.", dns.SHA1, param.Iterations, param.Salt)
		span := func(flags uint8) []dns.RR {
			rr := &dns.NSEC3{
				Hdr:  dns.RR_Header{Name: strings.ToLower(shiftHash(hsub, -1)) + ".example.lab.", Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: 300},
				Hash: dns.SHA1, Flags: flags, Iterations: param.Iterations, SaltLength: param.SaltLength, Salt: param.Salt,
				HashLength: 20, NextDomain: shiftHash(hsub, 1), TypeBitMap: []uint16{dns.TypeA, dns.TypeRRSIG},
			}
			return []dns.RR{rr, sign(t, ex.zsk, "example.lab.", []dns.RR{rr}, now.Add(-time.Hour), now.Add(time.Hour), nil)}
		}
		var wild []dns.RR
		all := ex.zone.Records()
		for _, rr := range all {
			if n, ok := rr.(*dns.NSEC3); ok && n.Cover("*.example.lab.") {
				wild = withSigs([]dns.RR{n}, all)
			}
		}
		apex := zoneRecord(t, ex.zone, "example.lab.")
		optOut := append(append(append([]dns.RR{}, apex...), wild...), span(1)...)
		plain := append(append(append([]dns.RR{}, apex...), wild...), span(0)...)

		r := v.ProveInsecureDelegation("sub.example.lab.", optOut, exKeys, nil)
		if r.Status != Insecure || !r.OptOut {
			t.Errorf("opt-out delegation: %+v", r)
		}
		expect(t, "span without opt-out", v.ProveInsecureDelegation("sub.example.lab.", plain, exKeys, nil), Bogus, EDEBogus, "not opt-out")
		r = v.ProveNXDOMAIN("sub.example.lab.", optOut, exKeys, nil)
		if r.Status != Insecure || !r.OptOut {
			t.Errorf("NXDOMAIN in an opt-out span: %+v", r)
		}
		expect(t, "NXDOMAIN in a plain span", v.ProveNXDOMAIN("sub.example.lab.", plain, exKeys, nil), Secure, 0, "")
		r = v.ProveNODATA("sub.example.lab.", dns.TypeDS, optOut, exKeys, nil)
		if r.Status != Insecure || !r.OptOut {
			t.Errorf("no DS in an opt-out span: %+v", r)
		}
		// Any other type too (RFC 5155 section 8.5, Errata 3441): the
		// name may lie at or below an unsigned delegation the chain
		// leaves out; without opt-out there is no proof at all.
		r = v.ProveNODATA("sub.example.lab.", dns.TypeMX, optOut, exKeys, nil)
		if r.Status != Insecure || !r.OptOut {
			t.Errorf("NODATA for MX in an opt-out span: %+v", r)
		}
		expect(t, "NODATA in a plain span", v.ProveNODATA("sub.example.lab.", dns.TypeMX, plain, exKeys, nil), Bogus, EDEBogus, "no NSEC3 matches")
		if rcode, r := v.Synthesize("sub.example.lab.", dns.TypeA, "example.lab.", denialRecords(optOut), nil); rcode != -1 || r.Status != Indeterminate {
			t.Errorf("synthesised from an opt-out span: %d %v", rcode, r)
		}
		// The real record at sub.example.lab.: NS, no DS.
		r = v.ProveInsecureDelegation("sub.example.lab.", zoneRecord(t, ex.zone, "sub.example.lab."), exKeys, nil)
		if r.Status != Insecure || r.OptOut {
			t.Errorf("matching record: %+v", r)
		}
	})
}

func TestNSEC3Iterations(t *testing.T) {
	tests := []struct {
		name       string
		iterations uint16
		limits     Limits
		status     Status
		ede        uint16
	}{
		{"at the limit", 150, Limits{}, Secure, 0},
		{"above the limit", 151, Limits{}, Insecure, EDEUnsupportedNSEC3Iterations},
		{"above the hard maximum", 201, Limits{NSEC3MaxIterations: 200}, Bogus, EDEUnsupportedNSEC3Iterations},
		{"one when only zero is accepted", 1, Limits{NSEC3Iterations: -1}, Insecure, EDEUnsupportedNSEC3Iterations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := zoneOpts{nsec3: true, iterations: tt.iterations}
			h := buildHierarchy(t, map[string]zoneOpts{"example.lab.": o})
			v := h.validator(tt.limits)
			keys := h.chain(t, v)
			b := v.NewBudget()
			auth := h.ask("example.lab.", "nope.example.lab.", dns.TypeA).Ns
			r := v.ProveNXDOMAIN("nope.example.lab.", auth, keys["example.lab."], b)
			expect(t, "NXDOMAIN", r, tt.status, tt.ede, "")
			if tt.status != Secure && b.NSEC3Hashes() != 0 {
				t.Errorf("%d hashes computed above the limit", b.NSEC3Hashes())
			}
			if tt.status != Secure && b.Validations() == 0 {
				t.Error("signatures not checked before the iteration count was judged")
			}
			r = v.ProveNODATA("www.example.lab.", dns.TypeMX, h.ask("example.lab.", "www.example.lab.", dns.TypeMX).Ns, keys["example.lab."], nil)
			expect(t, "NODATA", r, tt.status, tt.ede, "")
			// A forged iteration count breaks the signature: Bogus, not Insecure.
			forged := copies(auth)
			for _, rr := range forged {
				if n, ok := rr.(*dns.NSEC3); ok {
					n.Iterations = 1000
				}
			}
			expect(t, "forged count", v.ProveNXDOMAIN("nope.example.lab.", forged, keys["example.lab."], nil), Bogus, EDEBogus, "does not verify")
		})
	}
}
