package cache

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestFlush(t *testing.T) {
	names := []string{"example.com.", "www.example.com.", "a.b.example.com.", "notexample.com.", "com.", "example.org."}
	fill := func(t *testing.T) (*Cache, time.Time) {
		c, clk := newTestCache(t, Config{Shards: 4, MaxBytes: 1 << 20})
		now := clk.Now()
		for _, n := range names {
			for _, typ := range []string{"A 192.0.2.1", "TXT \"x\""} {
				if err := c.PutRRset(mustRRs(t, n+" 60 IN "+typ), RankAnswerAuth, now); err != nil {
					t.Fatal(err)
				}
			}
			soa := mustRRs(t, "com. 60 IN SOA a. b. 1 2 3 4 60")
			if err := c.PutNegative(n, dns.TypeMX, dns.ClassINET, false, soa, RankAuthorityAuth, now); err != nil {
				t.Fatal(err)
			}
			m := response(t, n, dns.TypeA, false, []string{n + " 60 IN A 192.0.2.1"}, nil, nil)
			if err := c.PutAnswer(m, now); err != nil {
				t.Fatal(err)
			}
		}
		return c, now
	}
	present := func(c *Cache, now time.Time) []string {
		var out []string
		for _, n := range names {
			_, _, a := c.GetRRset(n, dns.TypeA, dns.ClassINET, now)
			_, _, txt := c.GetRRset(n, dns.TypeTXT, dns.ClassINET, now)
			_, neg := c.GetNegative(n, dns.TypeMX, dns.ClassINET, now)
			q := new(dns.Msg)
			q.SetQuestion(n, dns.TypeA)
			b, _ := q.Pack()
			_, ans := c.AnswerFromWire(b, make([]byte, 512))
			if a != txt || a != neg || a != ans {
				panic("partial flush of " + n)
			}
			if a {
				out = append(out, n)
			}
		}
		return out
	}
	tests := []struct {
		name    string
		flush   func(c *Cache) (int, error)
		removed int
		left    []string
	}{
		{"zone", func(c *Cache) (int, error) { return c.Flush("Example.COM.") }, 12, []string{"notexample.com.", "com.", "example.org."}},
		{"zone without dot", func(c *Cache) (int, error) { return c.Flush("example.com") }, 12, []string{"notexample.com.", "com.", "example.org."}},
		{"tld", func(c *Cache) (int, error) { return c.Flush("com.") }, 20, []string{"example.org."}},
		{"root", func(c *Cache) (int, error) { return c.Flush(".") }, 24, nil},
		{"name", func(c *Cache) (int, error) { return c.FlushName("EXAMPLE.com.") }, 4, []string{"www.example.com.", "a.b.example.com.", "notexample.com.", "com.", "example.org."}},
		{"absent", func(c *Cache) (int, error) { return c.FlushName("x.example.net.") }, 0, names},
		{"all", func(c *Cache) (int, error) { return c.FlushAll(), nil }, 24, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, now := fill(t)
			n, err := tt.flush(c)
			if err != nil || n != tt.removed {
				t.Errorf("removed %d (err %v), want %d", n, err, tt.removed)
			}
			if got := present(c, now); !slices.Equal(got, tt.left) {
				t.Errorf("left %v, want %v", got, tt.left)
			}
			st := c.Stats()
			if st.Entries != int64(4*len(tt.left)) || st.Flushed != uint64(tt.removed) {
				t.Errorf("stats after flush: %d entries, %d flushed", st.Entries, st.Flushed)
			}
			if len(tt.left) == 0 && st.Bytes != 0 {
				t.Errorf("%d bytes charged to an empty cache", st.Bytes)
			}
		})
	}
	c, _ := fill(t)
	if _, err := c.Flush("a..b"); err == nil {
		t.Errorf("Flush accepted a malformed name")
	}
	if _, err := c.FlushName(""); err == nil {
		t.Errorf("FlushName accepted an empty name")
	}
}

func TestRemoveExpired(t *testing.T) {
	for _, stale := range []bool{false, true} {
		c, clk := newTestCache(t, Config{ServeStale: stale, StaleMaxAge: time.Hour})
		now := clk.Now()
		for i, ttl := range []string{"10", "100", "1000"} {
			name := string(rune('a'+i)) + ".example."
			if err := c.PutRRset(mustRRs(t, name+" "+ttl+" IN A 192.0.2.1"), RankAnswerAuth, now); err != nil {
				t.Fatal(err)
			}
		}
		n := c.RemoveExpired(now.Add(200 * time.Second))
		want := 2
		if stale {
			want = 0 // still within StaleMaxAge
		}
		if n != want || c.Stats().Expirations != uint64(want) {
			t.Errorf("stale=%v: removed %d, want %d", stale, n, want)
		}
		if stale {
			if n := c.RemoveExpired(now.Add(time.Hour + 101*time.Second)); n != 2 {
				t.Errorf("stale=%v: removed %d after StaleMaxAge, want 2", stale, n)
			}
		}
	}
}
