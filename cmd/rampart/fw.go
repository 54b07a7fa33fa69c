package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-fw/rampart/firewall/classify"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
)

func init() { subcommands = append(subcommands, newFwCommand) }

// loadPolicy reads and parses a policy file; its errors are usage errors
// that name file:line:col.
func loadPolicy(path string) (*policy.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("policy: %v", err)
	}
	p, err := policy.Parse(path, data)
	if err != nil {
		return nil, &usageError{err}
	}
	return p, nil
}

func newFwCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fw",
		Short: "Check firewall policies and test what they decide",
		Long: `Work with firewall policy files, in ufw's rule language (see 'rampart fw check
--help'): check a file and print the compiled policy, or ask which verdict a
packet gets and which rule decides it.`,
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a policy file and print it as 'ufw status verbose' does",
		Long: `Validate a policy file and print the compiled policy in the manner of
'ufw status verbose': defaults, logging, the implicit rules, then the numbered
rules. Every error names file:line:col; exit 2 if there is any.

The language (ufw's, with extensions):
  default deny|allow|reject incoming|outgoing|routed
  allow ssh | allow 80,443/tcp | deny 53
  allow in on wan to 203.0.113.10 port 443 proto tcp
  deny from 198.51.100.0/24 to any port 53
  allow proto tcp from any to any port 80,443,8000:8080
  reject ... | limit ssh (deny a source after 6 new connections in 30 s)
  set $web = { 203.0.113.10, 203.0.113.11 }   allow to $web port http
  allow proto tcp from any to any port 25 flags S/SAFR log
  allow proto icmp type echo-request; icmp-echo deny; logging on`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadPolicy(args[0])
			if err != nil {
				return err
			}
			if _, err := classify.CompilePolicy(p, classify.GatewayInterfaces(), classify.Config{}); err != nil {
				return &usageError{fmt.Errorf("%s: %w", args[0], err)}
			}
			return p.Format(cmd.OutOrStdout())
		},
	}
	var from, to, proto, flags, in string
	var sport, dport uint16
	var icmpType int
	test := &cobra.Command{
		Use:   "test FILE --from ADDR --to ADDR [--proto tcp] [--dport N] [--flags S] [--in wan]",
		Short: "Print the verdict a packet gets from a policy and the rule that decides it",
		Long: `Print the verdict that the first packet of a connection gets from a policy,
and the rule (file:line) or default that decides it, as the gateway would.
--in says which interface the packet arrives on: wan (from outside, an
incoming packet; the default) or lan (from inside, outgoing).

Example:
  rampart fw test gateway.rules --from 198.51.100.66 --to 10.10.0.20 --proto tcp --dport 22`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadPolicy(args[0])
			if err != nil {
				return err
			}
			k, err := testKey(from, to, proto, flags, in, sport, dport, icmpType)
			if err != nil {
				return &usageError{err}
			}
			c, err := classify.CompilePolicy(p, classify.GatewayInterfaces(), classify.Config{})
			if err != nil {
				return &usageError{err}
			}
			d := classify.Explain(c, p, &k)
			fmt.Fprintln(cmd.OutOrStdout(), d.String())
			return nil
		},
	}
	f := test.Flags()
	f.StringVar(&from, "from", "", "source address (required)")
	f.StringVar(&to, "to", "", "destination address (required)")
	f.StringVar(&proto, "proto", "tcp", "protocol: tcp, udp, icmp, icmpv6, another protocol's name (sctp, gre, ...) or a number")
	f.Uint16Var(&sport, "sport", 40000, "source port")
	f.Uint16Var(&dport, "dport", 0, "destination port")
	f.StringVar(&flags, "flags", "S", "TCP flags, letters of FSRPAUEW (S: a connection's first segment)")
	f.StringVar(&in, "in", "wan", "interface the packet arrives on: wan (incoming) or lan (outgoing)")
	f.IntVar(&icmpType, "icmp-type", 8, "ICMP type, for --proto icmp or icmpv6")
	_ = test.MarkFlagRequired("from")
	_ = test.MarkFlagRequired("to")
	cmd.AddCommand(check, test)
	return cmd
}

func testKey(from, to, proto, flags, in string, sport, dport uint16, icmpType int) (classify.Key, error) {
	var k classify.Key
	src, err := netip.ParseAddr(from)
	if err != nil {
		return k, fmt.Errorf("--from %q: not an IP address", from)
	}
	dst, err := netip.ParseAddr(to)
	if err != nil {
		return k, fmt.Errorf("--to %q: not an IP address", to)
	}
	if src.Is4() != dst.Is4() {
		return k, errors.New("--from and --to must be of the same address family")
	}
	pr, err := ipproto.Parse(strings.ToLower(proto))
	if err != nil {
		return k, fmt.Errorf("--proto %q: use tcp, udp, icmp, icmpv6, another protocol's name or a number 0-255", proto)
	}
	k.Flow = flow.Key{Src: netip.AddrPortFrom(src, 0), Dst: netip.AddrPortFrom(dst, 0), Proto: pr}
	switch {
	case pr.HasPorts():
		k.Flow.Src, k.Flow.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	case pr == ipproto.ICMP, pr == ipproto.ICMPv6:
		if icmpType < 0 || icmpType > 255 {
			return k, fmt.Errorf("--icmp-type %d: use 0-255", icmpType)
		}
		k.ICMPType = uint8(icmpType)
	}
	if pr == ipproto.TCP {
		for _, c := range strings.ToUpper(flags) {
			i := strings.IndexRune("FSRPAUEW", c)
			if i < 0 {
				return k, fmt.Errorf("--flags %q: use letters of FSRPAUEW", flags)
			}
			k.TCPFlags |= 1 << i
		}
	}
	switch in {
	case "wan":
		k.Dir, k.InIface, k.OutIface = policy.In, classify.IfaceWAN, classify.IfaceLAN
	case "lan":
		k.Dir, k.InIface, k.OutIface = policy.Out, classify.IfaceLAN, classify.IfaceWAN
	default:
		return k, fmt.Errorf("--in %q: use wan or lan", in)
	}
	return k, nil
}
