package nat

import (
	"math/bits"
	"net/netip"

	"github.com/rampart-fw/rampart/ipproto"
)

// acquire returns the mapping of inside endpoint e with one more
// reference: the one it has (endpoint-independent mapping, RFC 4787
// REQ-1, RFC 5382 REQ-1), or a new one on its host's public address.
// The caller holds mu.
func (t *Translator) acquire(e endpoint) (int32, Outcome) {
	if m, ok := t.byInside[e]; ok {
		t.maps[m].refs++
		return m, Translated
	}
	addr := e.ap.Addr()
	h, had := t.hosts[addr]
	if had && h.n >= int32(t.cfg.PerHost) {
		return nilIdx, QuotaExceeded
	}
	if t.free == nilIdx {
		return nilIdx, Exhausted
	}
	if !had {
		h.pub = t.pickPublic(addr)
		if h.pub < 0 {
			return nilIdx, Untranslated
		}
	}
	ps := t.portSpace(h.pub, e.proto)
	lo, hi := portRange(e)
	port, ok := ps.take(e.ap.Port(), lo, hi, t.rng.Uint64())
	if !ok {
		return nilIdx, Exhausted
	}
	m := t.free
	mp := &t.maps[m]
	t.free = mp.next
	*mp = mapping{
		inside: e,
		public: endpoint{e.proto, netip.AddrPortFrom(t.public[h.pub], port)},
		refs:   1,
		next:   nilIdx,
		space:  ps,
		pub:    h.pub,
	}
	t.byInside[e] = m
	t.byPublic[mp.public] = m
	h.n++
	t.hosts[addr] = h
	t.live++
	t.stats.mappings.Add(1)
	t.stats.allocations.Add(1)
	if port == e.ap.Port() {
		t.stats.preserved.Add(1)
	}
	return m, Translated
}

// portRange is where the public port of inside endpoint e is taken from:
// a port below 1024 maps below 1024, any other above (RFC 4787 REQ-3);
// an ICMP query identifier anywhere.
func portRange(e endpoint) (lo, hi uint16) {
	switch {
	case e.proto == ipproto.ICMP || e.proto == ipproto.ICMPv6:
		return 0, 65535
	case e.ap.Port() < 1024:
		return 1, 1023
	}
	return 1024, 65535
}

// unref drops one reference to mapping m and frees it with its port when
// it was the last. The caller holds mu.
func (t *Translator) unref(m int32) {
	mp := &t.maps[m]
	if mp.refs--; mp.refs > 0 {
		return
	}
	delete(t.byInside, mp.inside)
	delete(t.byPublic, mp.public)
	mp.space.clear(mp.public.ap.Port())
	addr := mp.inside.ap.Addr()
	if h := t.hosts[addr]; h.n <= 1 {
		delete(t.hosts, addr)
	} else {
		h.n--
		t.hosts[addr] = h
	}
	*mp = mapping{next: t.free}
	t.free = m
	t.live--
	t.stats.mappings.Add(-1)
	t.stats.expired.Add(1)
}

// Release hands back the reference of one connection: conntrack calls it
// (Config.Release) when the entry goes, with one of its shards locked.
// The last reference of a mapping frees it and its port: the mapping
// expires with its last connection, at the connection's timer, and costs
// nothing per packet.
func (t *Translator) Release(r uint64) {
	m, p := int32(uint32(r))-1, int32(r>>32)-1
	t.mu.Lock()
	if p >= 0 {
		t.dropPeer(p)
	}
	if m >= 0 {
		t.unref(m)
	}
	t.mu.Unlock()
}

// addPeer counts one more connection of mapping m to address a, what
// address-dependent filtering admits from. The caller holds mu.
func (t *Translator) addPeer(m int32, a netip.Addr) int32 {
	k := peerKey{m, a}
	if i, ok := t.byPeer[k]; ok {
		t.peers[i].refs++
		return i
	}
	i := t.peerFree
	if i == nilIdx {
		i = int32(len(t.peers))
		t.peers = append(t.peers, peer{})
	} else {
		t.peerFree = t.peers[i].next
	}
	t.peers[i] = peer{k: k, refs: 1, next: nilIdx}
	t.byPeer[k] = i
	return i
}

