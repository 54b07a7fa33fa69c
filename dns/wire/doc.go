// Package wire is typed views over DNS messages in wire form (RFC 1035
// §4.1), in the manner of gVisor's header package: accessors that read and
// write the fields of a byte slice in place, named after the RFC's fields.
// It owns the header and its flags (one set of constants for the 16-bit
// flags word), the walk over questions and records (Reader), names
// (skipped without following compression pointers, or read with them
// followed and loops refused), and the OPT pseudo-record with its EDNS
// options and the COOKIE option (RFC 6891, RFC 7873). Everything that reads
// raw DNS bytes in rampart reads them through it.
//
// It refuses to know what records mean: RDATA is bytes, and turning a
// message into Go values and back is miekg/dns's job. It checks the
// structure every reader relies on, and no more: names whose labels and
// pointers stay inside the message and inside 255 octets, entries that fit,
// options that fit their OPT record.
//
// Nothing allocates on well-formed input. A fault is an *Error naming its
// offset, allocated when it is returned, except in a Reader, which keeps
// the fault as a Reason and an offset until Err is called, so that a
// server can refuse floods of malformed queries without allocating. Every
// function and accessor stays inside the slice it is given: Header's
// accessors need HeaderLen octets (check the length first, as with
// gVisor's views); everything else checks for itself and never panics
// (FuzzMessage).
//
// Compression pointers must point to a prior occurrence (RFC 1035 §4.1.4):
// before the labels that lead to them, and not into the header. Each
// pointer followed therefore jumps below the last, so no name can loop.
// miekg/dns also accepts pointers forward; no packer writes them.
package wire
