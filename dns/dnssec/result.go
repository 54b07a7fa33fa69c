package dnssec

import (
	"strconv"

	"github.com/miekg/dns"
)

// Status is the security status of RFC 4033 section 5 and RFC 4035
// section 4.3. The zero value is Indeterminate, so that a Result nobody
// filled in never reads as Secure.
type Status uint8

const (
	// Indeterminate: no trust anchor covers the data, so nothing can be
	// said about it.
	Indeterminate Status = iota
	// Secure: an unbroken chain of signed DNSKEY and DS RRsets leads from
	// a trust anchor to the data.
	Secure
	// Insecure: the chain provably ends above the data (an unsigned
	// delegation, only unsupported algorithms or digests, an NSEC3
	// opt-out span, an NSEC3 iteration count above the limit).
	Insecure
	// Bogus: the data should be signed and the signatures or proofs do
	// not hold, or validating them would cost more than the budget.
	Bogus
)

func (s Status) String() string {
	switch s {
	case Indeterminate:
		return "indeterminate"
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	}
	return "status?"
}

// Extended DNS Error INFO-CODEs (RFC 8914 section 4) this package reports.
const (
	EDEUnsupportedDNSKEYAlgorithm  uint16 = 1
	EDEUnsupportedDSDigest         uint16 = 2
	EDEIndeterminate               uint16 = 5
	EDEBogus                       uint16 = 6
	EDESignatureExpired            uint16 = 7
	EDESignatureNotYetValid        uint16 = 8
	EDEDNSKEYMissing               uint16 = 9
	EDERRSIGsMissing               uint16 = 10
	EDENoZoneKeyBitSet             uint16 = 11
	EDENSECMissing                 uint16 = 12
	EDESignatureExpiredBeforeValid uint16 = 25
	EDEUnsupportedNSEC3Iterations  uint16 = 27
)

// Result is the outcome of one validation step.
type Result struct {
	Status Status
	// EDE is the RFC 8914 INFO-CODE that explains a status other than
	// Secure, or 0 when there is none to give. 0 is "Other Error" on the
	// wire, which this package never reports.
	EDE uint16
	// Reason says what was decided and why, for the log, such as
	// "RRSIG over example.lab./A by 12345 expired 2026-01-01T00:00:00Z".
	// It is empty for Secure results so that the success path does not
	// format strings.
	Reason string
	// TTL is the longest the validated data may be cached: for an RRset
	// the smallest of its records' TTLs, the RRSIG's Original TTL and the
	// seconds left until the RRSIG expires (RFC 4035 section 5.3.3); for
	// a proof the smallest such value among its NSEC or NSEC3 records.
	TTL uint32
	// Wildcard is set by VerifyRRset when the RRSIG's Labels field shows
	// the RRset was synthesised from a wildcard (RFC 4035 section 5.3.4):
	// it is the wildcard's owner, "*.<closest encloser>". Such an answer
	// is Secure only once ProveWildcard shows that the query name itself
	// does not exist. ProveNODATA sets it too when the name's absence
	// came from a wildcard that lacks the type.
	Wildcard string
	// OptOut reports that an NSEC3 record with the Opt-Out flag decided
	// the result: an unsigned delegation may exist where the proof says
	// nothing does, so the result is at best Insecure (RFC 5155 section 9.2).
	OptOut bool
}

// Secure reports whether r.Status is Secure.
func (r Result) Secure() bool { return r.Status == Secure }

// ExtendedError returns the EDNS0 option a response carrying this result
// should hold, or nil when there is no code to report.
func (r Result) ExtendedError() *dns.EDNS0_EDE {
	if r.EDE == 0 {
		return nil
	}
	return &dns.EDNS0_EDE{InfoCode: r.EDE, ExtraText: r.Reason}
}

func (r Result) String() string {
	s := r.Status.String()
	if r.EDE != 0 {
		s += " (EDE " + strconv.Itoa(int(r.EDE)) + ")"
	}
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

func bogus(ede uint16, reason string) Result {
	return Result{Status: Bogus, EDE: ede, Reason: reason}
}

func insecure(ede uint16, reason string) Result {
	return Result{Status: Insecure, EDE: ede, Reason: reason}
}
