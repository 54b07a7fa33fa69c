package detect

import (
	"sync"

	"github.com/rampart-fw/rampart/ids/buffer"
)

// Flow is what the engine needs to know of the flow an Input belongs to.
// The caller's flow table implements it; a nil Flow is a packet without
// a flow (flow keywords and flowbits then do not match).
type Flow interface {
	// Direction returns the direction of the Input: buffer.ToServer
	// (from the side that opened the flow) or buffer.ToClient.
	Direction() buffer.Direction
	// Established reports whether the flow has seen both directions (for
	// TCP: the handshake completed).
	Established() bool
	// Bits returns the flow's flowbits, nil when the flow keeps none.
	Bits() *Bits
}

// Bits is a flow's set of flowbits. The zero value is empty; a flow
// keeps one and hands the engine a pointer to it. It is not safe for
// concurrent use: a flow is inspected by one worker at a time.
type Bits struct {
	ids []uint32 // small: flows set a handful of bits
}

// Has reports whether bit id is set.
func (b *Bits) Has(id BitID) bool {
	for _, x := range b.ids {
		if x == uint32(id) {
			return true
		}
	}
	return false
}

// Set sets bit id.
func (b *Bits) Set(id BitID) {
	if !b.Has(id) {
		b.ids = append(b.ids, uint32(id))
	}
}

// Unset clears bit id.
func (b *Bits) Unset(id BitID) {
	for i, x := range b.ids {
		if x == uint32(id) {
			b.ids[i] = b.ids[len(b.ids)-1]
			b.ids = b.ids[:len(b.ids)-1]
			return
		}
	}
}

// Reset clears every bit, keeping the storage.
func (b *Bits) Reset() { b.ids = b.ids[:0] }

// BitID is a flowbit's number. Numbers are given out by name for the
// life of the process, so that a flow's bits keep their meaning across a
// reload of the rules.
type BitID uint32

var bitNames struct {
	sync.Mutex
	ids   map[string]BitID // guarded by the mutex
	names []string         // guarded by the mutex
}

// Bit returns the number of the flowbit called name.
func Bit(name string) BitID {
	bitNames.Lock()
	defer bitNames.Unlock()
	if bitNames.ids == nil {
		bitNames.ids = map[string]BitID{}
	}
	id, ok := bitNames.ids[name]
	if !ok {
		id = BitID(len(bitNames.names))
		bitNames.ids[name] = id
		bitNames.names = append(bitNames.names, name)
	}
	return id
}

// Name returns the flowbit's name.
func (id BitID) Name() string {
	bitNames.Lock()
	defer bitNames.Unlock()
	if int(id) < len(bitNames.names) {
		return bitNames.names[id]
	}
	return ""
}
