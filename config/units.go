package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rampart-fw/rampart/srcpos"
)

// Duration is a time span written as Go writes one: "30s", "5m", "2h4m",
// "1.5s". Zero and negative spans are refused; a key that may be zero
// leaves it unset instead.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) parse(n *yaml.Node, _ srcpos.Pos) string {
	v, msg := parseUnit(n, "a duration such as 30s or 5m", ParseDuration)
	*d = Duration(v)
	return msg
}

// parseUnit parses a scalar with parse, whose error says what is wrong.
func parseUnit[T any](n *yaml.Node, expected string, parse func(string) (T, error)) (T, string) {
	var zero T
	if n.Kind != yaml.ScalarNode {
		return zero, "expected " + expected + ", found " + kindName(n)
	}
	v, err := parse(n.Value)
	if err != nil {
		return zero, err.Error()
	}
	return v, ""
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return unmarshalNet(n, d) }

// ParseDuration reads a duration as the configuration file and the flags
// write it.
func ParseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid duration %q: want a positive duration such as 30s, 5m or 2h", s)
	}
	return v, nil
}

// Size is a number of bytes, written with an optional unit: "64MiB",
// "512KiB", "1GiB", "4MB" or "4096".
type Size int64

// Bytes returns s as a byte count.
func (s Size) Bytes() int64 { return int64(s) }

func (s *Size) parse(n *yaml.Node, _ srcpos.Pos) string {
	v, msg := parseUnit(n, "a size such as 64MiB", ParseSize)
	*s = Size(v)
	return msg
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error { return unmarshalNet(n, s) }

// ParseSize reads sizes such as 64MiB, 512KiB, 1GiB or a number of bytes,
// up to 1 TiB.
func ParseSize(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)", orig)
	}
	return n * mult, nil
}

// Rate is a number of events per second, written with its period as ufw
// and iptables' limit write one: "100/s", "30/m", "500/h" (also /second,
// /minute, /hour).
type Rate float64

// PerSecond returns r in events per second.
func (r Rate) PerSecond() float64 { return float64(r) }

func (r *Rate) parse(n *yaml.Node, _ srcpos.Pos) string {
	v, msg := parseUnit(n, "a rate such as 100/s or 30/m", ParseRate)
	*r = Rate(v)
	return msg
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error { return unmarshalNet(n, r) }

// ParseRate reads a rate such as 100/s, 30/m or 500/h, above zero and at
// most a billion a second, and returns it per second.
func ParseRate(s string) (float64, error) {
	num, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	secs := map[string]float64{"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}[strings.TrimSpace(per)]
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || secs == 0 || err != nil || !(n > 0) || n/secs > 1e9 {
		return 0, fmt.Errorf("invalid rate %q: want a positive number per s, m or h, such as 100/s or 30/m", s)
	}
	return n / secs, nil
}
