package cache

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
)

func BenchmarkAnswerFromWire(b *testing.B) {
	for _, bc := range []struct {
		name string
		udp  uint16
	}{{"no-edns", 0}, {"edns", 1232}} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := populated(b)
			q := query(b, 0x1234, "wWw.ExAmPlE.cOm.", dns.TypeA, bc.udp, false)
			resp := make([]byte, 1232)
			if _, ok := c.AnswerFromWire(q, resp); !ok {
				b.Fatal("miss")
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(q)))
			for b.Loop() {
				c.AnswerFromWire(q, resp)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		c, clk := newTestCache(b, Config{})
		const names = 1024
		qs := make([][]byte, names)
		for i := range names {
			n := "host" + strconv.Itoa(i) + ".example."
			m := response(b, n, dns.TypeA, false, []string{n + " 300 IN A 192.0.2.1"}, nil, nil)
			if err := c.PutAnswer(m, clk.Now()); err != nil {
				b.Fatal(err)
			}
			qs[i] = query(b, uint16(i), n, dns.TypeA, 1232, false)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			resp := make([]byte, 1232)
			i := 0
			for pb.Next() {
				if _, ok := c.AnswerFromWire(qs[i%names], resp); !ok {
					panic("miss")
				}
				i++
			}
		})
	})
}

func BenchmarkGetRRset(b *testing.B) {
	c, clk := newTestCache(b, Config{})
	now := clk.Now()
	rrs := mustRRs(b, "www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2")
	if err := c.PutRRset(rrs, RankAnswerAuth, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.GetRRset("www.example.com.", dns.TypeA, dns.ClassINET, now); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkPutRRset(b *testing.B) {
	c, clk := newTestCache(b, Config{})
	now := clk.Now()
	const names = 4096
	sets := make([][]dns.RR, names)
	for i := range sets {
		sets[i] = []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: "host" + strconv.Itoa(i) + ".example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A:   []byte{192, 0, 2, byte(i)},
		}}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.PutRRset(sets[i%names], RankAnswerAuth, now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMemoryPerName stores 1,000,000 distinct names and reports the
// live heap per name, next to what the cache charges for them. Run it with
// -benchtime=1x; each iteration builds a fresh cache.
func BenchmarkMemoryPerName(b *testing.B) {
	const n = 1_000_000
	for _, kind := range []string{"rrset", "answer"} {
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				measureMemory(b, kind, n)
			}
		})
	}
}

func measureMemory(b *testing.B, kind string, n int) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	c, err := New(Config{MaxBytes: 4 << 30, Clock: clock.NewFake(now)})
	if err != nil {
		b.Fatal(err)
	}
	rr := &dns.A{Hdr: dns.RR_Header{Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: []byte{192, 0, 2, 1}}
	rrs := []dns.RR{rr}
	m := new(dns.Msg)
	m.Response, m.RecursionAvailable, m.RecursionDesired = true, true, true
	m.Question = []dns.Question{{Qtype: dns.TypeA, Qclass: dns.ClassINET}}
	m.Answer = rrs
	for i := range n {
		// Typical names: "host123456.example.com." is 24 octets in wire form.
		name := fmt.Sprintf("host%06d.example.com.", i)
		rr.Hdr.Name = name
		m.Question[0].Name = name
		var err error
		if kind == "rrset" {
			err = c.PutRRset(rrs, RankAnswerAuth, now)
		} else {
			err = c.PutAnswer(m, now)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	after := heap()
	st := c.Stats()
	if st.Entries != int64(n) {
		b.Fatalf("%d entries stored, want %d", st.Entries, n)
	}
	b.ReportMetric(float64(after-before)/float64(n), "heap-B/name")
	b.ReportMetric(float64(st.Bytes)/float64(n), "charged-B/name")
	runtime.KeepAlive(c)
}
