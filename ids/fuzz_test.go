package ids

import (
	"slices"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
)

// FuzzProcess feeds arbitrary frames, as Ethernet and as raw IP, to an
// engine with the sample's rules after the sample capture's flows: it
// must not panic, and must end every flow at Flush.
func FuzzProcess(f *testing.F) {
	frames := sampleCapture()
	for _, fr := range frames {
		f.Add(fr.Data)
	}
	rules := loadRules(f, "testdata/sample.rules")
	f.Fuzz(func(t *testing.T, frame []byte) {
		e, err := New(Config{Rules: rules})
		if err != nil {
			t.Fatal(err)
		}
		w := e.NewWorker()
		for _, fr := range frames[:len(frames)/2] {
			w.Process(fr.Data, datapath.LinkTypeEthernet, fr.Time)
		}
		at := frames[len(frames)/2].Time
		w.Process(frame, datapath.LinkTypeEthernet, at)
		w.Process(frame, datapath.LinkTypeRaw, at.Add(time.Millisecond))
		w.Process(frame, datapath.LinkTypeLinuxSLL, at.Add(2*time.Millisecond))
		e.Flush(at.Add(time.Second))
		if st := e.Stats(); st.Stream.Active != 0 || st.Flows.Active != 0 || st.AppMemory != 0 {
			t.Errorf("after Flush: %d TCP and %d other flows, %d bytes of parser memory", st.Stream.Active, st.Flows.Active, st.AppMemory)
		}
	})
}

// splitRules are rules whose matches are bounded (no pcre, no relative
// content without within), so that the context kept covers them and a
// stream cut anywhere alerts as it does whole.
const splitRules = `alert tcp any any -> any any (msg:"1"; content:"passwd"; sid:1;)
alert tcp any any -> any any (msg:"2"; content:"GET"; content:"passwd"; distance:0; within:20; sid:2;)
alert tcp any any -> any any (msg:"3"; content:"passwd"; offset:4; depth:20; sid:3;)
alert tcp any any -> any any (msg:"4"; content:"AB"; isdataat:8,relative; sid:4;)
alert tcp any any -> any any (msg:"5"; content:"AB"; content:"C"; distance:0; within:1; byte_test:1,>,0x40,0,relative; sid:5;)
alert tcp any any -> any any (msg:"6"; content:"X"; content:"Y"; distance:2; within:4; content:"Z"; distance:0; within:3; sid:6;)
alert tcp any any -> any any (msg:"7"; content:"GET"; startswith; sid:7;)
alert tcp any any -> any any (msg:"8"; content:"AB"; isdataat:30; sid:8;)
alert tcp any any -> any any (msg:"9"; byte_test:1,=,0x47,0; content:"wd"; offset:10; depth:4; sid:9;)
`

// FuzzStreamSplit cuts a client's stream into acknowledged chunks where
// cuts says (each byte the distance to the next cut, less one): the
// rules that alert must be those that alert on the stream in one chunk,
// in detection and in prevention mode.
func FuzzStreamSplit(f *testing.F) {
	f.Add([]byte("GET /etc/passwd HTTP/1.0\r\n\r\n"), []byte{8, 2})
	f.Add([]byte("xxABCdefghijklmnopqrstuvwxyz0123456789 X..Y.Z"), []byte{2, 0, 30, 1})
	f.Add([]byte("GETwwwwwwwwwwd"), []byte{0, 0, 0, 9})
	eng := compileRules(f, splitRules)
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) == 0 || len(data) > 1024 {
			return
		}
		var at []int
		pos := 0
		for _, c := range cuts {
			if pos += int(c) + 1; pos >= len(data) {
				break
			}
			at = append(at, pos)
		}
		for _, mode := range modes {
			whole := alertsOn(t, eng, mode, chunkedCapture([][]byte{data}))
			split := alertsOn(t, eng, mode, chunkedCapture(splitAt(string(data), at...)))
			slices.Sort(whole)
			slices.Sort(split)
			if w, s := slices.Compact(whole), slices.Compact(split); !slices.Equal(w, s) {
				t.Fatalf("%v, %q cut at %v: rules alerting %v, in one chunk %v", mode, data, at, s, w)
			}
		}
	})
}
