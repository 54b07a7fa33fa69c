package detect

import (
	"net/netip"
	"sync"
	"time"

	"github.com/rampart-fw/rampart/ids/rules"
)

// thresholdKey names one tracking entry: a rule's threshold (or
// detection_filter) and what it tracks by.
type thresholdKey struct {
	rule     int32
	filter   bool // the detection_filter, not the threshold
	src, dst netip.Addr
}

type thresholdEntry struct {
	start  time.Time     // the window's start: the first match of it
	window time.Duration // the threshold's seconds
	count  uint32
}

// thresholdTable tracks the counts of thresholds and detection filters,
// bounded in entries.
type thresholdTable struct {
	mu          sync.Mutex
	max         int
	entries     map[thresholdKey]*thresholdEntry // guarded by mu
	lastReclaim time.Time                        // guarded by mu
}

func newThresholdTable(max int) *thresholdTable {
	return &thresholdTable{max: max, entries: map[thresholdKey]*thresholdEntry{}}
}

// check applies threshold t of rule r to a match and returns whether to
// alert and whether the rule's action applies, with Suricata's results:
// below a threshold's count or a detection_filter's, neither; past a
// limit, the action without the alert.
func (tt *thresholdTable) check(st *Stats, r *crule, t *rules.Threshold, in *Input) (alert, act bool) {
	if t.Type == rules.ThresholdThreshold && t.Count == 1 {
		return true, true // every match is the count-th: no state (as Suricata's fast track)
	}
	k := thresholdKey{rule: r.idx, filter: t.Type == rules.ThresholdDetection}
	src, dst := in.Key.Src.Addr(), in.Key.Dst.Addr()
	switch t.Track {
	case rules.BySrc:
		k.src = src
	case rules.ByDst:
		k.dst = dst
	case rules.ByBoth:
		// One entry for the pair, whichever way the packet goes.
		if dst.Less(src) {
			src, dst = dst, src
		}
		k.src, k.dst = src, dst
	}
	window := time.Duration(t.Seconds) * time.Second
	tt.mu.Lock()
	defer tt.mu.Unlock()
	e := tt.entries[k]
	if e == nil {
		if len(tt.entries) >= tt.max {
			tt.reclaim(in.Time)
		}
		e = &thresholdEntry{start: in.Time, window: window, count: 1}
		if len(tt.entries) < tt.max {
			tt.entries[k] = e
		} else {
			st.ThresholdTableFull.Add(1)
		}
		switch t.Type {
		case rules.ThresholdLimit:
			return true, true
		case rules.ThresholdThreshold, rules.ThresholdBoth:
			return t.Count == 1, t.Count == 1
		}
		return false, false // detection_filter: the first match never alerts
	}
	within := !in.Time.After(e.start.Add(window))
	if !within {
		e.start, e.count = in.Time, 1
		switch t.Type {
		case rules.ThresholdLimit:
			return true, true
		case rules.ThresholdBoth:
			return t.Count == 1, t.Count == 1
		}
		return false, false
	}
	switch t.Type {
	case rules.ThresholdLimit:
		e.count++
		if e.count <= t.Count {
			return true, true
		}
		return false, true
	case rules.ThresholdThreshold:
		e.count++
		if e.count >= t.Count {
			e.count = 0
			return true, true
		}
		return false, false
	case rules.ThresholdBoth:
		e.count++
		if e.count == t.Count {
			return true, true
		}
		if e.count > t.Count {
			return false, true
		}
		return false, false
	default: // detection_filter
		e.count++
		return e.count > t.Count, e.count > t.Count
	}
}

// reclaim removes the entries whose window has ended, at most once a
// second of traffic time, so that a full table under a flood does not
// cost a scan per match. Called with mu held.
func (tt *thresholdTable) reclaim(now time.Time) {
	if now.Sub(tt.lastReclaim) < time.Second {
		return
	}
	tt.lastReclaim = now
	for k, e := range tt.entries {
		if now.After(e.start.Add(e.window)) {
			delete(tt.entries, k)
		}
	}
}
