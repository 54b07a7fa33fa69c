package detect

import (
	"testing"

	"github.com/rampart-fw/rampart/ids/buffer"
)

// TestStreamWindow inspects windows of a stream: bytes before StreamNew
// are context already inspected, and the window starts at stream offset
// StreamBase. A rule matches only where its match reaches a new byte;
// absolute placements count from the stream's start.
func TestStreamWindow(t *testing.T) {
	e := compile(t,
		`alert tcp any any -> any any (content:"passwd"; sid:1;)`,
		`alert tcp any any -> any any (content:"GET"; content:"passwd"; distance:0; within:12; sid:2;)`,
		`alert tcp any any -> any any (content:"passwd"; offset:5; depth:6; sid:3;)`,
		`alert tcp any any -> any any (content:"GET"; startswith; sid:4;)`,
		`alert tcp any any -> any any (pcre:"/^GET/"; sid:5;)`,
		`alert tcp any any -> any any (content:"GET"; isdataat:3,relative; sid:6;)`,
		`alert tcp any any -> any any (content:"GET"; byte_test:1,=,0x70,2,relative; sid:7;)`,
		`alert tcp any any -> any any (byte_test:1,=,0x47,0; sid:8;)`,
		`alert tcp any any -> any any (content:"GET"; content:"ab"; distance:0; sid:9;)`,
		`alert tcp any any -> any any (pcre:"/GET \//"; sid:10;)`,
	)
	win := func(s string, base uint64, fresh int) *Input {
		return &Input{Key: tcpKey, Flow: &testFlow{dir: buffer.ToServer, established: true}, Stream: []byte(s), StreamBase: base, StreamNew: fresh}
	}
	runCases(t, e, []detectCase{
		{"all new", win("GET /passwd", 0, 0), []uint32{1, 2, 3, 4, 5, 6, 7, 8, 10}, nil},
		{"all new, later in the stream (after a gap)", win("GET /passwd", 100, 0), []uint32{1, 2, 5, 6, 7, 10}, nil},
		{"pcre in the context", win("GET /passwd", 100, 6), []uint32{1, 2}, nil},
		{"all context", win("GET /passwd", 0, 11), nil, nil},
		{"pattern across the edge", win("GET /passwd", 0, 8), []uint32{1, 2, 3}, nil},
		{"pattern ends at the edge", win("GET /passwd", 0, 11), nil, nil},
		{"pattern ends one past the edge", win("GET /passwd", 0, 10), []uint32{1, 2, 3}, nil},
		{"only isdataat reaches the new bytes", win("GET /x", 0, 5), []uint32{6}, nil},
		{"byte_test reads a new byte", win("GET /p", 0, 5), []uint32{6, 7}, nil},
		{"depth from the stream's start", win("GET /passwd", 1, 0), []uint32{1, 2, 5, 6, 7, 10}, nil},
		{"window later in the stream", win("xGET /passwd", 100, 2), []uint32{1, 2, 6, 7, 10}, nil},
		{"a second occurrence in the new bytes", win("GET ab ab", 0, 7), []uint32{9}, nil},
		{"the only occurrence in the context", win("GET ab xy", 0, 7), nil, nil},
	})
}
