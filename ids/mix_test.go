package ids

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/mpm"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ipproto"
)

// The small capture of bench/ids's traffic kept in testdata: the same
// generator (traffic.Mix) at 400 kB.
const (
	mixCapture = "testdata/mix.pcap"
	mixSize    = 400_000
	mixRules   = 10000
)

var mixT0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// mixFrames generates the capture's frames.
func mixFrames(t *testing.T) []traffic.Frame {
	var frames []traffic.Frame
	if _, err := traffic.Mix(mixSize, 1, mixT0, func(f traffic.Frame) error {
		frames = append(frames, f)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return frames
}

// TestMixCapture keeps testdata/mix.pcap equal to what traffic.Mix
// generates; -update rewrites it.
func TestMixCapture(t *testing.T) {
	checkCapture(t, mixCapture, mixFrames(t), "TestMixCapture")
}

// sidCounter is an Output that counts the alerts per sid.
type sidCounter struct {
	mu     sync.Mutex
	alerts map[uint32]int // guarded by mu
}

func (c *sidCounter) Alert(a Alert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alerts[a.Rule.SID]++
}

func (c *sidCounter) Event(Event) {}

// mixMessages returns the payloads of the capture's messages: each TCP
// connection's bytes in each direction (Mix sends them in order, without
// overlap or loss, so concatenating its segments reassembles them) and
// each UDP datagram's payload.
func mixMessages(frames []traffic.Frame) (tcp, udp [][]byte) {
	streams := map[string]int{}
	for _, f := range frames {
		ip := f.Data[14:]
		l4 := ip[20:]
		switch ipproto.Proto(ip[9]) {
		case ipproto.TCP:
			data := l4[int(l4[12]>>4)*4:]
			if len(data) == 0 {
				continue
			}
			k := string(ip[12:20]) + string(l4[:4])
			i, ok := streams[k]
			if !ok {
				i = len(tcp)
				streams[k] = i
				tcp = append(tcp, nil)
			}
			tcp[i] = append(tcp[i], data...)
		case ipproto.UDP:
			udp = append(udp, l4[8:binary.BigEndian.Uint16(l4[4:])])
		}
	}
	return tcp, udp
}

// TestMixAlerts runs the engine over testdata/mix.pcap with bench/ids's
// 10,000 content rules and checks every rule's alerts against a naive
// reference: one alert for each message of the rule's protocol that
// holds its literal (with nocase, in any case), as each message is a
// flow's direction or a datagram of its own. Snort 3.11.1.0 raises the
// same 17 alerts on this capture with the same literals (bench/ids -size
// 400kB -rules 10000).
func TestMixAlerts(t *testing.T) {
	suricata, _ := traffic.ContentRules(mixRules)
	set := rules.Parse("bench.rules", []byte(suricata), nil)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	eng, err := detect.Compile(set, detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := &sidCounter{alerts: map[uint32]int{}}
	e, err := New(Config{Rules: eng, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	src, err := datapath.OpenCapture(mixCapture)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := e.Run(t.Context(), src, nil); err != nil {
		t.Fatal(err)
	}

	tcp, udp := mixMessages(mixFrames(t))
	lower := func(ms [][]byte) [][]byte {
		out := make([][]byte, len(ms))
		for i, m := range ms {
			out[i] = mpm.LowerASCII(m)
		}
		return out
	}
	tcpLower, udpLower := lower(tcp), lower(udp)
	want := map[uint32]int{}
	for i, p := range traffic.Patterns(mixRules, mixRules) {
		ms, lit := tcp, p.Bytes
		if i%5 == 4 { // ContentRules puts every fifth rule on UDP
			ms = udp
		}
		if p.Nocase {
			ms, lit = tcpLower, mpm.LowerASCII(p.Bytes)
			if i%5 == 4 {
				ms = udpLower
			}
		}
		for _, m := range ms {
			if bytes.Contains(m, lit) {
				want[uint32(i+1)]++
			}
		}
	}
	if len(want) < 10 {
		t.Fatalf("the reference finds %d rules' literals in the capture: too few to compare", len(want))
	}
	for sid, n := range want {
		if out.alerts[sid] != n {
			t.Errorf("sid %d: %d alerts, want %d", sid, out.alerts[sid], n)
		}
	}
	for sid, n := range out.alerts {
		if _, ok := want[sid]; !ok {
			t.Errorf("sid %d: %d alerts, want none", sid, n)
		}
	}
}
