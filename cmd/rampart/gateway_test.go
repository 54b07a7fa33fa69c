package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/ids/defrag"
)

func TestGatewayFragmentsConfig(t *testing.T) {
	var c struct {
		Gateway gatewayConfig `yaml:"gateway"`
	}
	text := "gateway:\n  fragments:\n    timeout: 20s\n    max_memory: 32MiB\n    max_per_source: 1MiB\n    max_datagrams_per_source: 64\n    max_fragments: 100\n    overlaps: bsd\n"
	if err := config.Decode("rampart.yaml", []byte(text), &c); err != nil {
		t.Fatal(err)
	}
	d, err := c.Gateway.Fragments.defrag()
	if err != nil {
		t.Fatal(err)
	}
	if d.Timeout != 20*time.Second || d.MaxMemory != 32<<20 || d.MaxPerSource != 1<<20 || d.MaxDatagramsPerSource != 64 || d.MaxFragments != 100 || d.Policies.Default() != defrag.BSD {
		t.Errorf("decoded %+v", d)
	}
	// Nothing set: the defragmenter's defaults, drop on overlap.
	if d, err := (fragmentsConfig{}).defrag(); err != nil || d.Policies != nil || d.Timeout != 0 {
		t.Errorf("empty section: %+v, %v", d, err)
	}
	for _, bad := range []struct {
		c    fragmentsConfig
		want string
	}{
		{fragmentsConfig{Timeout: "soon"}, "gateway.fragments.timeout"},
		{fragmentsConfig{MaxMemory: "lots"}, "gateway.fragments.max_memory"},
		{fragmentsConfig{MaxPerSource: "-1"}, "gateway.fragments.max_per_source"},
		{fragmentsConfig{Overlaps: "vista"}, "gateway.fragments.overlaps"},
		{fragmentsConfig{MaxFragments: -1}, "max_fragments"},
	} {
		if _, err := bad.c.defrag(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want an error naming %s", bad.c, err, bad.want)
		}
	}
}
