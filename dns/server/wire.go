package server

import "github.com/rampart-fw/rampart/dns/wire"

// queryEDNS is what the server needs from a query's OPT record.
type queryEDNS struct {
	udpSize     int         // the client's UDP payload size, at least 512; 0 without OPT
	cookie      wire.Cookie // the COOKIE option's data (the first one)
	cookieFound bool
}

// readEDNS walks r, a Reader of query q past its question, to the OPT
// record and its COOKIE option, which it writes into e, and returns the
// fault that stopped it: any fault of the walk (among them wire.ErrTwoOPT
// and wire.ErrOPTOwner, which RFC 6891 §6.1.1 answers with FORMERR), or
// wire.ErrTruncated for an option that runs past its record. It allocates
// nothing, and fills e in place: a struct of this size returned by value
// is copied through memory, at a cost the hit path notices.
func readEDNS(r *wire.Reader, q []byte, e *queryEDNS) wire.Reason {
	*e = queryEDNS{}
	opt, found := r.OPT()
	if fault := r.Reason(); fault != 0 || !found {
		return fault
	}
	c, cookieFound, valid := opt.Options(q).Find(wire.OptionCookie)
	if !valid {
		return wire.ErrTruncated
	}
	e.udpSize = max(int(opt.UDPSize()), 512)
	e.cookie, e.cookieFound = c, cookieFound
	return 0
}

// errorResponse writes into dst a response to query with the given rcode,
// echoing the question when it is well formed and nothing else, and returns
// its length (0 when query is too short to answer at all). The response is
// never larger than the query, so error replies cannot amplify.
func errorResponse(dst, query []byte, rcode int) int {
	if len(query) < wire.HeaderLen || len(dst) < wire.HeaderLen {
		return 0
	}
	n, qdcount := wire.HeaderLen, uint16(0)
	var r wire.Reader
	if question, ok := r.OneQuestion(query); ok && question.End() <= len(dst) {
		n, qdcount = question.End(), 1
	}
	copy(dst[:n], query[:n])
	h := wire.Header(dst)
	// Keep ID, opcode, RD and CD; set QR and RA; clear the rest.
	h.SetFlags((wire.Header(query).Flags()&(wire.OpcodeMask|wire.RD|wire.CD) | wire.QR | wire.RA).WithRcode(uint8(rcode)))
	h.SetCount(wire.SectionQuestion, qdcount)
	h.SetCount(wire.SectionAnswer, 0)
	h.SetCount(wire.SectionAuthority, 0)
	h.SetCount(wire.SectionAdditional, 0)
	return n
}
