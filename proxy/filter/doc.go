// Package filter decides whether a request may leave through the proxy:
// sets of host names (exact, or a leading dot for the name and every name
// under it, as Squid's dstdomain), regular expressions on the full URL,
// methods, client networks and times of day, in allow and block lists and
// in ordered rules; and the list files that ad-block lists come in (hosts
// file, domain list, Adblock Plus "||domain^" lines).
//
// It judges a Request value and names the rule that decided. It knows
// nothing of connections, HTTP messages or configuration files: the proxy
// fills in the Request, and the command line builds the Policy with the
// positions of the keys it came from.
package filter
