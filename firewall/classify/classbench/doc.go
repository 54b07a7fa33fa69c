// Package classbench generates synthetic 5-tuple rule sets and packet traces
// in the manner of ClassBench (Taylor and Turner, 2005), for benchmarks and
// for comparisons with other firewalls: access-control-list style sets,
// firewall style sets, and traces whose headers fall inside the rules.
//
// It does not read ClassBench's seed files. Its distributions are built in
// and follow the shapes the ClassBench paper reports for its acl and fw
// seeds: the protocol mix, the five port classes (wildcard, the low and
// high ranges, an arbitrary range, an exact port) with their joint
// frequencies, the joint distribution of source and destination prefix
// lengths, and addresses drawn from a skewed set of networks so that
// prefixes nest and overlap as they do in real rule sets. Everything is
// deterministic for a given seed.
//
// The package refuses to know about any classifier: it produces rules, their
// text in the rule language, and headers.
package classbench
