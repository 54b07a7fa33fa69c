package conntrack

import "net/netip"

// NAT is the translation of one entry, chosen by the caller of CreateNAT
// (package nat): what the source and the destination of the original
// direction become. The table keeps it with the entry, as Linux keeps an
// original and a reply tuple per connection: replies are found by the
// translated reply tuple in one lookup, and the translation dies with the
// entry.
type NAT struct {
	// Src and Dst are the new source and destination of packets in the
	// original direction; a zero AddrPort leaves that end as it is. They
	// must be of the flow's family. For an ICMP query the port is the
	// query identifier (a Dst port is then ignored: only the source
	// end's identifier is mapped); for a protocol without ports it must
	// be 0.
	Src, Dst netip.AddrPort
	// ReplySide is the side replies arrive on. SideNone means the other
	// side from the original direction's; a hairpinned flow, whose
	// destination is translated back to the side it came from, sets it.
	ReplySide Side
	// Ref is the caller's: the table hands it to Config.Release when the
	// entry is gone, or at once when CreateNAT does not keep the
	// translation. 0 is never handed back.
	Ref uint64
}

// Rewrite is what one packet of a translated entry must become: its new
// source and destination (a zero AddrPort leaves that end as it is; for
// an ICMP query the port is the identifier, which stands in both).
//
// For an ICMP error related to a translated entry, Src and Dst apply to
// the addresses of the error's own header; the packet it quotes travelled
// the other way, so it takes Dst as its source and Src as its destination
// (RFC 5508 section 4.2: the quoted packet is put back as its sender sent
// it, and the error is addressed to that sender).
type Rewrite struct {
	Src, Dst netip.AddrPort
}

// natSlot is the translation of the entry in the same slot of the shard's
// slab: the reply tuple as replies arrive (translated), the caller's Ref
// and where the entry's proxy lives. Guarded by the shard's mu.
type natSlot struct {
	reply  key
	ref    uint64
	proxy  int32  // slot in the proxies of shard pshard
	pshard uint16 // shard whose buckets hold the proxy
	flags  uint8  // natSrc, natDst
}

// Which ends of the original direction a translation changes.
const (
	natSrc = 1 << iota
	natDst
)

// proxy is the node by which a translated entry's replies are found: its
// reply tuple, hashed into the shard that tuple selects, which is rarely
// the entry's own. It holds a copy of the tuple so that a walk of its
// chain reads only its own shard's memory. A proxy of a removed entry in
// another shard stays in its chain (its owner's generation no longer
// matches, so it leads nowhere) until that shard drains its queue of
// dead proxies, which it does before it inserts one and on every Sweep.
// Guarded by the mu of the shard whose slab holds it.
type proxy struct {
	k      key
	next   int32 // hash chain or free list
	bucket uint32
	owner  ID // the entry's ID: its shard, slot and generation
}

// Bucket chains link entries and proxies: a link with proxyBit set is the
// index of a proxy. Slots are below 1<<slotBits, so the bit is free.
const proxyBit = 1 << 30

// next returns the address of the chain link that follows link.
func (s *shard) next(link int32) *int32 {
	if link&proxyBit != 0 {
		return &s.proxies[link&^proxyBit].next
	}
	return &s.entries[link].next
}

// replyKey builds the reply tuple of an entry whose original tuple is k,
// translated as n says: the inverse of k with the new ends put in.
func replyKey(k *key, n *NAT) (r key, flags uint8) {
	r = k.inverse()
	if a := n.Src; a.IsValid() {
		flags |= natSrc
		r.dst = a.Addr().As16()
		switch {
		case k.isICMP():
			r.sport = a.Port()
		case k.proto.HasPorts():
			r.dport = a.Port()
		}
	}
	if a := n.Dst; a.IsValid() {
		flags |= natDst
		r.src = a.Addr().As16()
		if k.proto.HasPorts() {
			r.sport = a.Port()
		}
	}
	if n.ReplySide != SideNone {
		r.side = n.ReplySide
	}
	return r, flags
}

// natValid checks a translation against the flow it is for.
func natValid(k *key, n *NAT) bool {
	for _, a := range [2]netip.AddrPort{n.Src, n.Dst} {
		if !a.IsValid() {
			if a != (netip.AddrPort{}) {
				return false
			}
			continue
		}
		if a.Addr().Zone() != "" || a.Addr().Is4() != k.v4 || a.Addr().Is4In6() {
			return false
		}
		if a.Port() != 0 && !k.proto.HasPorts() && !k.isICMP() {
			return false
		}
	}
	return n.ReplySide <= SideWAN && (n.Src.IsValid() || n.Dst.IsValid())
}

