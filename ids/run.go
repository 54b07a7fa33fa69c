package ids

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/rampart-fw/rampart/datapath"
)

// RunResult describes a capture inspected by Run.
type RunResult struct {
	Packets, Bytes uint64
	First, Last    time.Time
}

// progressEvery is how many packets go by between calls of Run's
// progress function.
const progressEvery = 4096

// Run inspects every frame of src, on the capture's own clock, with one
// worker, then flushes the engine: the end of the capture ends every
// flow. progress, when set, is called every few thousand packets and at
// the end, with the packets read and about as many bytes of the file
// (frames and pcap record headers). A read error stops the run and is returned with what was
// inspected before it.
func (e *Engine) Run(ctx context.Context, src datapath.Source, progress func(packets, bytes uint64)) (RunResult, error) {
	var res RunResult
	w := e.NewWorker()
	var err error
	var read uint64
	for {
		if res.Packets%1024 == 0 {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		frame, ci, rerr := src.Next()
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			break
		}
		if res.Packets == 0 {
			res.First = ci.Timestamp
		}
		if ci.Timestamp.After(res.Last) {
			res.Last = ci.Timestamp
		}
		res.Packets++
		res.Bytes += uint64(ci.Length)
		read += uint64(len(frame)) + 16
		w.Process(frame, ci.LinkType, ci.Timestamp)
		if progress != nil && res.Packets%progressEvery == 0 {
			progress(res.Packets, read)
		}
	}
	e.Flush(res.Last)
	if progress != nil {
		progress(res.Packets, read)
	}
	return res, err
}
