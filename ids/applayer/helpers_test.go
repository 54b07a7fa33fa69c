package applayer

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	tcpKey = flow.Key{Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("10.0.0.2:80"), Proto: ipproto.TCP}
	dnsKey = flow.Key{Src: netip.MustParseAddrPort("10.0.0.1:40001"), Dst: netip.MustParseAddrPort("10.0.0.53:53"), Proto: ipproto.UDP}
)

// recorder renders what a Handler receives as text, one line (or block)
// per transaction and event, for golden comparisons.
type recorder struct {
	out []string
}

func (r *recorder) Transaction(f *Flow, tx *Tx) { r.out = append(r.out, renderTx(tx)) }
func (r *recorder) Event(f *Flow, ev Event)     { r.out = append(r.out, "event "+ev.String()) }
func (r *recorder) String() string              { return strings.Join(r.out, "\n") + "\n" }

// renderTx renders a transaction and its buffers, quoted.
func renderTx(tx *Tx) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tx %s %s seq=%d off=%d", tx.App, dirName(tx.Dir), tx.Seq, tx.Off)
	switch tx.App {
	case buffer.AppHTTP:
		h := tx.HTTP
		fmt.Fprintf(&b, " version=%d status=%d body_len=%d truncated=%v paired=%v", h.Version, h.Status, h.BodyLen, h.Truncated, h.Paired)
	case buffer.AppDNS:
		d := tx.DNS
		fmt.Fprintf(&b, " id=%d response=%v opcode=%d rcode=%d qtype=%d qclass=%d", d.ID, d.Response, d.Opcode, d.Rcode, d.QType, d.QClass)
	case buffer.AppTLS:
		fmt.Fprintf(&b, " version=%#04x tls13=%v", tx.TLS.Version, tx.TLS.SupportsTLS13)
	}
	for id := range buffer.Count {
		if v, ok := tx.Buffers.Get(id); ok {
			fmt.Fprintf(&b, "\n  %s %s", id, strconv.Quote(string(v)))
		}
	}
	return b.String()
}

// section is one direction's bytes in a test input, in input order.
type section struct {
	dir  buffer.Direction
	data []byte
	gap  uint64 // a gap section: bytes lost
	fin  bool   // a close section
}

// readCase reads a test input: sections headed "-- to_server --",
// "-- to_client --", "-- gap to_server N --" or "-- close to_client --";
// a section's lines are joined without their newlines and Go escapes
// (\r, \n, \t, \x00, \\) are decoded, so that every byte is explicit.
func readCase(t testing.TB, path string) []section {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var secs []section
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") {
			f := strings.Fields(line[3 : len(line)-3])
			var s section
			dirWord := f[len(f)-1]
			if len(f) > 1 && f[0] == "gap" {
				dirWord = f[1]
				n, err := strconv.ParseUint(f[2], 10, 64)
				if err != nil {
					t.Fatalf("%s:%d: %v", path, i+1, err)
				}
				s.gap = n
			}
			if f[0] == "close" {
				s.fin = true
			}
			switch dirWord {
			case "to_server":
				s.dir = buffer.ToServer
			case "to_client":
				s.dir = buffer.ToClient
			default:
				t.Fatalf("%s:%d: unknown section %q", path, i+1, line)
			}
			secs = append(secs, s)
			continue
		}
		if len(secs) == 0 || line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		dec, err := unescape(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		secs[len(secs)-1].data = append(secs[len(secs)-1].data, dec...)
	}
	return secs
}

// unescape decodes \r \n \t \\ \xHH in s.
func unescape(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("trailing backslash")
		}
		i++
		switch s[i] {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case '\\':
			out = append(out, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return out, nil
}

// run feeds sections to a new flow, each section's data cut by split
// (nil: whole), and returns what the handler saw.
func run(t testing.TB, p *Parsers, key flow.Key, secs []section, split func(b []byte) [][]byte) string {
	w := p.NewWorker()
	f := p.NewFlow(key)
	r := &recorder{}
	for _, s := range secs {
		switch {
		case s.gap > 0:
			w.Gap(f, s.dir, s.gap, r)
		case s.fin:
			w.Close(f, s.dir, r)
		case key.Proto == ipproto.UDP:
			w.Datagram(f, s.dir, s.data, r)
		case split == nil:
			w.Stream(f, s.dir, s.data, r)
		default:
			for _, c := range split(s.data) {
				w.Stream(f, s.dir, c, r)
			}
		}
	}
	w.Close(f, buffer.ToServer, r)
	w.Close(f, buffer.ToClient, r)
	if used := p.MemoryInUse(); used > p.cfg.Memcap {
		t.Errorf("memory in use %d over the cap %d", used, p.cfg.Memcap)
	}
	p.Release(f)
	if used := p.MemoryInUse(); used != 0 {
		t.Errorf("memory in use after release: %d", used)
	}
	return r.String()
}

func mustNew(t testing.TB, cfg Config) *Parsers {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// golden compares got with testdata file path, or rewrites it.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// cases lists the inputs under dir.
func cases(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in testdata/%s: %v", dir, err)
	}
	return files
}

// cutAt splits b in two at k.
func cutAt(k int) func([]byte) [][]byte {
	return func(b []byte) [][]byte {
		if k <= 0 || k >= len(b) {
			return [][]byte{b}
		}
		return [][]byte{b[:k:k], b[k:]}
	}
}

// bytewise feeds one byte at a time.
func bytewise(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1 : i+1]
	}
	return out
}
