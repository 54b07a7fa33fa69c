package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/gateway"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/applayer"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ids/eve"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ids/stream"
	"github.com/spf13/cobra"
)

// maxRuleWarnings bounds the skipped rules named one by one.
const maxRuleWarnings = 20

// inspectIDS runs the intrusion detection engine over the capture and
// prints its summary; it returns the reader's error for a last record
// cut short.
func inspectIDS(cmd *cobra.Command, c *idsConfig, path, checksums string, top int) (*datapath.FileError, error) {
	setup, err := c.check()
	if err != nil {
		return nil, &usageError{err}
	}
	stderr := cmd.ErrOrStderr()
	for i, e := range setup.set.Errors {
		if i == maxRuleWarnings {
			fmt.Fprintf(stderr, "warning: and %d more rules skipped\n", len(setup.set.Errors)-i)
			break
		}
		fmt.Fprintf(stderr, "warning: %v (rule skipped)\n", e)
	}
	if len(setup.set.Rules) == 0 {
		return nil, usageErrorf("%s: no rule loaded", joinPaths(setup.rulePaths))
	}
	cfg, err := setup.engineConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Mode == ids.Prevent {
		// A capture cannot be changed: prevention is the gateway's.
		cfg.Mode = ids.Detect
	}
	switch checksums {
	case "":
	default:
		mode, err := gateway.ParseChecksumMode(checksums)
		if err != nil {
			return nil, usageErrorf("--checksums: %v", err)
		}
		cfg.VerifyChecksums = mode != gateway.ChecksumsIgnore
		cfg.PartialChecksums = mode == gateway.ChecksumsOffload
	}
	sum := newIDSSummary(top)
	outs := ids.Outputs{sum}
	var ew *eve.Writer
	if setup.eve != "" {
		f, err := os.Create(setup.eve)
		if err != nil {
			return nil, err
		}
		ew = eve.NewWriter(f)
		defer ew.Close()
		outs = append(outs, ew)
	}
	cfg.Output = outs
	e, err := ids.New(cfg)
	if err != nil {
		return nil, err
	}
	src, err := datapath.OpenCapture(path)
	if err != nil {
		return nil, &usageError{err}
	}
	defer src.Close()
	bar := newProgress(path, "packets")
	var prog func(uint64, uint64)
	if bar != nil {
		prog = bar.update
	}
	cut := &cutShort{src: src}
	res, err := e.Run(cmd.Context(), cut, prog)
	bar.done()
	if err != nil {
		return nil, err
	}
	if ew != nil {
		// A write error surfaces here, not in a deferred Close.
		if err := ew.Close(); err != nil {
			return nil, fmt.Errorf("%s: %w", setup.eve, err)
		}
	}
	sum.print(cmd.OutOrStdout(), &res, e.Stats(), len(setup.set.Rules), setup.eve)
	return cut.err, nil
}

func joinPaths(ps []string) string {
	if len(ps) == 1 {
		return ps[0]
	}
	return fmt.Sprint(ps)
}

// idsSummary is an ids.Output that counts the alerts by signature and
// the events by name, and keeps the first alerts' fast.log lines.
type idsSummary struct {
	top int
	mu  sync.Mutex
	// guarded by mu:
	alerts map[*rules.Rule]uint64
	events map[string]uint64
	fast   []string
}

func newIDSSummary(top int) *idsSummary {
	return &idsSummary{top: top, alerts: map[*rules.Rule]uint64{}, events: map[string]uint64{}}
}

func (s *idsSummary) Alert(a ids.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts[a.Rule]++
	if len(s.fast) < s.top {
		s.fast = append(s.fast, string(eve.AppendFast(nil, &a)))
	}
}

func (s *idsSummary) Event(e ids.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[eve.EventName(&e)]++
}

