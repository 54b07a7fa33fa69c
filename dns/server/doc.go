// Package server is the resolver's front door: UDP and TCP listeners (several
// SO_REUSEPORT sockets per address so that every core reads), the access
// control list that keeps rampart from being an open resolver, the checks
// that answer malformed queries with FORMERR, and the hand-off of each query
// to the wire-form cache (the hit path, which allocates nothing) or to the
// resolver (the slow path, bounded in concurrency). It also serves the local
// control socket that `rampart resolver stats` and `flush` talk to.
//
// It owns no DNS data: answers come from the cache and the resolver, through
// the two small interfaces declared here.
package server
