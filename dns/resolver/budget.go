package resolver

import (
	"context"
	"sync/atomic"
)

// budget is the upstream work one client query may still cause, shared by
// every resolution made on its behalf: the answer's, its name-server
// address lookups, and the DS and DNSKEY fetches of a validator that asks
// with the context WithBudget returned. It is the context itself, so that
// carrying it costs one allocation per client query and no lookup table.
type budget struct {
	context.Context
	max  int32
	sent atomic.Int32 // upstream queries charged so far
}

// budgetKey is the context key under which a budget finds itself.
type budgetKey struct{}

func (b *budget) Value(key any) any {
	if key == (budgetKey{}) {
		return b
	}
	return b.Context.Value(key)
}

// take charges one upstream query, and reports whether the budget allowed
// it.
func (b *budget) take() bool { return b.sent.Add(1) <= b.max }

// budgetOf returns the budget ctx carries, or nil.
func budgetOf(ctx context.Context) *budget {
	b, _ := ctx.Value(budgetKey{}).(*budget)
	return b
}

// WithBudget returns a context under which every resolution draws on one
// budget of Config.MaxUpstreamQueries upstream queries, however many
// Resolve calls share it: a validating layer asks for one per client
// query and passes it to each of its DS and DNSKEY fetches, so that the
// work of validation is bounded with the answer's rather than each fetch
// getting a fresh budget (Unbound's max-global-quota bounds a query and
// its subqueries alike). A context that carries a budget already keeps it.
func (r *Resolver) WithBudget(ctx context.Context) context.Context {
	if budgetOf(ctx) != nil {
		return ctx
	}
	return &budget{Context: ctx, max: int32(min(r.cfg.MaxUpstreamQueries, 1<<30))}
}
