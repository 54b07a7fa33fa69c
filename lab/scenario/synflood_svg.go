package scenario

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// The SYN flood's plot: per second of the runs (rampart's proxy, the
// kernel's, none), the share of the legitimate client's connections that completed
// and their mean latency, as an SVG drawn here, so that the demo report
// needs no plotting tool.

const (
	svgWidth, svgHeight = 820, 440
	svgLeft, svgRight   = 70, 790 // the plot area's x range
	shareTop, shareBot  = 50, 200 // the share panel's y range
	latTop, latBot      = 250, 400
)

// runLabels name the runs under the plot.
var runLabels = map[string]string{"on": "rampart's SYN proxy", "kernel": "kernel synproxy on gw", "off": "no SYN proxy"}

// WriteSVG draws the runs into w.
func (r *SYNFloodResult) WriteSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	runs := []*SYNFloodRun{&r.On, &r.Kernel, &r.Off}
	var secs []SYNFloodSecond
	for _, run := range runs {
		secs = append(secs, run.Timeline...)
	}
	n := max(len(secs), 1)
	x := func(i int) float64 { return svgLeft + (float64(i)+0.5)*float64(svgRight-svgLeft)/float64(n) }
	maxLat := 100 * time.Millisecond
	for _, s := range secs {
		maxLat = max(maxLat, s.Latency)
	}
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", svgWidth, svgHeight)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, svgHeight)
	fmt.Fprintf(bw, `<text x="%d" y="24" font-size="15">SYN flood against client2:80: the legitimate client, per second (%s of flood per run)</text>`+"\n",
		svgLeft, r.Options.Duration)
	for _, p := range []struct {
		top, bot int
		label    string
		max      string
	}{{shareTop, shareBot, "connections completed", "100%"}, {latTop, latBot, "mean latency", maxLat.Round(time.Millisecond).String()}} {
		fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", svgLeft, p.top, svgRight-svgLeft, p.bot-p.top)
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end">%s</text><text x="%d" y="%d" text-anchor="end">0</text>`+"\n",
			svgLeft-6, p.top+4, p.max, svgLeft-6, p.bot+4)
		fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text>`+"\n", svgLeft+4, p.top-6, p.label)
	}
	// The boundaries between the runs, and their names.
	at := 0
	for i, run := range runs {
		from := svgLeft + float64(at)*float64(svgRight-svgLeft)/float64(n)
		at += len(run.Timeline)
		to := svgLeft + float64(at)*float64(svgRight-svgLeft)/float64(n)
		if i > 0 {
			fmt.Fprintf(bw, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#444" stroke-dasharray="4 3"/>`+"\n", from, shareTop, from, latBot)
		}
		fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", (from+to)/2, latBot+22, runLabels[run.Mode])
	}
	var share, lat strings.Builder
	for i, s := range secs {
		if s.Attempts == 0 {
			continue
		}
		y := shareBot - float64(shareBot-shareTop)*float64(s.Completed)/float64(s.Attempts)
		fmt.Fprintf(&share, "%.1f,%.1f ", x(i), y)
		if s.Completed > 0 {
			fmt.Fprintf(&lat, "%.1f,%.1f ", x(i), latBot-float64(latBot-latTop)*float64(s.Latency)/float64(maxLat))
		} else {
			// Nothing completed: no latency to draw, a mark instead.
			fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="middle" fill="#c00">×</text>`+"\n", x(i), latTop+12)
		}
	}
	fmt.Fprintf(bw, `<polyline fill="none" stroke="#1a7f37" stroke-width="2" points="%s"/>`+"\n", strings.TrimSpace(share.String()))
	fmt.Fprintf(bw, `<polyline fill="none" stroke="#0550ae" stroke-width="2" points="%s"/>`+"\n", strings.TrimSpace(lat.String()))
	fmt.Fprintf(bw, `<text x="%d" y="%d" fill="#c00">× no connection completed in that second</text>`+"\n", svgLeft, svgHeight-8)
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

// WriteSVGFile draws the plot into the file path.
func (r *SYNFloodResult) WriteSVGFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteSVG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
