package scenario

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/lab"
)

// TestPinningFlood is the acceptance test of the review's item 1: a minute
// of spoofed handshakes at the attacker's full rate (the review's capture
// with corrupt checksums, the same with the SYN/ACK forged on the wan
// side, and a SYN flood from spoofed outside sources) leaves no assured
// connection of the attacker's in the gateway's table and no bad segment
// delivered inside; the table stays within its bound by evicting, not by
// refusing; and afterwards a legitimate client connects both ways, its
// bytes echoed whole.
func TestPinningFlood(t *testing.T) {
	l := upLab(t)
	opts := PinningOptions{Duration: time.Minute}
	if testing.Short() {
		opts.Duration = 10 * time.Second
	}
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	r := RunPinning(context.Background(), l, env, opts)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	var total uint64
	for _, n := range r.Sent {
		total += n
	}
	t.Logf("sent %v (%d packets in %s, %.0f/s), %d lost at the attacker", r.Sent, total, r.Elapsed.Round(time.Millisecond), float64(total)/r.Elapsed.Seconds(), r.Lost)
	for _, name := range []string{"rampart_conntrack_entries", "rampart_conntrack_max_entries", "rampart_conntrack_evictable_entries", "rampart_conntrack_timeout_scale"} {
		t.Logf("%s %v", name, r.After[name])
	}
	for _, reason := range []string{"bad_checksum", "invalid", "source_limit", "prefix_limit", "table_full"} {
		t.Logf("drop/%s %.0f", reason, Frames(r.After, "drop", reason)-Frames(r.Before, "drop", reason))
	}
	for _, name := range []string{"rampart_conntrack_created_total", "rampart_conntrack_early_drop_total", "rampart_conntrack_evicted_idle_total",
		"rampart_conntrack_adaptive_expired_total", "rampart_conntrack_expired_total", "rampart_datapath_wan_kernel_drops_total"} {
		t.Logf("%s %.0f", name, r.Metric(name))
	}
	if r.Elapsed < opts.Duration*9/10 || total < 10000 {
		t.Fatalf("the flood ran %s and sent %d packets: not a flood", r.Elapsed, total)
	}
	for _, line := range r.LabResults("pinning") {
		if !line.OK {
			t.Errorf("%s: %s → %s", line.Tried, line.Defence, line.Outcome)
		}
	}
	if r.Assured() != 0 && r.Assured() > 2 {
		t.Errorf("%.0f assured connections after the flood", r.Assured())
	}
}
