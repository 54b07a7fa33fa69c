package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ids/stream"
	"github.com/rampart-fw/rampart/srcpos"
)

// idsConfig is the ids: section of the configuration file: the
// intrusion detection engine of `rampart inspect --rules` (and of the
// gateway when it runs it in line).
type idsConfig struct {
	Rules []config.Value[string] `yaml:"rules"`
	// Mode: detect (beside the traffic) or prevent (in line).
	Mode config.Value[string] `yaml:"mode"`
	// Vars are the rule variables, Suricata's defaults for those left
	// out.
	Vars map[string]config.Value[string] `yaml:"vars"`
	// Default is the target policies of destinations no host_policies
	// entry names.
	Default      idsPoliciesConfig     `yaml:"default"`
	HostPolicies []idsHostPolicyConfig `yaml:"host_policies"`
	EVE          config.Value[string]  `yaml:"eve"`
	// MinTTL: in prevention mode, the least TTL or hop limit a packet
	// leaves with (0: off).
	MinTTL config.Value[int] `yaml:"min_ttl"`
}

// idsPoliciesConfig is ids.default: the IP reassembly and TCP
// reassembly policies of a destination.
type idsPoliciesConfig struct {
	Defrag config.Value[string] `yaml:"defrag"`
	Stream config.Value[string] `yaml:"stream"`
	// Hops is the number of routers between the engine and the
	// destination.
	Hops config.Value[int] `yaml:"hops"`
}

// idsHostPolicyConfig is one entry of ids.host_policies.
type idsHostPolicyConfig struct {
	Src    config.Source        `yaml:"-"`
	Prefix config.Prefix        `yaml:"prefix"`
	Defrag config.Value[string] `yaml:"defrag"`
	Stream config.Value[string] `yaml:"stream"`
	Hops   config.Value[int]    `yaml:"hops"`
}

// idsSetup is a checked idsConfig with its defaults filled in.
type idsSetup struct {
	rulePaths []string
	// set is the loaded rule set; its Errors are the rules skipped.
	set    *rules.Set
	mode   ids.Mode
	vars   rules.Vars
	defrag *defrag.HostPolicies
	stream *stream.HostPolicies
	hops   *ids.HostHops
	minTTL uint8
	eve    string
}

// check makes every check of the section: the rule files exist and are
// loaded (the rules skipped are in the set, see ruleErrors), the
// variables parse, the policies and prefixes are known, the hops and
// min_ttl are in range, the EVE file's directory exists.
func (c *idsConfig) check() (*idsSetup, error) {
	var errs srcpos.List
	s := &idsSetup{eve: c.EVE.V, vars: rules.Vars{}}
	switch c.Mode.Or("detect") {
	case "detect":
		s.mode = ids.Detect
	case "prevent":
		s.mode = ids.Prevent
	default:
		errs.Add(c.Mode.Errorf("want detect or prevent, not %q", c.Mode.V))
	}
	for _, name := range slices.Sorted(mapKeys(c.Vars)) {
		s.vars[name] = c.Vars[name].V
	}
	for _, name := range slices.Sorted(mapKeys(c.Vars)) {
		v := c.Vars[name]
		if strings.TrimSpace(v.V) == "" {
			errs.Add(v.Errorf("want an address or port specification such as \"[10.0.0.0/8,!10.1.0.0/16]\" or \"[80,8080]\", not an empty string"))
			continue
		}
		if err := checkVar(name, s.vars); err != nil {
			errs.Add(v.Errorf("%v", err))
		}
	}
	defDefrag, defStream := defrag.BSD, stream.BSD
	if p, ok := targetPolicy(&errs, c.Default.Defrag, defrag.ParsePolicy); ok {
		defDefrag = p
	}
	if p, ok := targetPolicy(&errs, c.Default.Stream, stream.ParsePolicy); ok {
		defStream = p
	}
	defHops := ttlValue(&errs, c.Default.Hops, maxHops, "a number of routers")
	s.minTTL = ttlValue(&errs, c.MinTTL, 255, "a TTL")
	s.defrag, s.stream, s.hops = defrag.NewHostPolicies(defDefrag), stream.NewHostPolicies(defStream), ids.NewHostHops(defHops)
	seen := map[netip.Prefix]srcpos.Pos{}
	for _, h := range c.HostPolicies {
		if !h.Prefix.IsValid() {
			errs.Add(h.Src.Errorf("a host policy needs a prefix, such as 10.10.7.10/32"))
			continue
		}
		pfx := h.Prefix.Masked()
		if at, dup := seen[pfx]; dup {
			errs.Add(h.Prefix.Pos.Errorf("%s.prefix: %s already has a policy (%s)", h.Src.Key, pfx, at))
			continue
		}
		seen[pfx] = h.Prefix.Pos
		if !h.Defrag.IsSet() && !h.Stream.IsSet() && !h.Hops.IsSet() {
			errs.Add(h.Src.Errorf("a host policy needs defrag, stream or hops"))
			continue
		}
		d, s2 := defDefrag, defStream
		if p, ok := targetPolicy(&errs, h.Defrag, defrag.ParsePolicy); ok {
			d = p
		}
		if p, ok := targetPolicy(&errs, h.Stream, stream.ParsePolicy); ok {
			s2 = p
		}
		s.defrag.Set(pfx, d)
		s.stream.Set(pfx, s2)
		hops := defHops
		if h.Hops.IsSet() {
			hops = ttlValue(&errs, h.Hops, maxHops, "a number of routers")
		}
		s.hops.Set(pfx, hops)
	}
	for _, r := range c.Rules {
		if r.V == "" {
			errs.Add(r.Errorf("want the path of a rule file, not an empty string"))
			continue
		}
		if checkFile(&errs, r) {
			s.rulePaths = append(s.rulePaths, r.V)
		}
	}
	if c.EVE.IsSet() {
		if c.EVE.V == "" {
			errs.Add(c.EVE.Errorf("want the path of a file, not an empty string"))
		} else if fi, err := os.Stat(filepath.Dir(c.EVE.V)); err != nil || !fi.IsDir() {
			errs.Add(c.EVE.Errorf("directory %s does not exist", filepath.Dir(c.EVE.V)))
		}
	}
	if len(errs) > 0 {
		return s, errs.Err()
	}
	if len(s.rulePaths) > 0 {
		// The rules skipped are not the section's problems: inspect
		// names them and goes on with the rest; config check reports
		// them (ruleErrors).
		s.set = rules.LoadFiles(s.rulePaths, s.vars)
	}
	return s, nil
}