func (t *Translator) dropPeer(i int32) {
	pr := &t.peers[i]
	if pr.refs--; pr.refs > 0 {
		return
	}
	delete(t.byPeer, pr.k)
	*pr = peer{next: t.peerFree}
	t.peerFree = i
}

// pickPublic chooses the public address of a host that has no mapping
// yet: one of its family, the same for the same host (a hash of its
// address), so that pooling is paired. -1: none of its family.
func (t *Translator) pickPublic(a netip.Addr) int32 {
	var n uint32
	for _, p := range t.public {
		if p.Is4() == a.Is4() {
			n++
		}
	}
	if n == 0 {
		return nilIdx
	}
	b := a.As16()
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	k := h % n
	for i, p := range t.public {
		if p.Is4() == a.Is4() {
			if k == 0 {
				return int32(i)
			}
			k--
		}
	}
	return nilIdx
}

// hostPublic is the public address of inside host a: the one its
// mappings have, or the one it would get.
func (t *Translator) hostPublic(a netip.Addr) int32 {
	if h, ok := t.hosts[a]; ok {
		return h.pub
	}
	return t.pickPublic(a)
}

// portSpace returns the ports of proto on public address pub in use.
func (t *Translator) portSpace(pub int32, proto ipproto.Proto) *portSet {
	k := space{pub, proto}
	ps := t.spaces[k]
	if ps == nil {
		ps = new(portSet)
		t.spaces[k] = ps
	}
	return ps
}

// portSet is a set of 16-bit ports, a bit each.
type portSet [1024]uint64

func (s *portSet) has(p uint16) bool { return s[p>>6]&(1<<(p&63)) != 0 }
func (s *portSet) set(p uint16)      { s[p>>6] |= 1 << (p & 63) }
func (s *portSet) clear(p uint16)    { s[p>>6] &^= 1 << (p & 63) }

// Parity masks of a word of the set: bit i is port 64w+i, so the even
// bits are the even ports.
const (
	evenPorts = 0x5555555555555555
	oddPorts  = 0xaaaaaaaaaaaaaaaa
)

// take marks and returns a free port in [lo, hi]: want itself when it is
// free and in range (port preservation, RFC 4787 REQ-3), else one of
// want's parity (RFC 4787 REQ-4), else any; the search starts at a word
// chosen by rnd, so that mapped ports are hard to guess (RFC 6056). It
// reports false when every port of the range is in use.
func (s *portSet) take(want, lo, hi uint16, rnd uint64) (uint16, bool) {
	if want >= lo && want <= hi && !s.has(want) {
		s.set(want)
		return want, true
	}
	wlo, whi := int(lo>>6), int(hi>>6)
	nw := whi - wlo + 1
	first := wlo + int(rnd%uint64(nw))
	parity := uint64(evenPorts)
	if want&1 == 1 {
		parity = oddPorts
	}
	for _, mask := range [2]uint64{parity, ^uint64(0)} {
		for k := range nw {
			w := wlo + (first-wlo+k)%nw
			free := ^s[w] & mask & wordRange(w, lo, hi)
			if free == 0 {
				continue
			}
			p := uint16(w<<6 | bits.TrailingZeros64(free))
			s.set(p)
			return p, true
		}
	}
	return 0, false
}

// wordRange is the mask of the ports of word w within [lo, hi].
func wordRange(w int, lo, hi uint16) uint64 {
	m := ^uint64(0)
	if int(lo>>6) == w {
		m &= ^uint64(0) << (lo & 63)
	}
	if int(hi>>6) == w {
		m &= ^uint64(0) >> (63 - hi&63)
	}
	return m
}
