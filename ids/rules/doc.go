// Package rules reads signatures in the Suricata rule language into Rule
// values: the header (action, protocol, addresses and ports with
// variables, lists and negation, direction) compiled into sets that are
// looked up without parsing, and the options the detection engine
// (package ids/detect) evaluates. It owns the language, its errors and
// the translation of pcre patterns to Go's regexp; it does not match
// anything against traffic, except the pcre translation's own matcher,
// whose byte semantics belong with the translation.
//
// # What is understood
//
// Actions alert, pass, drop, reject, rejectsrc, rejectdst, rejectboth.
// Protocols ip, tcp, udp, icmp (ICMP and ICMPv6, as in Suricata),
// icmpv4, icmpv6, sctp, tcp-pkt, tcp-stream, and the application
// protocols http (TCP), tls (TCP) and dns (TCP and UDP). Addresses: any,
// addresses, CIDR prefixes (host bits ignored), ranges a-b, $VARIABLES,
// lists [a,b], nested lists, negation !; a list is the union of its
// positive members (everything when there is none) minus the union of
// its negated ones. Ports likewise, with ranges a:b, a: and :b.
// Directions -> and <>.
//
// Options: msg, sid, rev, gid, classtype (Suricata's classification.config),
// priority, reference, metadata; content with nocase, offset, depth,
// distance, within, startswith, endswith, fast_pattern (also :only and
// offset,length), rawbytes (ignored, as Suricata does), negation and
// |hex| with the escapes \" \; \\ \:; pcre (flags i s m x A E G, R,
// the buffer flags U I P Q H D M C S Y V W Z, and B and O, which change
// nothing here); byte_test (big, little, string hex/dec/oct, relative,
// bitmask); isdataat (relative, negation); flow (established,
// not_established, stateless, to_server, to_client, from_server,
// from_client, only_stream, no_stream); flowbits (set, unset, toggle,
// isset, isnotset with | and &, noalert) and noalert; dsize, ttl, itype,
// icode in Suricata's integer syntax; flags (modifiers + * !, an ignore
// mask after a comma, or the numeric form); threshold and
// detection_filter (track by_src, by_dst, by_rule, by_both); the sticky
// buffers pkt_data, http.method, http.uri, http.uri.raw, http.host,
// http.host.raw, http.header, http.header.raw, http.cookie,
// http.user_agent, http.request_body, http.stat_code, http.stat_msg,
// file.data (and file_data), dns.query (dns_query), tls.sni (tls_sni),
// and the content modifiers http_method, http_uri, http_raw_uri,
// http_host, http_raw_host, http_header, http_raw_header, http_cookie,
// http_user_agent, http_client_body, http_stat_code, http_stat_msg.
//
// A sticky buffer applies to the keywords after it, up to the next sticky
// buffer; a content modifier moves the content before it. Relative
// keywords (distance, within, pcre R, relative byte_test and isdataat)
// are relative to the previous content or pcre of the same buffer.
//
// # Semantics kept from Suricata where they are odd
//
// A negated dsize (and >, >=, a range, or =N with N > 0) requires a
// payload: an empty packet does not match dsize:!5. Depth counts from
// offset; within counts from the previous match plus distance; a range
// a<>b excludes its bounds. An unknown classtype refuses the rule. A
// content in http.host with upper-case letters and without nocase is
// refused (the buffer is lower case: it would never match). Of two rules
// with one gid and sid the higher rev is kept.
//
// # pcre
//
// Patterns are translated to RE2 so that they mean what PCRE2 means in
// Suricata: bytes rather than UTF-8, ASCII-only case folding, \s
// including the vertical tab, \h \v \R \N \C, octal and \x{..} escapes,
// the x flag, $ and \Z also matching before a final newline. Refused,
// with the reason, and the rule skipped: backreferences, lookahead and
// lookbehind, atomic groups, possessive quantifiers, \K, \G,
// recursion and subroutine calls, conditionals, callouts, verbs,
// Unicode properties, \X, code points above 255, {,n}, and the two
// anchor uses whose PCRE meaning RE2 cannot reproduce (a $ followed by
// more pattern, a multiline ^ that can end a match).
//
// # Not implemented
//
// Every keyword in Unsupported is refused with "not supported" and the
// rule skipped; any other unknown keyword is refused as unknown. So are
// the application protocols other than http, dns and tls, byte_extract
// variables as content or byte_test arguments, byte_test's dce option,
// flow's only_frag and no_frag, and threshold tracking by_flow.
package rules

