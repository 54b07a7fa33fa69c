package classify

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

// epoch is an arbitrary start for the limiter tests' clocks.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestLimiterUFW(t *testing.T) {
	clk := clock.NewFake(epoch)
	l := NewLimiter(LimiterConfig{Clock: clk})
	a := netip.MustParseAddr("198.51.100.7")
	b := netip.MustParseAddr("2001:db8::7")
	steps := []struct {
		at    time.Duration
		src   netip.Addr
		allow bool
	}{
		// Five connections in 30 seconds pass, the sixth is denied (ufw:
		// "deny connections from an IP address that has attempted to
		// initiate 6 or more connections in the last 30 seconds").
		{0, a, true}, {1 * time.Second, a, true}, {2 * time.Second, a, true},
		{3 * time.Second, a, true}, {4 * time.Second, a, true},
		{5 * time.Second, a, false},
		// Another source is counted apart.
		{5 * time.Second, b, true},
		// Denied attempts count too, as with iptables' recent --set.
		{29 * time.Second, a, false},
		// The last six attempts (2s..30s) all lie within 30 seconds.
		{30 * time.Second, a, false},
		// Wait out the window entirely.
		{60 * time.Second, a, true},
		{61 * time.Second, a, true},
	}
	for i, s := range steps {
		clk.Set(epoch.Add(s.at))
		if got := l.Allow(s.src); got != s.allow {
			t.Errorf("step %d at %v from %v: Allow = %v, want %v", i, s.at, s.src, got, s.allow)
		}
	}
	st := l.Stats()
	if st.Denied != 3 || st.Allowed != 8 || st.Evictions != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLimiterZoneIgnored(t *testing.T) {
	l := NewLimiter(LimiterConfig{Clock: clock.NewFake(epoch), Hits: 2})
	l.Allow(netip.MustParseAddr("fe80::1%eth0"))
	if l.Allow(netip.MustParseAddr("fe80::1%eth1")) {
		t.Error("zones split one source in two")
	}
}

func TestLimiterBoundedAndEvicts(t *testing.T) {
	clk := clock.NewFake(epoch)
	l := NewLimiter(LimiterConfig{Clock: clk, Sources: 16, Hits: 2, Window: time.Minute})
	if l.Capacity() != 16 {
		t.Fatalf("capacity %d", l.Capacity())
	}
	// Far more sources than entries, all live: every newcomer past the
	// capacity evicts someone.
	for i := 0; i < 1000; i++ {
		src := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if !l.Allow(src) {
			t.Fatalf("first connection of %v denied", src)
		}
	}
	st := l.Stats()
	if st.Evictions < 1000-16 || st.Evictions > 1000 {
		t.Errorf("evictions %d", st.Evictions)
	}
	// Expired entries are reused without counting an eviction.
	clk.Advance(2 * time.Minute)
	before := l.Stats().Evictions
	for i := 0; i < 8; i++ {
		l.Allow(netip.AddrFrom4([4]byte{172, 16, 0, byte(i)}))
	}
	if got := l.Stats().Evictions; got != before {
		t.Errorf("evicted %d expired entries", got-before)
	}
	// A source that stays busy keeps its entry against newcomers that are
	// not in its set: it is the freshest in its set.
	hot := netip.MustParseAddr("192.0.2.1")
	l.Allow(hot)
	if l.Allow(hot) {
		t.Error("second connection of a Hits: 2 source allowed")
	}
}

func TestLimiterDefaults(t *testing.T) {
	l := NewLimiter(LimiterConfig{Hits: 1000})
	if l.cfg.Hits != 255 || l.cfg.Window != 30*time.Second || l.Capacity() != 65536 {
		t.Errorf("config %+v capacity %d", l.cfg, l.Capacity())
	}
	if !l.Allow(netip.MustParseAddr("192.0.2.1")) {
		t.Error("real clock: first connection denied")
	}
}

func TestLimiterAllocatesNothing(t *testing.T) {
	l := NewLimiter(LimiterConfig{Sources: 1024})
	srcs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0")}
	for _, src := range srcs {
		if n := testing.AllocsPerRun(100, func() { l.Allow(src) }); n != 0 {
			t.Errorf("%v: %v allocations per Allow", src, n)
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(LimiterConfig{})
	srcs := make([]netip.Addr, 4096)
	for i := range srcs {
		srcs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Allow(srcs[i&(len(srcs)-1)])
	}
}
