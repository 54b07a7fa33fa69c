package wire

import "strconv"

// Reason is what is wrong with a message. Its values are errors and
// compare with errors.Is against an *Error; being one octet, a Reason
// converts to an error without allocating.
type Reason uint8

const (
	// ErrShort: the message is shorter than its header.
	ErrShort Reason = iota + 1
	// ErrTruncated: a name, an entry or an option runs past the end of
	// the message (or of its OPT record).
	ErrTruncated
	// ErrLabelType: a label of type 0x40 or 0x80, which RFC 6891 §5
	// retired.
	ErrLabelType
	// ErrNameLen: a name longer than 255 octets (RFC 1035 §3.1).
	ErrNameLen
	// ErrPointer: a compression pointer that does not point to a prior
	// occurrence: at or after the labels that lead to it, or into the
	// header.
	ErrPointer
	// ErrTwoOPT: a second OPT record (RFC 6891 §6.1.1).
	ErrTwoOPT
	// ErrOPTOwner: an OPT record whose owner is not the root (RFC 6891
	// §6.1.2).
	ErrOPTOwner
)

var reasons = [...]string{
	ErrShort:     "message shorter than its header",
	ErrTruncated: "runs past the end",
	ErrLabelType: "label of a retired type",
	ErrNameLen:   "name longer than 255 octets",
	ErrPointer:   "compression pointer to no prior occurrence",
	ErrTwoOPT:    "more than one OPT record",
	ErrOPTOwner:  "OPT record not owned by the root",
}

func (r Reason) Error() string { return "dns message: " + r.text() }

func (r Reason) text() string {
	if int(r) < len(reasons) && reasons[r] != "" {
		return reasons[r]
	}
	return "fault " + strconv.Itoa(int(r))
}

// Error is a fault in a message: what is wrong and where (the offset of
// the label, entry or option at fault).
type Error struct {
	Offset int
	Reason Reason
}

func (e *Error) Error() string {
	return "dns message: offset " + strconv.Itoa(e.Offset) + ": " + e.Reason.text()
}

// Unwrap makes errors.Is(err, ErrTruncated) and its kin hold.
func (e *Error) Unwrap() error { return e.Reason }

func fault(off int, r Reason) error { return &Error{Offset: off, Reason: r} }
