package cache_test

import (
	"fmt"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/cache"
)

func Example() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c, err := cache.New(cache.Config{MaxBytes: 1 << 20, Clock: clock.NewFake(now)})
	if err != nil {
		panic(err)
	}

	// The resolver stores what it accepted, with the section's credibility.
	a, _ := dns.NewRR("www.example.com. 300 IN A 192.0.2.1")
	if err := c.PutRRset([]dns.RR{a}, cache.RankAnswerAuth, now); err != nil {
		panic(err)
	}
	rrs, rank, _ := c.GetRRset("WWW.example.com.", dns.TypeA, dns.ClassINET, now.Add(100*time.Second))
	fmt.Println(rrs[0].Header().Ttl, rank)

	// The final response goes to the answer cache...
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	resp := new(dns.Msg)
	resp.SetReply(q)
	resp.RecursionAvailable = true
	resp.Answer = []dns.RR{a}
	if err := c.PutAnswer(resp, now); err != nil {
		panic(err)
	}

	// ...and the server answers the next query for it from bytes.
	q.SetQuestion("wWw.ExAmple.com.", dns.TypeA)
	q.Id = 4711
	wire, _ := q.Pack()
	out := make([]byte, 512)
	if n, ok := c.AnswerFromWire(wire, out); ok {
		m := new(dns.Msg)
		_ = m.Unpack(out[:n])
		fmt.Println(m.Id, m.Answer[0])
	}
	// Output:
	// 200 answer-auth/unchecked
	// 4711 wWw.ExAmple.com.	300	IN	A	192.0.2.1
}
