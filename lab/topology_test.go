package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStandardTopologyIsValid(t *testing.T) {
	topo := Standard()
	for _, h := range []string{"client1", "client2", "dns", "fw", "gw", "web", "root", "tld", "auth", "attacker"} {
		if topo.Host(h) == nil {
			t.Errorf("standard topology lacks host %s", h)
		}
	}
	if !topo.Host("gw").Forward {
		t.Error("gw does not forward")
	}
	for _, h := range topo.Hosts {
		if h.Name == "fw" {
			if !h.Bridge || topo.Addr("fw", 4).IsValid() {
				t.Error("fw must be an address-less bridge")
			}
			continue
		}
		if h.Name != "gw" && (!topo.Addr(h.Name, 4).IsValid() || !topo.Addr(h.Name, 6).IsValid()) {
			t.Errorf("host %s lacks an IPv4 or IPv6 address", h.Name)
		}
	}
	table := topo.Table("rp0000")
	if !strings.Contains(table, "rp0000-client1") || !strings.Contains(table, "203.0.113.80/24") || !strings.Contains(table, "2001:db8:100::1/64") {
		t.Errorf("table misses hosts or addresses:\n%s", table)
	}
	// The demo prints the table indented by two, within its 100 columns.
	for _, l := range strings.Split(table, "\n") {
		if n := utf8.RuneCountInString(l); n > ReportWidth-2 || strings.HasSuffix(l, " ") {
			t.Errorf("table line of %d columns, or with trailing spaces: %q", n, l)
		}
	}
}

func TestBadTopologies(t *testing.T) {
	want := map[string]string{
		"unknown-network.yaml": `unknown-network.yaml:7:9: interface a.eth0: unknown network "insde"`,
		"route-out.yaml":       `route-out.yaml:9:28: route of host "a" goes via 10.1.0.254, which no lab host has`,
		"addr-outside.yaml":    `addr-outside.yaml:9:21: address 192.168.1.2/24 of a.eth0 is outside network "inside"`,
		"dup-addr.yaml":        `dup-addr.yaml:10:46: address 10.1.0.2 of b.eth0 is already assigned to a.eth0`,
		"unknown-key.yaml":     `unknown-key.yaml:6:5: unknown key "interface" in hosts[0]`,
		"bad-prefix.yaml":      `bad-prefix.yaml:7:46: hosts[0].interfaces[0].addresses[0]: invalid prefix "10.1.0.300/24"`,
		"long-name.yaml":       `long-name.yaml:5:5: host name "averyveryverylonghostname"`,
		"mixed-route.yaml":     `mixed-route.yaml:12:9: route fd00::/8 via 10.1.0.2 mixes IPv4 and IPv6`,
		"host-bits.yaml":       `host-bits.yaml:3:16: network prefix 10.1.0.1/24 has host bits set`,
		"bridge-addr.yaml":     `bridge-addr.yaml:10:9: interface fw.lan: a bridge's interfaces carry no addresses`,
	}
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(want) {
		t.Fatalf("%d files in testdata/bad, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		base := filepath.Base(f)
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseTopology(base, data)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), want[base]) {
				t.Errorf("error\n  %s\nwant prefix\n  %s", err, want[base])
			}
		})
	}
}

// TestTopologyReportsEveryProblem: a file with several mistakes gets them
// all at once, in file order, each with its position, so that fixing a
// topology takes one run, not one run per mistake.
func TestTopologyReportsEveryProblem(t *testing.T) {
	data, err := os.ReadFile("testdata/many/many-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseTopology("many-errors.yaml", data)
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`many-errors.yaml:3:16: network prefix 10.1.0.1/24 has host bits set (did you mean 10.1.0.0/24?)`,
		`many-errors.yaml:4:5: network "inside" defined twice (first at line 2)`,
		`many-errors.yaml:9:9: interface a.eth0: unknown network "insde"`,
		`many-errors.yaml:10:51: address 192.168.1.2/24 of a.eth1 is outside network "inside" (10.1.0.1/24)`,
		`many-errors.yaml:12:28: route of host "a" goes via 10.1.0.254, which no lab host has: lab routes may only use lab addresses`,
		`many-errors.yaml:13:5: host "fw": a bridge needs at least two interfaces`,
		`many-errors.yaml:16:9: interface fw.lan: a bridge's interfaces carry no addresses`,
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("errors\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
