// Command gateway measures rampart's firewall gateway against the Linux
// kernel with nftables in the lab, in one run on the same machine, hosts
// and traffic: UDP packets per second and loss, TCP connections per second,
// and TCP bulk throughput (iperf3), from the outside host web to the inside
// host client2 through a generated stateful policy of -rules rules whose
// last rules allow the test traffic, so that every new connection is
// classified against the whole set.
//
// rampart bridges the fw host's lan and wan (the lab's bump in the wire)
// while gw only routes. This kernel has no bridge-family connection
// tracking, so for nftables fw stays a plain kernel bridge and gw, the
// router on the same path, filters with an inet forward chain holding the
// same rules in the same order. With -baseline, the lab with no filter at
// all gives the ceiling of the path. The rule set is written out in both
// languages from one list, and rampart's own parser and linear classifier
// confirm before the lab starts that the test flows are decided by the last
// rules.
//
// With -nat it measures address translation instead: client2 to web,
// outgoing, translated to gw's wan address by rampart in router mode on gw
// (its kernel's addresses taken away for the run and given back after)
// against gw's kernel routing with an nftables masquerade chain, fw a
// kernel bridge in both.
//
// With -profile DIR it also records, for each round's UDP and TCP runs
// through rampart, the gateway's CPU profile (from /debug/pprof/ on its
// metrics listener), its system calls counted and a perf record with the
// kernel's side (when perf is installed): read them with `go tool pprof
// bin/rampart DIR/round1-udp.pprof` and `perf report -i
// DIR/round1-udp.perf`.
//
// It owns the benchmark only; it knows nothing of how the gateway forwards
// and reads only what crosses the lab's interfaces. Run it through run.sh,
// as root.
package main
