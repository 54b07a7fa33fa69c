package datapath

import (
	"context"
	"errors"
	"io"
	"unsafe"
)

// Handler is the gateway's hook into the packet path: it sees every frame
// once, with the port it came in on, and sends whatever should leave (the
// frame itself, a rewritten frame, a reply) through out. Sending nothing
// drops the frame.
//
// frame and ci are valid only during the call. A live frame lies in the
// receive ring and may be rewritten in place (NAT) before it is sent; don't
// modify a frame after passing it to Send, because live sends are batched
// and go out by reference when the handler's block of frames is done.
//
// In the bridge loop one Handler value serves one worker, so its state
// needs no locks (see Bridge.Run).
type Handler interface {
	Handle(frame []byte, ci *CaptureInfo, in Side, out *Sender)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(frame []byte, ci *CaptureInfo, in Side, out *Sender)

// Handle calls f.
func (f HandlerFunc) Handle(frame []byte, ci *CaptureInfo, in Side, out *Sender) {
	f(frame, ci, in, out)
}

// ForwardAll is the handler of a plain bridge: every frame goes out of the
// other port unchanged.
type ForwardAll struct{}

// Handle forwards frame.
func (ForwardAll) Handle(frame []byte, _ *CaptureInfo, _ Side, out *Sender) {
	out.Forward(frame)
}

// transmitter is one side's output: a live batch or an offline Sink. h is
// the frame's offload header, nil for a complete frame.
type transmitter interface {
	transmit(frame []byte, h *VNetHeader) error
}

// Sender is a Handler's way out. A live Sender queues frames for a batched
// sendmmsg on the worker's own socket of each port; an offline Sender
// writes to the Replay sinks at once.
type Sender struct {
	in  Side
	out [2]transmitter
	// The frame being handled and its capture info: sending that frame
	// (rewritten in place or not) carries its vnet header along.
	cur *byte
	ci  *CaptureInfo
}

// Send queues frame for transmission on port to. The frame being handled
// goes with the offload header it arrived with (ci.VNet), so a GSO
// super-frame is segmented, and a checksum left to offload completed, by
// the kernel on the way out; any other frame (one the handler built) is
// sent as complete. Errors returned here are about the frame itself
// (empty, too large); transmit failures of a live port are counted in its
// Stats, because they surface only when the batch is flushed.
func (s *Sender) Send(to Side, frame []byte) error {
	t := s.out[to&1]
	if t == nil {
		return nil
	}
	var h *VNetHeader
	if s.ci != nil && len(frame) > 0 && unsafe.SliceData(frame) == s.cur {
		h = &s.ci.VNet
	}
	return t.transmit(frame, h)
}

// handling tells s which frame the handler is about to see.
func (s *Sender) handling(frame []byte, ci *CaptureInfo) {
	s.cur, s.ci = unsafe.SliceData(frame), ci
}

// Forward sends frame out of the port opposite to the one it came in on.
func (s *Sender) Forward(frame []byte) error {
	return s.Send(s.in.Other(), frame)
}

// In returns the port the current frame came in on.
func (s *Sender) In() Side { return s.in }

type sinkTransmitter struct{ sink Sink }

// transmit writes frame as it is: capture files hold no vnet headers.
func (t sinkTransmitter) transmit(frame []byte, _ *VNetHeader) error {
	if len(frame) == 0 {
		return ErrEmptyFrame
	}
	return t.sink.Write(frame)
}

// ReplayConfig says where an offline run's frames come in and go out.
type ReplayConfig struct {
	// Side picks the port each frame came in on (by MAC, address, or the
	// pcapng interface id); nil means LAN for every frame.
	Side func(frame []byte, ci *CaptureInfo) Side
	// LAN and WAN receive what the handler sends to each port, e.g. a
	// PcapWriter; nil discards.
	LAN, WAN Sink
}

// Replay runs h over every frame of src, the way the bridge loop runs it
// over live traffic: `rampart inspect` and the gateway share one pipeline.
// It returns the number of frames handled, and nil at the end of src.
func Replay(ctx context.Context, src Source, h Handler, cfg ReplayConfig) (uint64, error) {
	var s Sender
	if cfg.LAN != nil {
		s.out[LAN] = sinkTransmitter{cfg.LAN}
	}
	if cfg.WAN != nil {
		s.out[WAN] = sinkTransmitter{cfg.WAN}
	}
	var (
		n  uint64
		ci CaptureInfo // declared once: &ci escapes through Handle
	)
	for {
		// ctx.Err takes a lock in some contexts; once per 256 frames is
		// often enough to stop a run promptly.
		if n&255 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		frame, info, err := src.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		ci = info
		s.in = LAN
		if cfg.Side != nil {
			s.in = cfg.Side(frame, &ci) & 1
		}
		h.Handle(frame, &ci, s.in, &s)
		n++
	}
}
