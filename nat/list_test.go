package nat

import (
	"strings"
	"testing"
	"time"
)

// List prints the translated connections as conntrack -L does, the reply
// tuple as replies arrive (to the public endpoint).
func TestList(t *testing.T) {
	r := newRig(t, Config{})
	srv := "198.51.100.80:443"
	r.send(tcp(t, "10.10.0.11:40000", srv, "S", 1, 0, ""), lan)
	r.send(tcp(t, srv, wanAddr+":40000", "SA", 50, 2, ""), wan)
	r.send(tcp(t, "10.10.0.11:40000", srv, "A", 2, 51, "GET /"), lan)
	r.send(tcp(t, srv, wanAddr+":40000", "A", 51, 7, ""), wan)
	r.send(udp(t, "10.10.0.12:5353", "198.51.100.53:53", "query"), lan)
	r.send(echo(t, "10.10.0.13", "198.51.100.80", 8, 77, 1), lan)
	r.clk.Advance(10 * time.Second)
	var b strings.Builder
	n, err := List(&b, r.tbl, r.clk.Now())
	if err != nil || n != 3 {
		t.Fatalf("%d entries, %v", n, err)
	}
	want := `icmp     1 50 src=10.10.0.13 dst=198.51.100.80 type=8 code=0 id=77 packets=1 bytes=4 [UNREPLIED] src=198.51.100.80 dst=203.0.113.1 type=0 code=0 id=77 packets=0 bytes=0 mark=0 use=1
tcp      6 7430 ESTABLISHED src=10.10.0.11 dst=198.51.100.80 sport=40000 dport=443 packets=2 bytes=5 src=198.51.100.80 dst=203.0.113.1 sport=443 dport=40000 packets=2 bytes=0 [ASSURED] mark=0 use=1
udp      17 290 src=10.10.0.12 dst=198.51.100.53 sport=5353 dport=53 packets=1 bytes=5 [UNREPLIED] src=198.51.100.53 dst=203.0.113.1 sport=53 dport=5353 packets=0 bytes=0 mark=0 use=1
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if n, _ := ListMappings(&b, r.tr); n != 3 || !strings.Contains(b.String(), "tcp      10.10.0.11:40000 -> 203.0.113.1:40000 connections=1\n") {
		t.Fatalf("mappings:\n%s", b.String())
	}
}
