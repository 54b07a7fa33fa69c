package resolver

import (
	"net/netip"
	"testing"
	"time"
)

func TestInfraRTT(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newInfraCache(10, time.Minute)
	a := netip.MustParseAddr("192.0.2.1")
	steps := []struct {
		rtt               time.Duration
		srtt, rttvar, rto time.Duration
	}{
		// RFC 6298: first sample srtt=r, rttvar=r/2; then 7/8 and 3/4.
		{100 * time.Millisecond, 100 * time.Millisecond, 50 * time.Millisecond, 300 * time.Millisecond},
		{20 * time.Millisecond, 90 * time.Millisecond, 57500 * time.Microsecond, 320 * time.Millisecond},
		{1 * time.Millisecond, 78875 * time.Microsecond, 65375 * time.Microsecond, 340375 * time.Microsecond},
	}
	for i, s := range steps {
		c.recordRTT(a, s.rtt, t0)
		h := c.host(a, t0)
		if h.srtt != s.srtt || h.rttvar != s.rttvar || h.rto != s.rto {
			t.Errorf("step %d: srtt %v rttvar %v rto %v, want %v %v %v", i, h.srtt, h.rttvar, h.rto, s.srtt, s.rttvar, s.rto)
		}
	}
	if got := c.tryTimeout(a, t0, 400*time.Millisecond, 1500*time.Millisecond); got != 400*time.Millisecond {
		t.Errorf("tryTimeout = %v", got)
	}
	if _, ok := c.info(a, t0.Add(time.Minute)); ok {
		t.Error("entry outlived its TTL")
	}
}

func TestInfraTimeouts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newInfraCache(10, time.Hour)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	c.recordRTT(b, 300*time.Millisecond, t0)
	for i := 1; i <= blockAfter; i++ {
		c.recordTimeout(a, t0)
		info, _ := c.info(a, t0)
		if want := initialRTO << i; info.RTO != want || info.Timeouts != i {
			t.Errorf("after %d time-outs: %+v, want RTO %v", i, info, want)
		}
		if blocked := !info.BlockedUntil.IsZero(); blocked != (i >= blockAfter) {
			t.Errorf("after %d time-outs: blocked %v", i, blocked)
		}
	}
	if got := c.tryTimeout(a, t0, 400*time.Millisecond, 1500*time.Millisecond); got != 1500*time.Millisecond {
		t.Errorf("tryTimeout = %v", got)
	}
	// Blocked servers come last, even untried against a tried one.
	cands := []candidate{{addr: a}, {addr: b, tries: 1}}
	if i := c.pick("lab.", cands, t0); i != 1 {
		t.Errorf("picked %d, want the unblocked server", i)
	}
	// After its probe time it competes again; a success unblocks it.
	info, _ := c.info(a, t0)
	later := info.BlockedUntil.Add(time.Second)
	if i := c.pick("lab.", []candidate{{addr: a}, {addr: b, tries: 1}}, later); i != 0 {
		t.Errorf("picked %d after the probe time, want the untried server", i)
	}
	c.recordRTT(a, 10*time.Millisecond, later)
	if info, _ := c.info(a, later); info.Timeouts != 0 || !info.BlockedUntil.IsZero() {
		t.Errorf("not unblocked: %+v", info)
	}
}

func TestInfraPick(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fast, slow, lame, unknown := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("192.0.2.4")
	c := newInfraCache(10, time.Hour)
	c.recordRTT(fast, 5*time.Millisecond, t0)
	c.recordRTT(slow, 80*time.Millisecond, t0)
	c.markLame(lame, "lab.", t0)
	tests := []struct {
		name  string
		cands []candidate
		want  int
	}{
		{"fastest", []candidate{{addr: slow}, {addr: fast}}, 1},
		{"never measured first", []candidate{{addr: fast}, {addr: unknown}}, 1},
		{"untried before retried", []candidate{{addr: fast, tries: 1}, {addr: slow}}, 1},
		{"lame skipped", []candidate{{addr: lame}, {addr: slow}}, 1},
		{"bad skipped", []candidate{{addr: fast, bad: true}, {addr: slow}}, 1},
		{"tries exhausted", []candidate{{addr: fast, tries: maxTriesPerServer}}, -1},
		{"only lame", []candidate{{addr: lame}}, -1},
	}
	for _, tt := range tests {
		if got := c.pick("lab.", tt.cands, t0); got != tt.want {
			t.Errorf("%s: picked %d, want %d", tt.name, got, tt.want)
		}
	}
	if !c.isLameLocked(lame, "LAB.", t0) || c.isLameLocked(lame, "other.", t0) || c.isLameLocked(lame, "lab.", t0.Add(time.Hour)) {
		t.Error("lameness is per zone and expires")
	}
	// The slow server's score decays while it is passed over, so that it is
	// probed again eventually.
	probed := false
	for range 500 {
		if c.pick("lab.", []candidate{{addr: fast}, {addr: slow}}, t0) == 1 {
			probed = true
			break
		}
	}
	if !probed {
		t.Error("slow server never probed")
	}
}

func TestInfraBound(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newInfraCache(4, time.Hour)
	for i := range 10 {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		c.recordRTT(a, time.Millisecond, t0)
		c.markLame(a, "lab.", t0)
	}
	hosts, lame := c.sizes()
	if hosts != 4 || lame != 4 || c.evictions.Load() != 12 {
		t.Errorf("hosts %d lame %d evictions %d", hosts, lame, c.evictions.Load())
	}
}

func TestInfraPickDoesNotAllocate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newInfraCache(100, time.Hour)
	cands := make([]candidate, 13)
	for i := range cands {
		cands[i].addr = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		c.recordRTT(cands[i].addr, time.Duration(i+1)*time.Millisecond, t0)
	}
	if n := testing.AllocsPerRun(100, func() { c.pick("example.lab.", cands, t0) }); n != 0 {
		t.Errorf("%v allocations per pick", n)
	}
}

func BenchmarkInfraPick(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newInfraCache(100, time.Hour)
	cands := make([]candidate, 13)
	for i := range cands {
		cands[i].addr = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		c.recordRTT(cands[i].addr, time.Duration(i+1)*time.Millisecond, t0)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.pick("example.lab.", cands, t0)
	}
}

func BenchmarkInfraRecordRTT(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newInfraCache(100, time.Hour)
	a := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		c.recordRTT(a, 3*time.Millisecond, t0)
	}
}

// TestInfraNoEDNSBounded: the no-EDNS mark lasts the cache's TTL from
// when it was set, not from the server's last answer: a busy server is
// asked with EDNS again after it.
func TestInfraNoEDNSBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newInfraCache(10, 15*time.Minute)
	a := netip.MustParseAddr("192.0.2.1")
	c.setNoEDNS(a, t0)
	for m := time.Duration(0); m <= 30; m += 5 {
		now := t0.Add(m * time.Minute)
		c.recordRTT(a, 10*time.Millisecond, now)
		want := m < 15
		if got := c.queryState(a, now).noEDNS; got != want {
			t.Errorf("%v after the mark: noEDNS %v, want %v", m*time.Minute, got, want)
		}
		if info, _ := c.info(a, now); info.NoEDNS != want {
			t.Errorf("%v after the mark: ServerInfo.NoEDNS %v, want %v", m*time.Minute, info.NoEDNS, want)
		}
	}
}