// rewrite fills rw with what a packet in direction dir of translated
// entry idx must become. From the two tuples alone: the original
// direction leaves as the reply tuple inverted, the reply direction as
// the original tuple inverted.
func (s *shard) rewrite(idx int32, dir Dir, rw *Rewrite) {
	e, n := &s.entries[idx], &s.nat[idx]
	*rw = Rewrite{}
	o, r := &e.orig, &n.reply
	icmp := o.isICMP()
	if dir == DirOriginal {
		if n.flags&natSrc != 0 {
			port := r.dport
			if icmp {
				port = r.sport
			}
			rw.Src = netip.AddrPortFrom(addrOf(&r.dst, r.v4), port)
		}
		if n.flags&natDst != 0 {
			rw.Dst = netip.AddrPortFrom(addrOf(&r.src, r.v4), r.sport)
		}
		return
	}
	if n.flags&natDst != 0 {
		rw.Src = netip.AddrPortFrom(addrOf(&o.dst, o.v4), o.dport)
	}
	if n.flags&natSrc != 0 {
		rw.Dst = netip.AddrPortFrom(addrOf(&o.src, o.v4), o.sport)
	}
	if icmp {
		// An ICMP query's identifier is the port of both ends.
		if rw.Src.IsValid() {
			rw.Src = netip.AddrPortFrom(rw.Src.Addr(), o.sport)
		}
	}
}

// fillNAT writes the rewrite of a packet in direction dir of entry idx
// into p.NAT, if the entry is translated, and reports whether it is.
func (s *shard) fillNAT(idx int32, dir Dir, p *Packet) bool {
	if s.entries[idx].status&stNAT == 0 {
		return false
	}
	if p.NAT != nil {
		s.rewrite(idx, dir, p.NAT)
	}
	return true
}

// insertProxy links a proxy for entry owner with reply tuple k into
// bucket b; the caller made sure a proxy slot is free.
func (s *shard) insertProxy(h uint64, k *key, owner ID) int32 {
	i := s.pfree
	px := &s.proxies[i]
	s.pfree = px.next
	b := uint32(h) & s.bmask
	*px = proxy{k: *k, next: s.buckets[b], bucket: b, owner: owner}
	s.buckets[b] = i | proxyBit
	s.nproxies++
	return i
}

// unlinkProxy takes proxy i out of its chain and frees its slot.
func (s *shard) unlinkProxy(i int32) {
	px := &s.proxies[i]
	link := i | proxyBit
	p := &s.buckets[px.bucket]
	for *p != link {
		p = s.next(*p)
	}
	*p = px.next
	px.owner = 0
	px.next = s.pfree
	s.pfree = i
	s.nproxies--
}

// queueDead hands shard s the proxy i of an entry removed in another
// shard, whose lock the caller holds (and not s's). pendMu is a leaf
// lock: nothing else is locked while it is held.
func (s *shard) queueDead(i int32) {
	s.pendMu.Lock()
	s.pend = append(s.pend, i) // capacity for every proxy: never grows
	s.npend.Store(int32(len(s.pend)))
	s.pendMu.Unlock()
}

// drain unlinks the proxies of removed entries queued to s. The caller
// holds s.mu.
func (s *shard) drain() {
	if s.npend.Load() == 0 {
		return
	}
	s.pendMu.Lock()
	for _, i := range s.pend {
		s.unlinkProxy(i)
	}
	s.pend = s.pend[:0]
	s.npend.Store(0)
	s.pendMu.Unlock()
}

// unnat forgets the translation of entry idx, which is being removed: its
// proxy goes at once when it is in this shard, else to its shard's queue;
// then the caller's Ref is released. The proxy is queued before the Ref
// goes, so that by the time the caller can hand the same reply tuple to a
// new entry, the shard that will hold its proxy has the old one queued,
// and drains it before the insertion.
func (s *shard) unnat(idx int32) {
	e, n := &s.entries[idx], &s.nat[idx]
	if ps := &s.tab.shards[n.pshard]; ps == s {
		s.unlinkProxy(n.proxy)
	} else {
		ps.queueDead(n.proxy)
	}
	e.status &^= stNAT
	s.tab.translated.Add(-1)
	if n.ref != 0 && s.tab.release != nil {
		s.tab.release(n.ref)
	}
	n.ref = 0
}

// hop locks the shard of entry owner, whose proxy another shard's lookup
// found, and returns it with the entry's slot, or nilIdx when the entry
// is gone. The caller holds no lock; the returned shard is locked either
// way.
func (t *Table) hop(owner ID) (*shard, int32) {
	s, slot, ok := t.decode(owner)
	if !ok {
		// IDs come from the table's own proxies.
		panic("conntrack: proxy owner outside the table")
	}
	s.mu.Lock()
	if !s.holds(slot, owner) || s.entries[slot].status&stNAT == 0 {
		return s, nilIdx
	}
	return s, slot
}

