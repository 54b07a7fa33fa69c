package scenario

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/lab"
)

// TestSYNFlood is the acceptance test of issue 10's SYN proxy: a flood of
// spoofed SYNs at the attacker's full rate against a server with a small
// backlog and no SYN cookies visibly hurts the legitimate client with the
// proxy off, and with it on at least 99% of the legitimate connections
// complete (their bytes echoed through the splice) while the gateway's
// table holds no entry for a spoofed SYN.
func TestSYNFlood(t *testing.T) {
	l := upLab(t)
	opts := SYNFloodOptions{Duration: 20 * time.Second}
	if testing.Short() {
		opts.Duration = 8 * time.Second
	}
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	r := RunSYNFlood(context.Background(), l, env, opts)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, run := range []*SYNFloodRun{&r.On, &r.Kernel, &r.Off} {
		t.Logf("%s: %d SYNs sent (%.0f/s, %d lost at the attacker); legitimate %d of %d, median %s, p99 %s; table peak %.0f; kernel drops on wan %.0f; server: %d half-open at the end, %d SYNs dropped",
			run.Name(), run.Sent, float64(run.Sent)/run.Elapsed.Seconds(), run.Lost, run.Completed, run.Attempts, run.Latency(0.5), run.Latency(0.99), run.Peak,
			run.Metric("rampart_datapath_wan_kernel_drops_total"), run.ServerHalfOpen, run.ServerDrops)
		if run.Sent < 10000 {
			t.Fatalf("%s: %d SYNs: not a flood", run.Name(), run.Sent)
		}
	}
	for _, run := range []*SYNFloodRun{&r.On, &r.Off} {
		t.Logf("%s: gateway resident memory %v bytes, once a second; grew by %d", run.Name(), run.RSS, run.RSSGrowth())
	}
	if err := r.WriteSVGFile(filepath.Join(env.Dir, "synflood.svg")); err != nil {
		t.Error(err)
	}
	for _, name := range []string{"synack", "cookie_ok", "spliced", "server_retry"} {
		t.Logf("synproxy %s %.0f", name, r.On.Metric(`rampart_gateway_synproxy_events_total{event="`+name+`"}`))
	}
	for _, line := range r.LabResults("synflood") {
		if !line.OK {
			t.Errorf("%s: %s → %s", line.Tried, line.Defence, line.Outcome)
		}
	}
	if r.On.Completed == 0 {
		t.Fatal("no legitimate connection completed through the proxy")
	}
}
