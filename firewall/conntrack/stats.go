package conntrack

// Stats is a snapshot of the table's counters. Counters only grow;
// Entries is the current number of entries.
type Stats struct {
	Entries    int
	MaxEntries int
	// Created counts entries inserted by Create.
	Created uint64
	// Deleted counts entries removed by Delete, Flush, Recheck, a TCP
	// reset before any answer, and a SYN reopening a closed connection.
	Deleted uint64
	// Expired counts entries removed because their timeout passed.
	Expired uint64
	// EarlyDrop counts live entries evicted to make room.
	EarlyDrop uint64
	// InsertFailed counts Create calls refused because the table was full
	// and nothing could be evicted.
	InsertFailed uint64
	// Invalid counts Invalid verdicts by reason.
	Invalid [ReasonCount]uint64
	// Ignored counts packets passed without updating their entry, by
	// reason.
	Ignored [ReasonCount]uint64
}

// InvalidTotal sums Invalid over all reasons.
func (s *Stats) InvalidTotal() uint64 {
	var n uint64
	for _, v := range s.Invalid {
		n += v
	}
	return n
}

func (c *counters) addTo(st *Stats) {
	st.Created += c.created.Load()
	st.Deleted += c.deleted.Load()
	st.Expired += c.expired.Load()
	st.EarlyDrop += c.earlyDrop.Load()
	st.InsertFailed += c.insertFailed.Load()
	for i := range c.invalid {
		st.Invalid[i] += c.invalid[i].Load()
		st.Ignored[i] += c.ignored[i].Load()
	}
}

// Stats returns the counters. It takes no lock; counters of different
// shards are read at slightly different moments.
func (t *Table) Stats() Stats {
	st := Stats{Entries: t.Len(), MaxEntries: int(t.max)}
	t.misc.addTo(&st)
	for i := range t.shards {
		t.shards[i].ctr.addTo(&st)
	}
	return st
}
