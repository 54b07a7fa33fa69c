// Package cache is the proxy's shared HTTP cache (RFC 9111): which
// responses may be stored, how old a stored response is and how long it
// stays fresh, the secondary keys of Vary, the update of a stored response
// by a 304, and a memory bound with least-recently-used eviction across
// shards.
//
// It knows nothing of connections or of the proxy's filters: the proxy
// asks Storable and Store with the request and response headers, Lookup
// with a key (the URL) and the request's headers, and decides from
// Entry.Fresh whether to serve, revalidate or fetch.
package cache
