package scenario

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSYNFloodSVG: the plot is well-formed SVG with one point per second
// that had attempts in the share line, one per second that completed
// something in the latency line, and a mark for a second that did not.
func TestSYNFloodSVG(t *testing.T) {
	r := SYNFloodResult{Options: SYNFloodOptions{Duration: 3 * time.Second}}
	r.On.Mode, r.Kernel.Mode, r.Off.Mode = "on", "kernel", "off"
	r.On.Timeline = []SYNFloodSecond{{Attempts: 20, Completed: 20, Latency: 9 * time.Millisecond}, {Attempts: 19, Completed: 19, Latency: 12 * time.Millisecond}, {Attempts: 20, Completed: 20, Latency: 8 * time.Millisecond}}
	r.Off.Timeline = []SYNFloodSecond{{Attempts: 1, Completed: 1, Latency: 40 * time.Millisecond}, {Attempts: 1, Completed: 0}, {}}
	var buf bytes.Buffer
	if err := r.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&buf)
	var lines []string
	marks := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if se.Name.Local == "polyline" && a.Name.Local == "points" {
					lines = append(lines, a.Value)
				}
			}
		}
		if cd, ok := tok.(xml.CharData); ok && string(cd) == "×" {
			marks++
		}
	}
	if len(lines) != 2 || len(strings.Fields(lines[0])) != 5 || len(strings.Fields(lines[1])) != 4 || marks != 1 {
		t.Fatalf("polylines %q, %d marks", lines, marks)
	}
	// The share line: 100% is the panel's top (y 50), 0% its bottom (y 200).
	if f := strings.Fields(lines[0]); !strings.HasSuffix(f[0], ",50.0") || !strings.HasSuffix(f[4], ",200.0") {
		t.Errorf("share points %v", f)
	}
}
