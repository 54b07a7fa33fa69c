package resolver

// lru is a bounded map with least-recently-used eviction. It is not safe for
// concurrent use; its owner locks. Reads and updates of present keys do not
// allocate.
type lru[K comparable, V any] struct {
	max   int
	items map[K]*lruNode[K, V]
	root  lruNode[K, V] // sentinel of a circular list, most recent first
}

type lruNode[K comparable, V any] struct {
	key        K
	val        V
	prev, next *lruNode[K, V]
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	l := &lru[K, V]{max: max, items: make(map[K]*lruNode[K, V])}
	l.root.next, l.root.prev = &l.root, &l.root
	return l
}

func (l *lru[K, V]) len() int { return len(l.items) }

// get returns a pointer to the value of k, marking it recently used, or nil.
func (l *lru[K, V]) get(k K) *V {
	n := l.items[k]
	if n == nil {
		return nil
	}
	l.moveFront(n)
	return &n.val
}

// peek returns a pointer to the value of k without touching its recency.
func (l *lru[K, V]) peek(k K) *V {
	if n := l.items[k]; n != nil {
		return &n.val
	}
	return nil
}

// put returns a pointer to the value of k, creating a zero value if needed.
// created reports a new entry; evicted reports that the least recently used
// entry was dropped to make room for it.
func (l *lru[K, V]) put(k K) (v *V, created, evicted bool) {
	if n := l.items[k]; n != nil {
		l.moveFront(n)
		return &n.val, false, false
	}
	if len(l.items) >= l.max {
		victim := l.root.prev
		l.unlink(victim)
		delete(l.items, victim.key)
		evicted = true
	}
	n := &lruNode[K, V]{key: k}
	l.items[k] = n
	l.pushFront(n)
	return &n.val, true, evicted
}

func (l *lru[K, V]) remove(k K) {
	if n := l.items[k]; n != nil {
		l.unlink(n)
		delete(l.items, k)
	}
}

func (l *lru[K, V]) moveFront(n *lruNode[K, V]) {
	if l.root.next == n {
		return
	}
	l.unlink(n)
	l.pushFront(n)
}

func (l *lru[K, V]) unlink(n *lruNode[K, V]) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}

func (l *lru[K, V]) pushFront(n *lruNode[K, V]) {
	n.prev = &l.root
	n.next = l.root.next
	l.root.next.prev = n
	l.root.next = n
}
