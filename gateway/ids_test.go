package gateway

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/packet"
)

// alertLog is an ids.Output that keeps the alerts and the engine events
// as text.
type alertLog struct {
	mu     sync.Mutex
	alerts []string
	events []string
}

func (l *alertLog) Alert(a ids.Alert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alerts = append(l.alerts, fmt.Sprintf("%d %v blocked=%v", a.Rule.SID, a.Key, a.Blocked))
}

func (l *alertLog) Event(e ids.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("%s %s %v", e.Layer, e.Name, e.Key))
}

// dataFrame is tcpFrame with data as its payload.
func dataFrame(t *testing.T, s seg, data string) []byte {
	t.Helper()
	s.payload = len(data)
	f := tcpFrame(t, s)
	var p packet.Parsed
	p.Decode(f)
	copy(p.Buf[p.PayloadOff:], data)
	p.FillChecksum()
	return f
}

// TestIDSInline runs the IDS in the gateway's path: in prevention mode a
// drop rule stops the segment that completes its signature and the rest
// of the flow; in detection mode both pass, and both modes alert.
func TestIDSInline(t *testing.T) {
	set := rules.Parse("inline.rules", []byte(`drop tcp any any -> any 80 (msg:"evil command"; content:"EVILCMD"; sid:1; rev:1;)
alert tcp any any -> any 80 (msg:"a note"; content:"NOTE"; sid:2; rev:1;)
`), nil)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	rs, err := detect.Compile(set, detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode      ids.Mode
		forwarded int
		alerts    []string
	}{
		// Beside the traffic, the three segments are one chunk once
		// acknowledged: one inspection, the rules in their order.
		{ids.Detect, 3, []string{"1 tcp 10.10.0.11:40000 -> 203.0.113.80:80 blocked=false", "2 tcp 10.10.0.11:40000 -> 203.0.113.80:80 blocked=false"}},
		{ids.Prevent, 1, []string{"2 tcp 10.10.0.11:40000 -> 203.0.113.80:80 blocked=false", "1 tcp 10.10.0.11:40000 -> 203.0.113.80:80 blocked=true"}},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			log := &alertLog{}
			e, err := New(mustPolicy(t, testPolicy), Config{IDS: mustIDS(t, ids.Config{Mode: tc.mode, Rules: rs, Output: log})})
			if err != nil {
				t.Fatal(err)
			}
			w := e.NewWorker()
			_, wan := bridge(t, w, from(datapath.LAN, tcpFrame(t, seg{client, web, "S", 1000, 0, 0}))...)
			lan, _ := bridge(t, w, from(datapath.WAN, tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}))...)
			if len(wan) != 1 || len(lan) != 1 {
				t.Fatalf("handshake: %d, %d frames through (%v)", len(wan), len(lan), e.Counts())
			}
			_, wan = bridge(t, w, from(datapath.LAN,
				tcpFrame(t, seg{client, web, "A", 1001, 5001, 0}),
				dataFrame(t, seg{client, web, "PA", 1001, 5001, 0}, "NOTE: "),
				dataFrame(t, seg{client, web, "PA", 1007, 5001, 0}, "GET /EVILCMD HTTP/1.0\r\n"),
				dataFrame(t, seg{client, web, "PA", 1031, 5001, 0}, "more\r\n"))...)
			// The ACK always passes; then the note, the command and the
			// rest, or only the note.
			if len(wan) != 1+tc.forwarded {
				t.Errorf("%d frames forwarded, want %d (%v)", len(wan), 1+tc.forwarded, e.Counts())
			}
			// The server acknowledges everything: beside the traffic
			// (detection) the data is inspected once acknowledged; in
			// line the flow is dropped, its acknowledgement with it.
			lan, _ = bridge(t, w, from(datapath.WAN, tcpFrame(t, seg{web, client, "A", 5001, 1037, 0}))...)
			if want := map[ids.Mode]int{ids.Detect: 1, ids.Prevent: 0}[tc.mode]; len(lan) != want {
				t.Errorf("the server's ACK: %d frames forwarded, want %d", len(lan), want)
			}
			if tc.mode == ids.Prevent && e.Counts()["drop/ids"] != 3 {
				t.Errorf("counts %v, want 3 drop/ids", e.Counts())
			}
			if fmt.Sprint(log.alerts) != fmt.Sprint(tc.alerts) {
				t.Errorf("alerts %q, want %q", log.alerts, tc.alerts)
			}
		})
	}
}
