package replay

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Scenario is a parsed .rpl file.
type Scenario struct {
	// File is the name given to Parse; it prefixes error messages.
	File string
	// Title is the text after SCENARIO_BEGIN.
	Title string
	// Config holds the lines before CONFIG_END.
	Config Config
	// Ranges are the scripted upstream servers in file order.
	Ranges []*Range
	// Steps are the scenario's moments in file order (strictly increasing
	// step numbers).
	Steps []*Step
	// Unsupported lists, with file:line, scenario features this package
	// parses but cannot replay (testbound macros, TSIG). A scenario with
	// any of them is reported as skipped.
	Unsupported []string
}

// Range answers upstream queries sent to Addrs while the current step
// number is within [Start, End].
type Range struct {
	Start, End int
	// Addrs restricts the range to these servers; empty means any server.
	Addrs []netip.AddrPort
	// Entries are tried in file order; the first that matches answers.
	Entries []*Entry
	Line    int
}

// eligible reports whether the range may answer a query to server at
// moment step.
func (r *Range) eligible(step int, server netip.AddrPort) bool {
	if step < r.Start || step > r.End {
		return false
	}
	if len(r.Addrs) == 0 {
		return true
	}
	for _, a := range r.Addrs {
		if a == server {
			return true
		}
	}
	return false
}

// StepKind is the event type of a STEP line.
type StepKind uint8

// Step kinds, named after their keyword in the .rpl format.
const (
	StepNothing StepKind = iota
	StepQuery
	StepCheckAnswer
	StepCheckOutQuery
	StepReply
	StepTimeout
	StepNetworkError
	StepTimePasses
	StepTraffic
	StepAssign
	StepCheckAutotrust
	StepCheckTempfile
	StepInfraRTT
	StepFlushMessage
	StepExpireMessage
)

var stepKindNames = [...]string{
	StepNothing:        "NOTHING",
	StepQuery:          "QUERY",
	StepCheckAnswer:    "CHECK_ANSWER",
	StepCheckOutQuery:  "CHECK_OUT_QUERY",
	StepReply:          "REPLY",
	StepTimeout:        "TIMEOUT",
	StepNetworkError:   "ERROR",
	StepTimePasses:     "TIME_PASSES",
	StepTraffic:        "TRAFFIC",
	StepAssign:         "ASSIGN",
	StepCheckAutotrust: "CHECK_AUTOTRUST",
	StepCheckTempfile:  "CHECK_TEMPFILE",
	StepInfraRTT:       "INFRA_RTT",
	StepFlushMessage:   "FLUSH_MESSAGE",
	StepExpireMessage:  "EXPIRE_MESSAGE",
}

func (k StepKind) String() string {
	if int(k) < len(stepKindNames) {
		return stepKindNames[k]
	}
	return "STEP_KIND_" + strconv.Itoa(int(k))
}

// needsEntry reports whether the step is followed by an ENTRY block.
func (k StepKind) needsEntry() bool {
	switch k {
	case StepQuery, StepCheckAnswer, StepCheckOutQuery, StepReply:
		return true
	}
	return false
}

// Step is one STEP line and the block that belongs to it.
type Step struct {
	Number int
	Kind   StepKind
	Line   int
	// Addr is the ADDRESS given on the STEP line; invalid when absent.
	Addr netip.AddrPort
	// Elapse is the TIME_PASSES ELAPSE amount.
	Elapse time.Duration
	// Eval is the TIME_PASSES EVAL expression (testbound macro).
	Eval string
	// Entry is the ENTRY block of QUERY, CHECK_ANSWER, CHECK_OUT_QUERY and
	// REPLY steps.
	Entry *Entry
	// Question is the argument of FLUSH_MESSAGE and EXPIRE_MESSAGE.
	Question dns.Question
	// Args is the rest of the line for ASSIGN, INFRA_RTT, CHECK_AUTOTRUST
	// and CHECK_TEMPFILE.
	Args string
	// File is the FILE_BEGIN..FILE_END content of CHECK_AUTOTRUST and
	// CHECK_TEMPFILE.
	File []string
}

// Match is the set of criteria on an entry's MATCH lines.
type Match uint32

