package ids

import (
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
