package main

import (
	"testing"
	"time"

	"github.com/rampart-fw/rampart/config"
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
		d := c.Gateway.Fragments.check(&errs)
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

func badPolicy(t *testing.T, name string) string {
	_, err := defrag.ParsePolicy(name)
	if err == nil {
		t.Fatalf("defrag.ParsePolicy(%q) accepted it", name)
	}
	return err.Error()
}