func (s *idsSummary) print(out io.Writer, res *ids.RunResult, st ids.Stats, nrules int, evePath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.Packets == 0 {
		fmt.Fprintln(out, "0 packets: no packets in the capture")
		return
	}
	fmt.Fprintf(out, "%d packets (%d bytes) from %s to %s, %d rules\n", res.Packets, res.Bytes,
		res.First.UTC().Format(time.RFC3339Nano), res.Last.UTC().Format(time.RFC3339Nano), nrules)
	fmt.Fprintf(out, "flows: %d TCP (%d picked up midstream), %d UDP and other\n", st.TCPFlows, st.Stream.Midstream, st.OtherFlows)
	var nalerts uint64
	for _, n := range s.alerts {
		nalerts += n
	}
	fmt.Fprintf(out, "alerts: %d", nalerts)
	if evePath != "" {
		fmt.Fprintf(out, " (EVE JSON in %s)", evePath)
	}
	fmt.Fprintln(out)
	if len(s.alerts) > 0 {
		rs := make([]*rules.Rule, 0, len(s.alerts))
		for r := range s.alerts {
			rs = append(rs, r)
		}
		sort.Slice(rs, func(i, j int) bool {
			if s.alerts[rs[i]] != s.alerts[rs[j]] {
				return s.alerts[rs[i]] > s.alerts[rs[j]]
			}
			return rs[i].GID < rs[j].GID || rs[i].GID == rs[j].GID && rs[i].SID < rs[j].SID
		})
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "GID:SID:REV\tSIGNATURE\tALERTS")
		for _, r := range rs {
			fmt.Fprintf(tw, "%d:%d:%d\t%s\t%d\n", r.GID, r.SID, r.Rev, r.Msg, s.alerts[r])
		}
		tw.Flush()
		fmt.Fprintln(out)
		for _, l := range s.fast {
			fmt.Fprintln(out, l)
		}
		if uint64(len(s.fast)) < nalerts {
			fmt.Fprintf(out, "(and %d more)\n", nalerts-uint64(len(s.fast)))
		}
	}
	var nevents uint64
	for _, n := range s.events {
		nevents += n
	}
	fmt.Fprintf(out, "\nevents: %d\n", nevents)
	if len(s.events) > 0 {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EVENT\tCOUNT")
		for _, k := range sortedKeys(s.events) {
			fmt.Fprintf(tw, "%s\t%d\n", k, s.events[k])
		}
		tw.Flush()
	}
	printCounters(out, st)
}

// printCounters lists the engine's counters that are not zero: what
// was left out and every bound that was reached.
func printCounters(out io.Writer, st ids.Stats) {
	counts := map[string]uint64{
		"frames not IP":                          st.NotIP,
		"packets malformed":                      st.Invalid,
		"packets with a wrong checksum":          st.BadChecksum,
		"IP fragments":                           st.Fragments,
		"datagrams reassembled":                  st.Reassembled,
		"TCP segments of no flow":                st.TCPUntracked,
		"flows (UDP and other) timed out":        st.Flows.TimedOut,
		"flows (UDP and other) evicted":          st.Flows.Evicted,
		"stream bytes given up as gaps":          st.Stream.GapBytes,
		"stream flows ended by the table's size": st.Stream.Ended[stream.EndEvicted],
		"packets that expire before their host":  st.TTLUnreachable,
	}
	for _, k := range []stream.Kind{stream.KindMemcap, stream.KindDepth, stream.KindFlowLimit, stream.KindHoleLimit} {
		counts["stream "+k.String()] = st.Stream.Events[k]
	}
	for _, k := range []defrag.Kind{defrag.KindTimeout, defrag.KindEvicted, defrag.KindQuota, defrag.KindTooManyFragments} {
		counts["defrag "+k.String()] = st.Defrag.Events[k]
	}
	counts["applayer memcap"] = st.App.Events[applayer.KindMemcap]
	var keys []string
	for k, n := range counts {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return
	}
	sort.Strings(keys)
	fmt.Fprintln(out, "\ncounters:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%d\n", k, counts[k])
	}
	tw.Flush()
}
