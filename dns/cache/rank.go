package cache

import "strconv"

// Rank is the credibility of cached data: the RFC 2181 §5.4.1 trust level of
// the message section it came from (low four bits) and its DNSSEC security
// status (high four bits). Build one as, for example,
// RankAnswerAuth.WithSecurity(SecuritySecure).
type Rank uint8

// Trust levels, lowest first. RFC 2181 lumps additional data and the
// authority section of non-authoritative answers into one level; they are
// split here because a referral's NS set is more useful than stray glue.
const (
	// RankNone is the zero Rank; Put rejects it so that forgetting to set a
	// rank is an error rather than the lowest credibility.
	RankNone Rank = iota
	// RankAdditionalGlue: additional section of any answer (glue, hints).
	RankAdditionalGlue
	// RankAuthorityReferral: authority section of a non-authoritative
	// answer, such as the parent's NS set in a referral.
	RankAuthorityReferral
	// RankAnswerNonAuth: answer section of a non-authoritative answer, and
	// non-authoritative data in the answer section of an authoritative one.
	RankAnswerNonAuth
	// RankAuthorityAuth: authority section of an authoritative answer.
	RankAuthorityAuth
	// RankAnswerAuth: the authoritative data in the answer section of an
	// authoritative answer.
	RankAnswerAuth
	// RankZone: data from a locally configured zone or a zone transfer; no
	// resolver answer outranks it.
	RankZone

	rankTrustMask Rank = 0x0f
	rankMaxTrust       = RankZone
)

// Security is the DNSSEC status of an RRset (RFC 4035 §4.3).
type Security uint8

const (
	// SecurityUnchecked: nobody has tried to validate the data.
	SecurityUnchecked Security = iota
	// SecurityInsecure: validation proved there is no chain of trust.
	SecurityInsecure
	// SecurityIndeterminate: no trust anchor covers the data.
	SecurityIndeterminate
	// SecurityBogus: validation failed; the data must not be served to a
	// client that did not set CD.
	SecurityBogus
	// SecuritySecure: validated through a chain of trust.
	SecuritySecure

	securityMax = SecuritySecure
)

// Trust returns the credibility level without the security status.
func (r Rank) Trust() Rank { return r & rankTrustMask }

// Security returns the DNSSEC status carried in r.
func (r Rank) Security() Security { return Security(r >> 4) }

// WithSecurity returns r with its security status replaced by s.
func (r Rank) WithSecurity(s Security) Rank { return r&rankTrustMask | Rank(s)<<4 }

// Secure reports whether the data was validated.
func (r Rank) Secure() bool { return r.Security() == SecuritySecure }

// Valid reports whether r has a known trust level and security status.
func (r Rank) Valid() bool {
	t := r.Trust()
	return t > RankNone && t <= rankMaxTrust && r.Security() <= securityMax
}

// order places validated data above everything else, bogus data below
// everything else, and orders by trust within each of those three bands:
// a validated glue record is better evidence than an unvalidated answer,
// and a bogus answer is worse than any unvalidated one.
func (r Rank) order() int {
	band := 1
	switch r.Security() {
	case SecuritySecure:
		band = 2
	case SecurityBogus:
		band = 0
	}
	return band<<4 | int(r.Trust())
}

// Compare returns -1, 0 or +1 as r is less, equally or more credible than o.
// An unexpired cached RRset is replaced only by data with Compare >= 0.
func (r Rank) Compare(o Rank) int {
	a, b := r.order(), o.order()
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var trustNames = [...]string{
	RankNone:              "none",
	RankAdditionalGlue:    "additional-glue",
	RankAuthorityReferral: "authority-referral",
	RankAnswerNonAuth:     "answer-nonauth",
	RankAuthorityAuth:     "authority-auth",
	RankAnswerAuth:        "answer-auth",
	RankZone:              "zone",
}

var securityNames = [...]string{
	SecurityUnchecked:     "unchecked",
	SecurityInsecure:      "insecure",
	SecurityIndeterminate: "indeterminate",
	SecurityBogus:         "bogus",
	SecuritySecure:        "secure",
}

// String returns the security status name.
func (s Security) String() string {
	if int(s) < len(securityNames) {
		return securityNames[s]
	}
	return "security(" + strconv.Itoa(int(s)) + ")"
}

// String returns "trust/security", for example "answer-auth/secure".
func (r Rank) String() string {
	t := r.Trust()
	ts := "trust(" + strconv.Itoa(int(t)) + ")"
	if int(t) < len(trustNames) {
		ts = trustNames[t]
	}
	return ts + "/" + r.Security().String()
}
