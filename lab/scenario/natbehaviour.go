package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/lab"
)

// STUNSecondAddr is the second address the web host gets for the STUN
// server: RFC 5780's behaviour discovery needs a server with two
// addresses, and the standard topology gives web one. It lies in the
// outside network, is assigned by the scenario itself, and is removed
// with the lab.
var STUNSecondAddr = netip.MustParsePrefix("203.0.113.81/24")

// STUNPort is the STUN server's primary port; RFC 5780's alternate port is
// the next one.
const STUNPort = 3478

// STUNServer is coturn on the web host, answering RFC 5780 behaviour
// discovery on two addresses and two ports.
type STUNServer struct {
	Primary netip.AddrPort // web's own address
	Other   netip.AddrPort // the second address, alternate port
	proc    *lab.Proc
	log     string
}

// StartSTUN gives web its second address and runs coturn's turnserver on
// both, with nothing but STUN on (no relay is ever allocated: no
// credentials are configured, and the test sends only Binding requests).
// It returns once the server answers on the primary address.
func StartSTUN(ctx context.Context, l *lab.Lab, dir string) (*STUNServer, error) {
	web := l.Host("web")
	if web == nil {
		return nil, errors.New("the topology has no web host")
	}
	if _, err := exec.LookPath("turnserver"); err != nil {
		return nil, errors.New("coturn's turnserver is not installed (make deps installs it)")
	}
	primary := l.Addr("web", 4)
	if out, err := web.Run(ctx, "ip", "addr", "replace", STUNSecondAddr.String(), "dev", "eth0"); err != nil {
		return nil, fmt.Errorf("second address on web: %v: %s", err, out)
	}
	s := &STUNServer{
		log:     filepath.Join(dir, "turnserver.log"),
		Primary: netip.AddrPortFrom(primary, STUNPort),
		Other:   netip.AddrPortFrom(STUNSecondAddr.Addr(), STUNPort+1),
	}
	// RFC 5780 is coturn's own default once it has two listening
	// addresses, but Debian's /etc/turnserver.conf turns it off (it adds
	// attributes an amplifier could use): the server reads a file of ours
	// instead, empty, and the flags keep it to plain STUN over UDP with its
	// log in dir.
	conf := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return nil, err
	}
	p, err := web.Start("turnserver", "turnserver", "-c", conf,
		"--listening-ip", primary.String(), "--listening-ip", STUNSecondAddr.Addr().String(),
		"--listening-port", strconv.Itoa(STUNPort), "--alt-listening-port", strconv.Itoa(STUNPort+1),
		"--no-tcp", "--no-tls", "--no-dtls", "--no-cli", "--no-tcp-relay", "--stun-only",
		"--log-file", filepath.Join(dir, "turnserver.log"), "--simple-log", "--no-stdout-log",
		"--pidfile", filepath.Join(dir, "turnserver.pid"), "--userdb", filepath.Join(dir, "turnserver.db"))
	if err != nil {
		return nil, err
	}
	s.proc = p
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-p.Done():
			return nil, fmt.Errorf("turnserver exited: %v: %s", p.Err(), s.Log())
		default:
		}
		// Ready when both addresses have their UDP socket on the primary
		// port.
		out, _ := web.Run(ctx, "ss", "-Hlun", "sport", "=", strconv.Itoa(STUNPort))
		if strings.Contains(string(out), s.Primary.String()) && strings.Contains(string(out), netip.AddrPortFrom(s.Other.Addr(), STUNPort).String()) {
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("turnserver not ready after 5 s: %s", s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server.
func (s *STUNServer) Stop() {
	if s.proc != nil {
		s.proc.Stop()
	}
}

// Log returns what the server logged.
func (s *STUNServer) Log() string {
	b, _ := os.ReadFile(s.log)
	return s.proc.Output() + string(b)
}

// NATBehaviour is what an RFC 5780 discovery client reported.
type NATBehaviour struct {
	Mapping   string // "endpoint independent", "address dependent", "address and port dependent", "endpoint independent (no NAT)", or "inconclusive"
	Filtering string // "endpoint independent", "address dependent", "address and port dependent", or "inconclusive"
	Mapped    netip.AddrPort // the first XOR-MAPPED-ADDRESS the server reported: the client as the outside sees it
	Output    string         // the client's whole output
}

// DiscoverNAT runs pion's stun-nat-behaviour (the binary at client) in
// host against server and returns the behaviour it reports.
func DiscoverNAT(ctx context.Context, l *lab.Lab, host, client string, server netip.AddrPort) (NATBehaviour, error) {
	h := l.Host(host)
	if h == nil {
		return NATBehaviour{}, fmt.Errorf("no host %q", host)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := h.Run(ctx, client, "-server", server.String(), "-timeout", "2", "-verbose", "1")
	b := ParseNATBehaviour(string(out))
	if err != nil && (b.Mapping == "" || b.Filtering == "") {
		return b, fmt.Errorf("stun-nat-behaviour: %v: %s", err, out)
	}
	if b.Mapping == "" || b.Filtering == "" {
		return b, fmt.Errorf("stun-nat-behaviour reported no result: %s", out)
	}
	return b, nil
}

// ParseNATBehaviour reads stun-nat-behaviour's "=> NAT mapping behavior:"
// and "=> NAT filtering behavior:" lines (and its "inconclusive" ones,
// which lack the arrow), and the first mapped address it received.
func ParseNATBehaviour(out string) NATBehaviour {
	b := NATBehaviour{Output: out}
	for _, line := range strings.Split(out, "\n") {
		if _, v, ok := strings.Cut(line, "NAT mapping behavior: "); ok {
			b.Mapping = strings.TrimSpace(v)
		}
		if _, v, ok := strings.Cut(line, "NAT filtering behavior: "); ok {
			b.Filtering = strings.TrimSpace(v)
		}
		if _, v, ok := strings.Cut(line, "Received XOR-MAPPED-ADDRESS: "); ok && !b.Mapped.IsValid() {
			b.Mapped, _ = netip.ParseAddrPort(strings.TrimSpace(v))
		}
	}
	return b
}

// KernelMasquerade makes gw's kernel translate the inside prefix to its
// wan address with nftables, the Linux baseline rampart's NAT is compared
// with; the returned function removes the table again.
func KernelMasquerade(ctx context.Context, l *lab.Lab, inside netip.Prefix) (undo func(), err error) {
	gw := l.Host("gw")
	if gw == nil {
		return nil, errors.New("the topology has no gw host")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, errors.New("nft is not installed (make deps installs nftables)")
	}
	const table = "rampart_lab_nat"
	rules := fmt.Sprintf(`table ip %s {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" ip saddr %s masquerade
	}
}
`, table, inside)
	cmd := gw.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nft: %v: %s", err, out)
	}
	return func() { _, _ = gw.Run(context.Background(), "nft", "delete", "table", "ip", table) }, nil
}