// ruleErrors adds to errs a problem for every rule the files hold that
// was not loaded.
func (s *idsSetup) ruleErrors(errs *srcpos.List) {
	if s.set == nil {
		return
	}
	for _, e := range s.set.Errors {
		errs.Add(e)
	}
}

var varErrorPrefix = regexp.MustCompile(`^\d+:\d+: source address: `)

// checkVar checks variable name as rules use it: as an address list or
// as a port list.
func checkVar(name string, vars rules.Vars) error {
	_, aerr := rules.ParseRule(fmt.Sprintf("alert ip $%s any -> any any (sid:1;)", name), vars)
	if aerr == nil {
		return nil
	}
	if _, perr := rules.ParseRule(fmt.Sprintf("alert tcp any $%s -> any any (sid:1;)", name), vars); perr == nil {
		return nil
	}
	// The error is about the rule made up above: its position and the
	// field are not the user's.
	msg := varErrorPrefix.ReplaceAllString(aerr.Error(), "")
	return fmt.Errorf("neither addresses nor ports: %s", msg)
}

// targetPolicy parses the target policy v names, when it is set, with
// defrag.ParsePolicy or stream.ParsePolicy.
func targetPolicy[P any](errs *srcpos.List, v config.Value[string], parse func(string) (P, error)) (P, bool) {
	var zero P
	if !v.IsSet() {
		return zero, false
	}
	p, err := parse(v.V)
	if err != nil {
		errs.Add(v.Errorf("%v", err))
		return zero, false
	}
	return p, true
}

// maxHops bounds ids hops: a packet with the largest TTL, 255, crosses
// at most 254 routers and still arrives.
const maxHops = 254

// ttlValue checks a count of routers or a TTL, 0 to most, and returns it
// (0 when unset or wrong).
func ttlValue(errs *srcpos.List, v config.Value[int], most int, what string) uint8 {
	if v.V < 0 || v.V > most {
		errs.Add(v.Errorf("want %s from 0 to %d, not %d", what, most, v.V))
		return 0
	}
	return uint8(v.V)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// engineConfig returns the engine's configuration for the checked
// section, its rules compiled.
func (s *idsSetup) engineConfig() (ids.Config, error) {
	cfg := ids.Config{Mode: s.mode, Defrag: defrag.Config{Policies: s.defrag}, Stream: stream.Config{Policies: s.stream}, Hops: s.hops, MinTTL: s.minTTL}
	if s.set != nil {
		eng, err := detect.Compile(s.set, detect.Config{})
		if err != nil {
			return cfg, err
		}
		cfg.Rules = eng
	}
	return cfg, nil
}