// lockPair locks a and b (once if they are the same) in the order of
// their index, the one order in which any code path holds two shards.
func lockPair(a, b *shard) {
	switch {
	case a == b:
		a.mu.Lock()
	case a.index < b.index:
		a.mu.Lock()
		b.mu.Lock()
	default:
		b.mu.Lock()
		a.mu.Lock()
	}
}

func unlockPair(a, b *shard) {
	a.mu.Unlock()
	if b != a {
		b.mu.Unlock()
	}
}

// release hands back the Ref of a translation the table does not keep.
func (t *Table) releaseRef(n *NAT) {
	if n.Ref != 0 && t.release != nil {
		t.release(n.Ref)
	}
}

// CreateNAT is Create for a connection the caller translates as n says:
// the entry holds the translation, its replies are found by the
// translated reply tuple in one lookup, and every packet of it (Lookup,
// the ICMP errors that quote it) comes back with the Rewrite it needs
// written into Packet.NAT. The table takes n.Ref: it is released when the
// entry is removed, or at once when no entry keeps it (the call fails, or
// another goroutine created the connection first and p was tracked
// against that entry, as Create does).
//
// Besides Create's refusals it refuses, with ReasonNATCollision, a
// translation whose reply tuple already belongs to another entry (or
// that any other packet would match), and with ReasonMalformed one that
// does not fit the flow or a table made without Config.NAT.
func (t *Table) CreateNAT(p *Packet, n *NAT) (r Result, ok bool) {
	var pk parsed
	if r := parsePacket(p, &pk); r != ReasonNone {
		t.releaseRef(n)
		return t.misc.invalidResult(r), false
	}
	if pk.kind == kindUntracked || pk.kind == kindICMPError || !t.nat || !natValid(&pk.k, n) {
		t.releaseRef(n)
		return t.misc.invalidResult(ReasonMalformed), false
	}
	if r := t.creatable(&pk); r != ReasonNone {
		t.releaseRef(n)
		return t.misc.invalidResult(r), false
	}
	now := t.now()
	sc := t.scale()
	inv := pk.k.inverse()
	reply, flags := replyKey(&pk.k, n)
	replyInv := reply.inverse()
	h, rh := t.hash(&pk.k), t.hash(&reply)
	s, rs := t.shardFor(h), t.shardFor(rh)
	for pass := 0; ; pass++ {
		lockPair(s, rs)
		rs.drain()
		if r, found, elsewhere := t.tracked(s, h, &pk, &inv, p, now, sc); found || elsewhere {
			unlockPair(s, rs)
			t.releaseRef(n)
			if elsewhere {
				// The packet is the reply of a translated entry whose
				// home is a third shard, created meanwhile: track it there.
				r = t.Lookup(p)
			}
			return r, r.State != StateInvalid
		}
		if x, _, o := rs.find(rh, &reply, &replyInv); x != nilIdx || o != 0 {
			unlockPair(s, rs)
			t.releaseRef(n)
			return rs.ctr.invalidResult(ReasonNATCollision), false
		}
		if rs.pfree == nilIdx {
			unlockPair(s, rs)
			t.releaseRef(n)
			rs.ctr.insertFailed.Add(1)
			return Result{State: StateInvalid, Reason: ReasonTableFull}, false
		}
		if r, refused := s.refused(&pk); refused {
			unlockPair(s, rs)
			t.releaseRef(n)
			return r, false
		}
		if t.makeRoom(s, now, sc, pass > 0 || t.droppable.Load() == 0) {
			idx := s.insertNew(h, &pk, p, now)
			px := rs.insertProxy(rh, &reply, s.id(idx))
			s.nat[idx] = natSlot{reply: reply, ref: n.Ref, proxy: px, pshard: uint16(rs.index), flags: flags}
			s.entries[idx].status |= stNAT
			t.translated.Add(1)
			r := t.start(s, idx, p, &pk, now)
			if r.ID != 0 {
				r.NAT = s.fillNAT(idx, DirOriginal, p)
			}
			unlockPair(s, rs)
			return r, r.State != StateInvalid
		}
		s.lim.release(&pk.k)
		unlockPair(s, rs)
		if pass == 2 || (!t.evictElsewhere(s, now, sc, pass > 0) && pass > 0) {
			t.releaseRef(n)
			s.ctr.insertFailed.Add(1)
			return Result{State: StateInvalid, Reason: ReasonTableFull}, false
		}
	}
}
