package cache

import (
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

func TestConfigDefaults(t *testing.T) {
	s, err := Config{}.settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.maxBytes != DefaultMaxBytes || s.shards != 256 || s.minTTL != 0 || s.maxTTL != 86400 ||
		s.maxNegTTL != 3600 || s.staleTTL != 30 || s.staleMaxAge != int64(24*time.Hour) ||
		s.ednsUDPSize != 1232 || s.serveStale || s.clock != (clock.System{}) {
		t.Errorf("defaults = %+v", s)
	}
}

func TestConfigShards(t *testing.T) {
	tests := []struct {
		maxBytes int64
		want     int
	}{
		{64 << 20, 256},
		{1 << 30, 256},
		{8 << 20, 32},
		{1 << 20, 4},
		{256 << 10, 1},
		{64 << 10, 1},
	}
	for _, tt := range tests {
		s, err := Config{MaxBytes: tt.maxBytes}.settings()
		if err != nil {
			t.Fatalf("MaxBytes %d: %v", tt.maxBytes, err)
		}
		if s.shards != tt.want {
			t.Errorf("MaxBytes %d: %d shards, want %d", tt.maxBytes, s.shards, tt.want)
		}
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative bytes", Config{MaxBytes: -1}, "MaxBytes -1 is negative"},
		{"shards not power of two", Config{Shards: 3}, "Shards 3"},
		{"too many shards", Config{Shards: 8192}, "Shards 8192"},
		{"shards too small", Config{MaxBytes: 64 << 10, Shards: 64}, "less than 4096 bytes per shard"},
		{"negative min", Config{MinTTL: -time.Second}, "MinTTL -1s is negative"},
		{"fractional", Config{MaxTTL: 1500 * time.Millisecond}, "whole number of seconds"},
		{"min above max", Config{MinTTL: time.Hour, MaxTTL: time.Minute}, "MinTTL 3600s exceeds MaxTTL 60s"},
		{"neg min above max", Config{MinNegativeTTL: 2 * time.Hour}, "MinNegativeTTL 7200s exceeds MaxNegativeTTL 3600s"},
		{"beyond RFC 2181", Config{MaxTTL: 1 << 31 * time.Second}, "RFC 2181"},
		{"negative stale age", Config{StaleMaxAge: -1}, "StaleMaxAge"},
		{"small edns", Config{EDNSUDPSize: 100}, "EDNSUDPSize 100"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}