// Unsupported lists Suricata keywords that rampart knows and does not
// implement. A rule using one is reported as "not supported" rather than
// "unknown", so that a user can tell a typo from a missing feature.
var Unsupported = map[string]bool{
	// Payload keywords.
	"byte_jump": true, "byte_extract": true, "byte_math": true, "bsize": true, "absent": true,
	"entropy": true, "base64_decode": true, "base64_data": true, "replace": true, "lua": true,
	"luajit": true, "dataset": true, "datarep": true, "asn1": true, "urilen": true, "bsize_le": true,
	"pcrexform": true, "transform": true, "to_lowercase": true, "to_uppercase": true, "to_md5": true,
	"to_sha1": true, "to_sha256": true, "strip_whitespace": true, "compress_whitespace": true,
	"url_decode": true, "dotprefix": true, "xor": true, "header_lowercase": true, "strip_pseudo_headers": true,
	"from_base64": true, "luaxform": true,
	// Flow and state keywords.
	"flowint": true, "flowvar": true, "pktvar": true, "xbits": true, "hostbits": true, "stream_size": true,
	"flow.age": true, "flow.pkts": true, "flow.bytes": true, "app-layer-protocol": true,
	"app-layer-event": true, "app-layer-state": true, "decode-event": true, "stream-event": true,
	"engine-event": true, "tag": true, "target": true, "requires": true, "config": true, "prefilter": true,
	"iprep": true, "geoip": true, "suppress": true, "rate_filter": true, "alert": true,
	// IP, TCP and ICMP header keywords.
	"sameip": true, "ip_proto": true, "ipopts": true, "fragbits": true, "fragoffset": true, "tos": true,
	"id": true, "ipv4.hdr": true, "ipv6.hdr": true, "seq": true, "ack": true, "window": true,
	"tcp.mss": true, "tcp.hdr": true, "tcp.wscale": true, "udp.hdr": true, "icmp_id": true, "icmp_seq": true,
	"icmpv4.hdr": true, "icmpv6.hdr": true, "icmpv6.mtu": true, "ttl.hdr": true,
	// HTTP keywords beyond the buffers above.
	"http.request_line": true, "http.response_line": true, "http.protocol": true, "http.start": true,
	"http.content_type": true, "http.content_len": true, "http.referer": true, "http.accept": true,
	"http.accept_enc": true, "http.accept_lang": true, "http.connection": true, "http.location": true,
	"http.server": true, "http.response_body": true, "http.request_header": true, "http.response_header": true,
	"http.header_names": true, "http.uri.len": true, "http_request_line": true, "http_response_line": true,
	"http_server_body": true, "http_header_names": true, "http_protocol": true, "http_start": true,
	"http_content_type": true, "http_content_len": true, "http_referer": true, "http_accept": true,
	"http_accept_enc": true, "http_accept_lang": true, "http_connection": true, "http.method.raw": true,
	// Files.
	"filename": true, "fileext": true, "filemagic": true, "filemd5": true, "filesha1": true,
	"filesha256": true, "filesize": true, "filestore": true, "file.name": true, "file.magic": true,
	// DNS and TLS keywords beyond dns.query and tls.sni.
	"dns.opcode": true, "dns.rcode": true, "dns.rrtype": true, "dns.answer.name": true, "dns.query.name": true,
	"dns.queries.rrname": true, "dns.answers.rrname": true, "tls.version": true, "tls.subject": true,
	"tls.issuerdn": true, "tls.cert_subject": true, "tls.cert_issuer": true, "tls.cert_serial": true,
	"tls.cert_fingerprint": true, "tls.certs": true, "tls.cert_chain_len": true, "tls.fingerprint": true,
	"tls.store": true, "tls_cert_notbefore": true, "tls_cert_notafter": true, "tls_cert_expired": true,
	"tls_cert_valid": true, "tls.random": true, "tls.alpn": true, "tls.subjectaltname": true,
	"tls_cert_subject": true, "tls_cert_issuer": true, "tls_cert_serial": true, "tls_cert_fingerprint": true,
	"ja3.hash": true, "ja3.string": true, "ja3s.hash": true, "ja3s.string": true, "ja4.hash": true,
	"ja3_hash": true, "ja3_string": true, "ssl_state": true, "ssl_version": true,
	// Other application protocols' keywords that rules commonly use.
	"ssh.proto": true, "ssh.software": true, "ssh_proto": true, "ssh_software": true, "ssh.protoversion": true,
	"ssh.softwareversion": true, "ssh.hassh": true, "ssh.hassh.server": true, "ftpbounce": true,
	"ftpdata_command": true, "dce_iface": true, "dce_opnum": true, "dce_stub_data": true,
	"smb.named_pipe": true, "smb.share": true, "krb5_cipher": true, "krb5_err_code": true,
	"krb5_msg_type": true, "krb5.cname": true, "krb5.sname": true, "snmp.community": true, "sip.method": true,
	"sip.uri": true, "quic.sni": true, "quic.ua": true, "quic.version": true, "smtp.helo": true,
	"smtp.mail_from": true, "smtp.rcpt_to": true, "mqtt.type": true, "modbus": true, "dnp3_func": true,
	"dnp3_ind": true, "dnp3_obj": true, "dnp3_data": true, "enip_command": true, "cip_service": true,
}