// Match criteria. For range entries they compare an upstream query with the
// entry's first packet; for CHECK_ANSWER they compare the resolver's answer.
const (
	MatchOpcode       Match = 1 << iota // opcode
	MatchQType                          // qtype
	MatchQName                          // qname, ignoring case
	MatchQCase                          // qcase: qname with exact letter case (Deckard)
	MatchSubdomain                      // subdomain: qname at or below the entry's qname
	MatchRcode                          // rcode
	MatchFlags                          // flags: QR AA TC RD RA AD CD (Deckard)
	MatchQuestion                       // question section
	MatchAnswer                         // answer section
	MatchAuthority                      // authority section (Deckard)
	MatchAdditional                     // additional section without OPT (Deckard)
	MatchAll                            // all: header and every section, EDNS aside (Deckard)
	MatchAllNoEDNS                      // all_noedns: like all, EDNS ignored
	MatchTTL                            // ttl: section comparisons include TTLs
	MatchDO                             // DO: the DO bit is set
	MatchNoEDNS                         // noedns: there is no OPT record
	MatchEDNS                           // edns: OPT presence, version and payload size (Deckard)
	MatchEDNSData                       // ednsdata: OPT options equal HEX_EDNSDATA
	MatchNSID                           // nsid: NSID option equal (Deckard)
	MatchSerial                         // serial=N: SOA serial in the authority section
	MatchEDE                            // ede=N or ede=any: extended DNS error present
	MatchClientCookie                   // client_cookie or random_client_cookie: an 8-byte client cookie
	MatchServerCookie                   // server_cookie: a 24-byte cookie (client and server parts)
	MatchUDP                            // UDP: the query came over UDP
	MatchTCP                            // TCP: the query came over TCP
	MatchAnswerTypes                    // answertypes: set of answer types, RRSIGs skipped (Deckard)
	MatchAnswerRRSIGs                   // answerrrsigs: set of answer types with RRSIGs (Deckard)
)

var matchNames = []struct {
	name string
	m    Match
}{
	{"opcode", MatchOpcode},
	{"qtype", MatchQType},
	{"qname", MatchQName},
	{"qcase", MatchQCase},
	{"subdomain", MatchSubdomain},
	{"rcode", MatchRcode},
	{"flags", MatchFlags},
	{"question", MatchQuestion},
	{"answer", MatchAnswer},
	{"authority", MatchAuthority},
	{"additional", MatchAdditional},
	{"all", MatchAll},
	{"all_noedns", MatchAllNoEDNS},
	{"ttl", MatchTTL},
	{"DO", MatchDO},
	{"noedns", MatchNoEDNS},
	{"edns", MatchEDNS},
	{"ednsdata", MatchEDNSData},
	{"nsid", MatchNSID},
	{"random_client_cookie", MatchClientCookie},
	{"client_cookie", MatchClientCookie},
	{"server_cookie", MatchServerCookie},
	{"UDP", MatchUDP},
	{"TCP", MatchTCP},
	{"answertypes", MatchAnswerTypes},
	{"answerrrsigs", MatchAnswerRRSIGs},
}

func (m Match) String() string {
	var b strings.Builder
	var done Match
	for _, n := range matchNames {
		if m&n.m != 0 && done&n.m == 0 {
			done |= n.m
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(n.name)
		}
	}
	if m&MatchSerial != 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("serial")
	}
	if m&MatchEDE != 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("ede")
	}
	return b.String()
}

// Adjust is the set of ADJUST actions applied to a reply before it is sent.
type Adjust uint16

// Adjust actions.
const (
	AdjustCopyID            Adjust = 1 << iota // copy_id: reply ID := query ID
	AdjustCopyQuery                            // copy_query: reply question := query question
	AdjustRawID                                // raw_id: patch the query ID into a RAW reply (Deckard)
	AdjustDoNotAnswer                          // do_not_answer: drop the query (Deckard)
	AdjustCopyECS                              // copy_ednsdata_assume_clientsubnet
	AdjustIncrementECSScope                    // increment_ecs_scope
	AdjustServerCookie                         // add_server_cookie
)

var adjustNames = []struct {
	name string
	a    Adjust
}{
	{"copy_id", AdjustCopyID},
	{"copy_query", AdjustCopyQuery},
	{"raw_id", AdjustRawID},
	{"do_not_answer", AdjustDoNotAnswer},
	{"copy_ednsdata_assume_clientsubnet", AdjustCopyECS},
	{"increment_ecs_scope", AdjustIncrementECSScope},
	{"add_server_cookie", AdjustServerCookie},
}

// Entry is one ENTRY_BEGIN..ENTRY_END block.
type Entry struct {
	Line   int
	Match  Match
	Serial uint32 // for MatchSerial
	EDE    uint16 // for MatchEDE; EDEAny accepts any code
	EDEAny bool
	Adjust Adjust
	// Sleep is ADJUST sleep=N. Replies are never delayed in real time; the
	// value is kept so that callers can see what the scenario asked for.
	Sleep time.Duration
	// Packets holds at least one packet; EXTRA_PACKET adds more (TCP
	// streams). The first packet is the one matched against.
	Packets []*Packet
	// Mandatory is Deckard's MANDATORY: the entry must answer at least once.
	Mandatory bool
	// TSIGKey and TSIGSecret are Deckard's TSIG line.
	TSIGKey, TSIGSecret string
}

// Packet is one scripted DNS message.
type Packet struct {
	// Msg is built from the REPLY, SECTION and EDNS lines. It is the message
	// matched against even when Raw replaces it on the wire.
	Msg *dns.Msg
	// Raw replaces Msg on the wire (HEX_ANSWER_BEGIN or Deckard's RAW).
	Raw []byte
	// RawOnly marks Deckard's RAW, which CHECK_ANSWER compares byte for byte.
	RawOnly bool
	// EDNSData is the HEX_EDNSDATA block: raw OPT options.
	EDNSData []byte
	// Sleep is ADJUST packet_sleep=N, kept but never waited for.
	Sleep time.Duration
}
