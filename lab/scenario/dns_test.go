package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rampart-fw/rampart/dns/server"
	"github.com/rampart-fw/rampart/internal/cleantmp"
	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/labtest"
)

var rampartBin string

// TestMain builds the rampart binary that the scenarios run in lab hosts
// (when the lab can run here), in the run's own temporary folder, which
// must be empty but for it when the tests are done.
func TestMain(m *testing.M) {
	os.Exit(cleantmp.Main(m, func(dir string) error {
		if lab.CheckPrivileges() != nil {
			return nil
		}
		rampartBin = filepath.Join(dir, "bin", "rampart")
		if out, err := exec.Command("go", "build", "-o", rampartBin, "../../cmd/rampart").CombinedOutput(); err != nil {
			return fmt.Errorf("build rampart: %v\n%s", err, out)
		}
		return nil
	}, "bin"))
}

func upLab(t *testing.T) *lab.Lab { return labtest.Up(t) }

func stat(t *testing.T, d *DNSHierarchy, key string) int {
	t.Helper()
	out, err := server.ControlRequest(d.Control, "stats")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == key {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no %s in stats:\n%s", key, out)
	return 0
}

// answerSet renders the answer section without TTLs, sorted, for
// comparisons.
func answerSet(m *dns.Msg) string {
	var s []string
	for _, rr := range m.Answer {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		s = append(s, c.String())
	}
	sort.Strings(s)
	return dns.RcodeToString[m.Rcode] + " " + strings.Join(s, " | ")
}

func TestResolverInLab(t *testing.T) {
	l := upLab(t)
	d, err := StartDNS(context.Background(), l, rampartBin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("resolver log:\n%s", d.ResolverLog())
		}
	}()
	client := l.Host("client1")
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string // substrings of the answer section, in order
	}{
		{"www.example.lab", dns.TypeA, dns.RcodeSuccess, []string{"www.example.lab.\t300\tIN\tA\t203.0.113.80"}},
		{"www.example.lab", dns.TypeAAAA, dns.RcodeSuccess, []string{"2001:db8:113::80"}},
		{"example.lab", dns.TypeMX, dns.RcodeSuccess, []string{"MX\t10 mail.example.lab."}},
		{"example.lab", dns.TypeTXT, dns.RcodeSuccess, []string{`"v=spf1 mx -all"`}},
		// A CNAME into shop.lab., whose delegation has no glue.
		{"store.example.lab", dns.TypeA, dns.RcodeSuccess, []string{"CNAME\twww.shop.lab.", "www.shop.lab.\t300\tIN\tA\t203.0.113.81"}},
		{"WwW.ShOp.LaB", dns.TypeA, dns.RcodeSuccess, []string{"203.0.113.81"}},
		// One of lame.lab.'s two servers does not serve it.
		{"www.lame.lab", dns.TypeA, dns.RcodeSuccess, []string{"203.0.113.82"}},
		{"www.lame2.lab", dns.TypeA, dns.RcodeSuccess, []string{"203.0.113.83"}},
		{"nope.example.lab", dns.TypeA, dns.RcodeNameError, nil},
		{"www.example.lab", dns.TypeMX, dns.RcodeSuccess, nil},
	}
	for _, tt := range tests {
		r, _, err := Ask(client, d.Resolver4, tt.name, tt.qtype, false)
		if err != nil {
			t.Errorf("%s %s: %v", tt.name, dns.TypeToString[tt.qtype], err)
			continue
		}
		if r.Rcode != tt.rcode {
			t.Errorf("%s %s: rcode %s, want %s", tt.name, dns.TypeToString[tt.qtype], dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			continue
		}
		if r.Question[0].Name != dns.Fqdn(tt.name) {
			t.Errorf("%s: question came back as %q", tt.name, r.Question[0].Name)
		}
		if len(r.Answer) != len(tt.want) {
			t.Errorf("%s %s: %d answers, want %d: %v", tt.name, dns.TypeToString[tt.qtype], len(r.Answer), len(tt.want), r.Answer)
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(r.Answer[i].String(), w) {
				t.Errorf("%s %s: answer %d is %q, want %q", tt.name, dns.TypeToString[tt.qtype], i, r.Answer[i], w)
			}
		}
		if len(tt.want) == 0 {
			// Negative answers carry the zone's SOA for negative caching.
			if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
				t.Errorf("%s %s: authority %v, want the SOA", tt.name, dns.TypeToString[tt.qtype], r.Ns)
			}
		}
	}

	t.Run("over IPv6 and TCP", func(t *testing.T) {
		for _, tcp := range []bool{false, true} {
			r, _, err := Ask(client, d.Resolver6, "www.example.lab", dns.TypeAAAA, tcp)
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("tcp=%v: %v %v", tcp, r, err)
			}
		}
	})

	t.Run("TCP fallback on truncation", func(t *testing.T) {
		before := stat(t, d, "resolver.tcp_fallbacks")
		r, _, err := Ask(client, d.Resolver4, "big.example.lab", dns.TypeTXT, false)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Truncated {
			t.Errorf("a %d-record TXT answer came back over UDP without TC", len(r.Answer))
		}
		r, _, err = Ask(client, d.Resolver4, "big.example.lab", dns.TypeTXT, true)
		if err != nil || len(r.Answer) != 14 {
			t.Fatalf("over TCP: %d records, %v; want 14", len(r.Answer), err)
		}
		if after := stat(t, d, "resolver.tcp_fallbacks"); after <= before {
			t.Errorf("resolver TCP fallbacks %d → %d: the upstream answer did not need TCP?", before, after)
		}
	})

	t.Run("negative cache and TTL countdown", func(t *testing.T) {
		nx, _, err := Ask(client, d.Resolver4, "nothing.shop.lab", dns.TypeA, false)
		if err != nil || nx.Rcode != dns.RcodeNameError {
			t.Fatalf("nothing.shop.lab: %v %v", nx, err)
		}
		nodata, _, err := Ask(client, d.Resolver4, "www.shop.lab", dns.TypeMX, false)
		if err != nil || nodata.Rcode != dns.RcodeSuccess || len(nodata.Answer) != 0 {
			t.Fatalf("www.shop.lab MX: %v %v", nodata, err)
		}
		pos, _, _ := Ask(client, d.Resolver4, "www.shop.lab", dns.TypeA, false)
		up := stat(t, d, "resolver.upstream_queries")
		// Within the 2-second negative TTL: answered without upstream work.
		nx2, _, _ := Ask(client, d.Resolver4, "nothing.shop.lab", dns.TypeA, false)
		nd2, _, _ := Ask(client, d.Resolver4, "www.shop.lab", dns.TypeMX, false)
		if nx2.Rcode != dns.RcodeNameError || nd2.Rcode != dns.RcodeSuccess || len(nd2.Answer) != 0 {
			t.Errorf("cached negative answers: %s, %s", dns.RcodeToString[nx2.Rcode], answerSet(nd2))
		}
		if got := stat(t, d, "resolver.upstream_queries"); got != up {
			t.Errorf("negative answers within their TTL cost %d upstream queries", got-up)
		}
		time.Sleep(2200 * time.Millisecond)
		nx3, _, _ := Ask(client, d.Resolver4, "nothing.shop.lab", dns.TypeA, false)
		nd3, _, _ := Ask(client, d.Resolver4, "www.shop.lab", dns.TypeMX, false)
		if nx3.Rcode != dns.RcodeNameError || nd3.Rcode != dns.RcodeSuccess {
			t.Errorf("after expiry: %s, %s", dns.RcodeToString[nx3.Rcode], dns.RcodeToString[nd3.Rcode])
		}
		if got := stat(t, d, "resolver.upstream_queries"); got < up+2 {
			t.Errorf("after the negative TTL, %d upstream queries; want both names fetched again", got-up)
		}
		pos2, _, _ := Ask(client, d.Resolver4, "www.shop.lab", dns.TypeA, false)
		if len(pos.Answer) != 1 || len(pos2.Answer) != 1 {
			t.Fatalf("www.shop.lab A: %v / %v", pos, pos2)
		}
		if t1, t2 := pos.Answer[0].Header().Ttl, pos2.Answer[0].Header().Ttl; t2 > t1-2 || t2 < t1-4 {
			t.Errorf("TTL %d then %d after ~2.2 s: does not count down", t1, t2)
		}
	})

	t.Run("DNSSEC validation", func(t *testing.T) {
		if d.Anchor == "" {
			t.Fatal("the lab hierarchy is not signed")
		}
		for _, c := range []struct {
			name   string
			qtype  uint16
			ad     bool
			rcode  int
			rrsigs bool
		}{
			{"www.example.lab", dns.TypeA, true, dns.RcodeSuccess, true},
			{"nope.example.lab", dns.TypeA, true, dns.RcodeNameError, true},
			{"example.lab", dns.TypeMX, true, dns.RcodeSuccess, true},
			{"www.shop.lab", dns.TypeA, false, dns.RcodeSuccess, false}, // insecure delegation
		} {
			q := new(dns.Msg)
			q.SetQuestion(dns.Fqdn(c.name), c.qtype)
			q.SetEdns0(1232, true)
			r, _, err := Query(client, d.Resolver4, q, true, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			sigs := 0
			for _, rr := range append(append([]dns.RR{}, r.Answer...), r.Ns...) {
				if rr.Header().Rrtype == dns.TypeRRSIG {
					sigs++
				}
			}
			if r.Rcode != c.rcode || r.AuthenticatedData != c.ad || (sigs > 0) != c.rrsigs {
				t.Errorf("%s %s: rcode %s, AD %v, %d RRSIGs; want %s, AD %v, RRSIGs %v", c.name, dns.TypeToString[c.qtype],
					dns.RcodeToString[r.Rcode], r.AuthenticatedData, sigs, dns.RcodeToString[c.rcode], c.ad, c.rrsigs)
			}
		}
		// Without DO: no AD, no DNSSEC records.
		r, _, _ := Ask(client, d.Resolver4, "www.example.lab", dns.TypeA, false)
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == dns.TypeRRSIG {
				t.Error("an RRSIG reached a client that did not set DO")
			}
		}
	})

	t.Run("flush over the control socket", func(t *testing.T) {
		if _, _, err := Ask(client, d.Resolver4, "mail.example.lab", dns.TypeA, false); err != nil {
			t.Fatal(err)
		}
		up := stat(t, d, "resolver.upstream_queries")
		Ask(client, d.Resolver4, "mail.example.lab", dns.TypeA, false)
		if got := stat(t, d, "resolver.upstream_queries"); got != up {
			t.Fatalf("a cached name cost %d upstream queries", got-up)
		}
		out, err := server.ControlRequest(d.Control, "flush", "example.lab")
		if err != nil || !strings.HasPrefix(out, "ok: removed") {
			t.Fatalf("flush: %q %v", out, err)
		}
		r, _, err := Ask(client, d.Resolver4, "mail.example.lab", dns.TypeA, false)
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("after flush: %v %v", r, err)
		}
		if got := stat(t, d, "resolver.upstream_queries"); got <= up {
			t.Errorf("after flush the name was answered without upstream work")
		}
	})

	t.Run("REFUSED outside the ACL", func(t *testing.T) {
		r, _, err := Ask(l.Host("attacker"), d.Resolver4, "www.example.lab", dns.TypeA, false)
		if err != nil || r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Errorf("attacker got %v %v, want REFUSED", r, err)
		}
	})
}
