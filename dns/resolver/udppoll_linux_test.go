package resolver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestPolledSocketsConcurrent: many exchanges at once through the shared
// poller, answered out of order and some never, each get the answer to
// their own question, and the slots of the timed-out ones go to later
// exchanges without waking them early.
func TestPolledSocketsConcurrent(t *testing.T) {
	server := udpServer(t, func(q *dns.Msg, send func([]byte)) {
		if q.Question[0].Name[0] == 's' { // "sq…": never answered
			return
		}
		r := new(dns.Msg)
		r.SetReply(q)
		r.Answer = []dns.RR{mustRR(q.Question[0].Name + " 60 IN TXT \"" + q.Question[0].Name + "\"")}
		w, _ := r.Pack()
		go func() {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			send(w)
		}()
	})
	tr := NewNetTransport()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	inFlight := make(chan struct{}, 100)
	for i := range 400 {
		inFlight <- struct{}{}
		wg.Go(func() {
			defer func() { <-inFlight }()
			name := fmt.Sprintf("q%d.example.lab.", i)
			if i%10 == 0 {
				name = "s" + name
			}
			timeout := 5 * time.Second
			if name[0] == 's' {
				timeout = 100 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			m, err := tr.Exchange(ctx, server, testQuery(name, dns.TypeTXT), false)
			switch {
			case name[0] == 's':
				if !isTimeout(err) {
					errs <- fmt.Errorf("%s: %v %v, want a time-out", name, m, err)
				}
			case err != nil:
				errs <- fmt.Errorf("%s: %v", name, err)
			case len(m.Answer) != 1 || m.Answer[0].(*dns.TXT).Txt[0] != name:
				errs <- fmt.Errorf("%s: answer %v", name, m.Answer)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPolledSocketCanceled: an exchange whose try has a distant deadline
// ends as soon as its context is canceled, with the context's error.
func TestPolledSocketCanceled(t *testing.T) {
	server := udpResponder(t, func(*dns.Msg) [][]byte { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	start := time.Now()
	_, err := NewNetTransport().Exchange(withTryDeadline(ctx, time.Now().Add(10*time.Second)), server, testQuery("www.example.lab.", dns.TypeA), false)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}
