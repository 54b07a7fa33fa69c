package conntrack

// Stats is a snapshot of the table's counters. Counters only grow;
// Entries is the current number of entries.
type Stats struct {
	Entries    int
	MaxEntries int
	// Evictable is how many of the entries go first when room is needed:
	// unassured ones and closing TCP connections. Entries - Evictable are
	// assured, live connections.
	Evictable int
	// Created counts entries inserted by Create.
	Created uint64
	// Deleted counts entries removed by Delete, Flush, Recheck, a TCP
	// reset before any answer, and a SYN reopening a closed connection.
	Deleted uint64
	// Expired counts entries removed because their timeout passed.
	Expired uint64
	// AdaptiveExpired counts entries removed because their timeout,
	// scaled down while the table was under pressure, passed.
	AdaptiveExpired uint64
	// EarlyDrop counts unassured (or closing) entries evicted to make
	// room.
	EarlyDrop uint64
	// EvictedIdle counts entries evicted to make room when no unassured
	// one was left: the entry of the shard idle longest, assured or not.
	EvictedIdle uint64
	// InsertFailed counts Create calls refused because the table was full
	// and nothing could be evicted.
	InsertFailed uint64
	// TimeoutScale is the factor time-outs are multiplied by now: 1 below
	// the adaptive start, down to 0 at its end.
	TimeoutScale float64
	// Invalid counts Invalid verdicts by reason; ReasonSourceLimit and
	// ReasonPrefixLimit count the Create calls refused by those bounds.
	Invalid [ReasonCount]uint64
	// Ignored counts packets passed without updating their entry, by
	// reason.
	Ignored [ReasonCount]uint64
}

// InvalidTotal sums Invalid over all reasons but the refusals of the
// per-source bounds.
func (s *Stats) InvalidTotal() uint64 {
	var n uint64
	for r, v := range s.Invalid {
		if Reason(r) != ReasonSourceLimit && Reason(r) != ReasonPrefixLimit {
			n += v
		}
	}
	return n
}

func (c *counters) addTo(st *Stats) {
	st.Created += c.created.Load()
	st.Deleted += c.deleted.Load()
	st.Expired += c.expired.Load()
	st.AdaptiveExpired += c.adaptive.Load()
	st.EarlyDrop += c.earlyDrop.Load()
	st.EvictedIdle += c.evictIdle.Load()
	st.InsertFailed += c.insertFailed.Load()
	for i := range c.invalid {
		st.Invalid[i] += c.invalid[i].Load()
		st.Ignored[i] += c.ignored[i].Load()
	}
}

// Stats returns the counters. It takes no lock; counters of different
// shards are read at slightly different moments.
func (t *Table) Stats() Stats {
	st := Stats{Entries: t.Len(), MaxEntries: int(t.max), Evictable: int(t.droppable.Load()), TimeoutScale: float64(t.scale()) / scaleOne}
	t.misc.addTo(&st)
	for i := range t.shards {
		t.shards[i].ctr.addTo(&st)
	}
	return st
}
