package proxy

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"

	"github.com/rampart-fw/rampart/srcpos"
)

// ParseHosts reads a hosts file (an address, then its names; '#' starts
// a comment): the names the proxy resolves without DNS, as Squid's
// hosts_file. Names are lower case; every bad line is reported at its
// place.
func ParseHosts(name string, data []byte) (map[string][]netip.Addr, error) {
	out := map[string][]netip.Addr{}
	var errs srcpos.List
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		col := strings.Index(text, fields[0]) + 1
		ip, err := netip.ParseAddr(fields[0])
		if err != nil {
			if !errs.Add(srcpos.Pos{File: name, Line: line, Column: col}.Errorf("%q is not an IP address", fields[0])) {
				break
			}
			continue
		}
		if len(fields) == 1 {
			errs.Add(srcpos.Pos{File: name, Line: line, Column: col + len(fields[0])}.Errorf("no name after the address"))
			continue
		}
		for _, n := range fields[1:] {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			out[n] = append(out[n], ip.Unmap())
		}
	}
	if err := sc.Err(); err != nil {
		errs.Add(srcpos.Pos{File: name}.Errorf("%v", err))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}
