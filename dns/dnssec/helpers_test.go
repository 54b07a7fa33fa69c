package dnssec

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/authoritative"
)

// zoneOpts chooses how one zone of a test hierarchy is signed.
type zoneOpts struct {
	alg        uint8
	nsec3      bool
	iterations uint16
	salt       string
	extra      []string // records added to the zone file's
}

// signedZone is one zone of the hierarchy with its keys.
type signedZone struct {
	origin   string
	zone     *authoritative.Zone
	store    *authoritative.Store
	ksk, zsk *authoritative.Key
}

// hierarchy is the lab's signed tree: . → lab. → example.lab., each zone
// with a KSK and a ZSK and the child's DS in the parent, as the lab builds
// it. plain.lab. and sub.example.lab. are unsigned delegations.
type hierarchy struct {
	zones   map[string]*signedZone
	anchors *Anchors
	now     time.Time
}

var zoneFiles = []struct{ origin, file string }{
	{"example.lab.", "example.lab.zone"},
	{"lab.", "lab.zone"},
	{".", "root.zone"},
}

func buildHierarchy(t testing.TB, opts map[string]zoneOpts) *hierarchy {
	t.Helper()
	h := &hierarchy{zones: map[string]*signedZone{}, now: time.Now()}
	var childDS []dns.RR
	for _, zf := range zoneFiles {
		o := opts[zf.origin]
		if o.alg == 0 {
			o.alg = dns.ECDSAP256SHA256
		}
		z, err := authoritative.LoadZone(filepath.Join("testdata", "zones", zf.file), zf.origin)
		if err != nil {
			t.Fatal(err)
		}
		rrs := z.Records()
		for _, s := range o.extra {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			rrs = append(rrs, rr)
		}
		rrs = append(rrs, childDS...)
		if z, err = authoritative.NewZone(zf.origin, zf.file, rrs); err != nil {
			t.Fatal(err)
		}
		ksk, err := authoritative.GenerateKey(zf.origin, o.alg, true)
		if err != nil {
			t.Fatal(err)
		}
		zsk, err := authoritative.GenerateKey(zf.origin, o.alg, false)
		if err != nil {
			t.Fatal(err)
		}
		var so *authoritative.SignOptions
		if o.nsec3 {
			so = &authoritative.SignOptions{NSEC3: true, Iterations: o.iterations, Salt: o.salt}
		}
		if err := authoritative.SignZone(z, []*authoritative.Key{ksk, zsk}, h.now.Add(-time.Hour), h.now.Add(24*time.Hour), so); err != nil {
			t.Fatal(err)
		}
		store, err := authoritative.NewStore(z)
		if err != nil {
			t.Fatal(err)
		}
		h.zones[zf.origin] = &signedZone{origin: zf.origin, zone: z, store: store, ksk: ksk, zsk: zsk}
		ds := ksk.DS(0)
		ds.Hdr.Ttl = 3600
		childDS = []dns.RR{ds}
	}
	h.anchors = NewAnchors()
	if err := h.anchors.Add(childDS[0]); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *hierarchy) validator(l Limits) *Validator {
	return New(Config{Anchors: h.anchors, Limits: l})
}

// ask sends a DNSSEC query to the zone's authoritative store.
func (h *hierarchy) ask(zone, qname string, qtype uint16) *dns.Msg {
	return askStore(h.zones[zone].store, qname, qtype)
}

func askStore(s *authoritative.Store, qname string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	resp := new(dns.Msg)
	resp.SetReply(q)
	s.Answer(resp, true, true)
	return resp
}

// rrset picks the records of type t owned by owner (any owner when "")
// and, separately, the RRSIGs that cover them.
func rrset(rrs []dns.RR, owner string, t uint16) (set, sigs []dns.RR) {
	for _, rr := range rrs {
		h := rr.Header()
		if owner != "" && !strings.EqualFold(h.Name, owner) {
			continue
		}
		if sig, ok := rr.(*dns.RRSIG); ok {
			if sig.TypeCovered == t {
				sigs = append(sigs, rr)
			}
			continue
		}
		if h.Rrtype == t {
			set = append(set, rr)
		}
	}
	return set, sigs
}

// chain validates the hierarchy from the anchor down and returns the
// KeySet of each signed zone.
func (h *hierarchy) chain(t testing.TB, v *Validator) map[string]KeySet {
	t.Helper()
	keys := map[string]KeySet{}
	var ds []dns.RR
	for _, zone := range []string{".", "lab.", "example.lab."} {
		resp := h.ask(zone, zone, dns.TypeDNSKEY)
		set, sigs := rrset(resp.Answer, zone, dns.TypeDNSKEY)
		ks, r := v.VerifyDNSKEY(zone, set, sigs, ds, nil)
		if r.Status != Secure {
			t.Fatalf("DNSKEY %s: %v", zone, r)
		}
		keys[zone] = ks
		if zone == "example.lab." {
			break
		}
		child := map[string]string{".": "lab.", "lab.": "example.lab."}[zone]
		resp = h.ask(zone, child, dns.TypeDS)
		set, sigs = rrset(resp.Answer, child, dns.TypeDS)
		if r := v.VerifyRRset(set, sigs, ks, nil); r.Status != Secure {
			t.Fatalf("DS %s: %v", child, r)
		}
		ds = set
	}
	return keys
}

// sign makes an RRSIG over set with k, for forgeries and odd cases.
func sign(t testing.TB, k *authoritative.Key, signer string, set []dns.RR, inception, expiration time.Time, edit func(*dns.RRSIG)) *dns.RRSIG {
	t.Helper()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Ttl: set[0].Header().Ttl},
		Algorithm:  k.DNSKEY.Algorithm,
		KeyTag:     k.DNSKEY.KeyTag(),
		SignerName: signer,
		Inception:  uint32(inception.Unix()),
		Expiration: uint32(expiration.Unix()),
	}
	if err := sig.Sign(k.Signer, set); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(sig)
	}
	return sig
}

func copies(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

func without(rrs []dns.RR, drop func(dns.RR) bool) []dns.RR {
	return slices.DeleteFunc(slices.Clone(rrs), drop)
}

func isSig(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeRRSIG }

// anyEDE tells expect not to check the EDE code.
const anyEDE = 0xFFFF

// expect checks status, EDE and, when given, a fragment of the reason.
func expect(t *testing.T, what string, r Result, status Status, ede uint16, reason string) {
	t.Helper()
	if r.Status != status || (ede != anyEDE && r.EDE != ede) || !strings.Contains(r.Reason, reason) {
		t.Errorf("%s: got %v, want %v with EDE %d and reason containing %q", what, r, status, ede, reason)
	}
}
