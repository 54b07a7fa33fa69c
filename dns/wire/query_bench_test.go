package wire

import (
	"testing"

	"github.com/miekg/dns"
)

func BenchmarkQueryWalk(b *testing.B) {
	m := new(dns.Msg)
	m.SetQuestion("wWw.ExAmPlE.", dns.TypeA)
	m.SetEdns0(1232, false)
	q := pack(b, m)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var r Reader
		r.Reset(q)
		qq, ok := r.Question()
		if !ok || qq.Compressed() {
			b.Fatal("q")
		}
		rr, found := r.OPT()
		if !found {
			b.Fatal("opt")
		}
		if _, _, valid := rr.Options(q).Find(OptionCookie); !valid {
			b.Fatal("opts")
		}
	}
}

func BenchmarkQuestionOnly(b *testing.B) {
	m := new(dns.Msg)
	m.SetQuestion("wWw.ExAmPlE.", dns.TypeA)
	m.SetEdns0(1232, false)
	q := pack(b, m)
	for i := 0; i < b.N; i++ {
		var r Reader
		r.Reset(q)
		if _, ok := r.Question(); !ok {
			b.Fatal("q")
		}
	}
}

func BenchmarkSkipOnly(b *testing.B) {
	m := new(dns.Msg)
	m.SetQuestion("wWw.ExAmPlE.", dns.TypeA)
	m.SetEdns0(1232, false)
	q := pack(b, m)
	for i := 0; i < b.N; i++ {
		if _, _, r := skipName(q, 12); r != 0 {
			b.Fatal("q")
		}
	}
}
