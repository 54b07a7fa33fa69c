package policy

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Format writes the policy as "ufw status verbose" would show it, with the
// rows numbered as "ufw status numbered" numbers them: the IPv4 rows first,
// then the IPv6 ones marked "(v6)", a rule that covers both families giving
// one row of each. The numbers are display numbers, as in ufw; Rule.Line
// ties a row back to the file.
func (p *Policy) Format(w io.Writer) error {
	var b strings.Builder
	b.WriteString("Status: active\n")
	if p.Logging == LoggingOff {
		b.WriteString("Logging: off\n")
	} else {
		fmt.Fprintf(&b, "Logging: on (%s)\n", p.Logging)
	}
	fmt.Fprintf(&b, "Default: %s (incoming), %s (outgoing), %s (routed)\n",
		p.Defaults[In], p.Defaults[Out], p.Defaults[Routed])
	echo := "allow"
	if p.ICMPEcho == Deny {
		echo = "no"
	}
	fmt.Fprintf(&b, "Implicit: pass established,related; drop invalid; allow ICMP errors and neighbour discovery; %s echo-request (after the rules)\n", echo)
	if len(p.Rules) > 0 {
		b.WriteString("\n")
		fmt.Fprintf(&b, "     %-26s %-12s%s\n", "To", "Action", "From")
		fmt.Fprintf(&b, "     %-26s %-12s%s\n", "--", "------", "----")
		n := 0
		for _, fam := range []Family{FamilyIPv4, FamilyIPv6} {
			for i := range p.Rules {
				r := &p.Rules[i]
				if r.Family&fam == 0 {
					continue
				}
				n++
				writeRow(&b, n, r, fam == FamilyIPv6)
			}
		}
	}
	if len(p.Sets) > 0 {
		b.WriteString("\nSets:\n")
		for _, s := range p.Sets {
			fmt.Fprintf(&b, "  $%s = { ", s.Name)
			if s.Kind == AddrSet {
				for i, a := range s.Addrs {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString(prefixString(a))
				}
			} else {
				for i, r := range s.Ports {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString(r.String())
				}
			}
			b.WriteString(" }\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRow(b *strings.Builder, n int, r *Rule, v6 bool) {
	noPorts := !r.HasPorts()
	to := location(&r.To, r, v6, noPorts)
	from := location(&r.From, r, v6, noPorts)
	if r.ICMPType != AnyICMP {
		to += " type " + ICMPTypeName(r.Proto, uint8(r.ICMPType))
		if r.ICMPCode != AnyICMP {
			to += fmt.Sprintf(" code %d", r.ICMPCode)
		}
	}
	if !r.Flags.Any() {
		to += " flags " + r.Flags.String()
	}
	switch {
	case r.Route:
		if r.OutIface != "" {
			to += " on " + r.OutIface
		}
		if r.InIface != "" {
			from += " on " + r.InIface
		}
	case r.Dir == Out:
		if r.OutIface != "" {
			from += " on " + r.OutIface
		}
	default:
		if r.InIface != "" {
			to += " on " + r.InIface
		}
	}
	dir := "IN"
	switch {
	case r.Route:
		dir = "FWD"
	case r.Dir == Out:
		dir = "OUT"
	}
	action := strings.ToUpper(r.Action.String()) + " " + dir
	if r.Log != LogNone {
		action += " (" + r.Log.String() + ")"
	}
	if len(action) >= 12 {
		action += " "
	}
	if r.Comment != "" {
		fmt.Fprintf(b, "[%2d] %-26s %-12s%-26s # %s\n", n, to, action, from, r.Comment)
		return
	}
	fmt.Fprintf(b, "[%2d] %-26s %-12s%s\n", n, to, action, from)
}

// location renders one side as ufw does: the address (or Anywhere), the
// ports with the protocol, and "(v6)".
func location(e *Endpoint, r *Rule, v6, noPorts bool) string {
	var s string
	switch {
	case e.AddrSet != "":
		s = "$" + e.AddrSet
	case e.Addrs == nil:
		s = "Anywhere"
	default:
		parts := make([]string, len(e.Addrs))
		for i, a := range e.Addrs {
			parts[i] = prefixString(a)
		}
		s = strings.Join(parts, ",")
	}
	var ports string
	switch {
	case e.PortSet != "":
		ports = "$" + e.PortSet
	case e.Ports != nil:
		parts := make([]string, len(e.Ports))
		for i, pr := range e.Ports {
			parts[i] = pr.String()
		}
		ports = strings.Join(parts, ",")
	}
	if ports != "" {
		if s == "Anywhere" {
			s = ports
		} else {
			s += " " + ports
		}
	}
	if r.Proto != ProtoAny && (ports != "" || noPorts) {
		s += "/" + r.Proto.String()
	}
	// Like ufw, mark the IPv6 row only where the address does not show the
	// family: Anywhere, a bare port, or (our addition) a set.
	if v6 && (e.Addrs == nil || e.AddrSet != "") {
		s += " (v6)"
	}
	return s
}

// prefixString prints host prefixes as bare addresses, as ufw does.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
