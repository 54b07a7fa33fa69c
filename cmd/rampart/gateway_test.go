package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/gateway"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/srcpos"
)

func TestGatewayFragmentsConfig(t *testing.T) {
	decode := func(t *testing.T, text string) (defrag.Config, error) {
		t.Helper()
		var c struct {
			Gateway gatewayConfig `yaml:"gateway"`
		}
		if err := config.Decode("rampart.yaml", []byte(text), &c); err != nil {
			return defrag.Config{}, err
		}
		var errs srcpos.List
		d, _ := c.Gateway.Fragments.check(&errs)
		return d, errs.Err()
	}
	d, err := decode(t, "gateway:\n  fragments:\n    timeout: 20s\n    max_memory: 32MiB\n    max_per_source: 1MiB\n    max_datagrams_per_source: 64\n    max_fragments: 100\n    overlaps: bsd\n")
	if err != nil {
		t.Fatal(err)
	}
	if d.Timeout != 20*time.Second || d.MaxMemory != 32<<20 || d.MaxPerSource != 1<<20 || d.MaxDatagramsPerSource != 64 || d.MaxFragments != 100 || d.Policies.Default() != defrag.BSD {
		t.Errorf("decoded %+v", d)
	}
	// Nothing set: the defragmenter's defaults, drop on overlap.
	if d, err := decode(t, "gateway:\n  fragments:\n"); err != nil || d.Policies != nil || d.Timeout != 0 || d.MaxMemory != 0 {
		t.Errorf("empty section: %+v, %v", d, err)
	}
	for _, bad := range []struct {
		text, want string
	}{
		{"gateway:\n  fragments:\n    timeout: soon\n", `rampart.yaml:3:14: gateway.fragments.timeout: invalid duration "soon": want a positive duration such as 30s, 5m or 2h`},
		{"gateway:\n  fragments:\n    timeout: -5s\n", `rampart.yaml:3:14: gateway.fragments.timeout: invalid duration "-5s": want a positive duration such as 30s, 5m or 2h`},
		{"gateway:\n  fragments:\n    max_memory: lots\n", `rampart.yaml:3:17: gateway.fragments.max_memory: invalid size "lots": want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)`},
		{"gateway:\n  fragments:\n    max_per_source: [1]\n", `rampart.yaml:3:21: gateway.fragments.max_per_source: expected a size such as 64MiB, found a list`},
		{"gateway:\n  fragments:\n    max_memory: 1MiB\n    max_per_source: 2MiB\n", `rampart.yaml:4:21: gateway.fragments.max_per_source: 2097152 bytes per source is more than max_memory (1048576 bytes)`},
		{"gateway:\n  fragments:\n    overlaps: vista\n", `rampart.yaml:3:15: gateway.fragments.overlaps: ` + badPolicy(t, "vista")},
		{"gateway:\n  fragments:\n    max_fragments: -1\n", `rampart.yaml:3:20: gateway.fragments.max_fragments: want 1 to 1048576, not -1`},
	} {
		_, err := decode(t, bad.text)
		if err == nil || err.Error() != bad.want {
			t.Errorf("%q:\n got %v\nwant %s", bad.text, err, bad.want)
		}
	}
}

// TestGatewayFragmentsForward: gateway.fragments.forward chooses what
// leaves for a fragmented datagram that passes; original when left out.
func TestGatewayFragmentsForward(t *testing.T) {
	for _, c := range []struct {
		text string
		want gateway.FragmentForward
		err  string
	}{
		{"gateway:\n  fragments:\n    timeout: 5s\n", gateway.ForwardOriginal, ""},
		{"gateway:\n  fragments:\n    forward: original\n", gateway.ForwardOriginal, ""},
		{"gateway:\n  fragments:\n    forward: reassembled\n", gateway.ForwardReassembled, ""},
		{"gateway:\n  fragments:\n    forward: Reassembled\n", 0, `rampart.yaml:3:14: gateway.fragments.forward: want original or reassembled, not "Reassembled"`},
		{"gateway:\n  fragments:\n    forward: [reassembled]\n", 0, `rampart.yaml:3:14: gateway.fragments.forward: expected a string, found a list`},
	} {
		var cfg struct {
			Gateway gatewayConfig `yaml:"gateway"`
		}
		err := config.Decode("rampart.yaml", []byte(c.text), &cfg)
		var got gateway.FragmentForward
		if err == nil {
			var errs srcpos.List
			_, got = cfg.Gateway.Fragments.check(&errs)
			err = errs.Err()
		}
		switch {
		case c.err != "" && (err == nil || err.Error() != c.err):
			t.Errorf("%q:\n got %v\nwant %s", c.text, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q: got %v, %v; want %v", c.text, got, err, c.want)
		}
	}
}

func badPolicy(t *testing.T, name string) string {
	_, err := defrag.ParsePolicy(name)
	if err == nil {
		t.Fatalf("defrag.ParsePolicy(%q) accepted it", name)
	}
	return err.Error()
}

// TestGatewayRoutingConfig: the router-mode keys become the router's
// configuration (default routes by the family of the next hop), and
// router mode set by the flag without addresses names the flag.
func TestGatewayRoutingConfig(t *testing.T) {
	var c struct {
		Gateway gatewayConfig `yaml:"gateway"`
	}
	text := `gateway:
  mode: router
  addresses:
    lan: [10.10.0.1/24, "fd00:10::1/64"]
    wan: [203.0.113.1/24, "2001:db8:113::1/64"]
  routes:
    - {to: default, via: 203.0.113.254}
    - {to: default, via: "2001:db8:113::fe"}
    - {to: 198.51.100.0/24, via: 10.10.0.254}
`
	if err := config.Decode("rampart.yaml", []byte(text), &c); err != nil {
		t.Fatal(err)
	}
	var errs srcpos.List
	rc := c.Gateway.routing(&errs)
	if err := errs.Err(); err != nil || rc == nil {
		t.Fatalf("%v", err)
	}
	got := fmt.Sprint(rc.LAN.Addrs, rc.WAN.Addrs, rc.Routes)
	want := "[10.10.0.1/24 fd00:10::1/64] [203.0.113.1/24 2001:db8:113::1/64] [{0.0.0.0/0 203.0.113.254} {::/0 2001:db8:113::fe} {198.51.100.0/24 10.10.0.254}]"
	if got != want {
		t.Errorf("router configuration %s, want %s", got, want)
	}
	var bare gatewayConfig
	bare.Mode = config.FromFlag("router", "--mode")
	errs = nil
	bare.routing(&errs)
	if got := errs.Err(); got == nil || got.Error() != "--mode: router mode needs addresses on lan (addresses.lan)\n--mode: router mode needs addresses on wan (addresses.wan)" {
		t.Errorf("router mode by flag without addresses: %v", got)
	}
}
