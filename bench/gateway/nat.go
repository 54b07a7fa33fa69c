package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/scenario"
)

// The NAT comparison (-nat): the same source NAT of the inside prefix to
// gw's wan address, by rampart in router mode on gw and by the kernel's
// nftables masquerade on gw, with no rule set beside it on either side
// (rampart's policy lets outgoing connections out and nothing in, which
// is what conntrack and NAT give the kernel too).

// natInside is the prefix both translate.
var natInside = netip.MustParsePrefix("10.10.0.0/24")

// natPolicy is rampart's policy for the NAT runs.
const natPolicy = "default deny incoming\ndefault allow outgoing\n"

// natConfig is rampart's gateway section for the NAT runs. The benchmark
// has one inside host open tens of thousands of connections in seconds,
// which the default per-host quota (a sixteenth of the table) is there to
// refuse; the kernel's masquerade has no such quota, so here one host may
// have them all.
const natConfig = scenario.RouterConfig + "  nat:\n    masquerade: [10.10.0.0/24]\n    max_mappings_per_host: 65536\n"

// startRampartNAT takes gw's addresses away from its kernel and runs
// rampart's gateway there in router mode with NAT. It returns once a
// connection from the sender crosses.
func startRampartNAT(ctx context.Context, l *lab.Lab, bin, dir, polPath string) (*lab.Proc, error) {
	gw := l.Host("gw")
	if err := scenario.TakeFromKernel(ctx, gw); err != nil {
		_ = scenario.GiveBackToKernel(ctx, l, "gw")
		return nil, err
	}
	conf := filepath.Join(dir, "rampart-nat.yaml")
	if err := os.WriteFile(conf, []byte("gateway:\n"+natConfig), 0o600); err != nil {
		return nil, err
	}
	p, err := gw.Start("gateway", bin, "--log-format", "json", "--config", conf, "gateway", "--lan", "lan", "--wan", "wan",
		"--policy", polPath, "--workers", strconv.Itoa(*workers), "--metrics", scenario.MetricsAddr,
		"--control", filepath.Join(dir, "gateway.sock"))
	if err != nil {
		_ = scenario.GiveBackToKernel(ctx, l, "gw")
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.Done():
			_ = scenario.GiveBackToKernel(ctx, l, "gw")
			return nil, fmt.Errorf("gateway exited: %v: %s", p.Err(), p.Output())
		default:
		}
		if scenario.Connect(ctx, l.Host(senderHost), netip.AddrPortFrom(receiverAddr, tcpPortLo), 300*time.Millisecond) == "connected" {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			_ = scenario.GiveBackToKernel(ctx, l, "gw")
			return nil, fmt.Errorf("no traffic crosses the gateway after 10 s; log: %s", p.Output())
		}
	}
}
