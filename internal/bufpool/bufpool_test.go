package bufpool

import "testing"

func TestClasses(t *testing.T) {
	p := New(7, 17)
	for _, tc := range []struct {
		n    int
		c    Class
		size int
	}{{0, 0, 128}, {1, 0, 128}, {128, 0, 128}, {129, 1, 256}, {1500, 4, 2048}, {65535, 9, 65536}, {1 << 17, 10, 1 << 17}} {
		if c := p.ClassOf(tc.n); c != tc.c || p.Size(c) != tc.size {
			t.Errorf("%d bytes: class %d of %d bytes, want %d of %d", tc.n, c, p.Size(c), tc.c, tc.size)
		}
	}
	if p.MaxSize() != 1<<17 {
		t.Errorf("max %d", p.MaxSize())
	}
}

func TestReuse(t *testing.T) {
	p := New(9, 12)
	a := p.Get(1)
	if len(a) != 1024 || p.Idle() != 0 {
		t.Fatalf("len %d idle %d", len(a), p.Idle())
	}
	a[0] = 'x'
	p.Put(a[:10], 1, 4096)
	if p.Idle() != 1024 {
		t.Fatalf("idle %d", p.Idle())
	}
	if b := p.Get(1); &b[0] != &a[0] || len(b) != 1024 || p.Idle() != 0 {
		t.Errorf("not reused: len %d idle %d", len(b), p.Idle())
	}
	// Over the limit, a buffer is let go.
	p.Put(make([]byte, 4096), 3, 4096)
	p.Put(make([]byte, 512), 0, 4096)
	if p.Idle() != 4096 {
		t.Errorf("idle %d after a put over the limit", p.Idle())
	}
	p.Put(make([]byte, 512), 0, 8192)
	p.Shed(100)
	if p.Idle() != 512 {
		t.Errorf("idle %d after shedding: the largest should go first", p.Idle())
	}
	p.Shed(1 << 20)
	if p.Idle() != 0 {
		t.Errorf("idle %d after shedding everything", p.Idle())
	}
	if n := testing.AllocsPerRun(100, func() { p.Put(p.Get(2), 2, 1<<20) }); n != 0 {
		t.Errorf("%v allocations per reuse", n)
	}
}
