package srcpos

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"testing"
)

func TestPosAndErrorFormat(t *testing.T) {
	tests := []struct {
		pos      Pos
		pos2str  string
		errorStr string
	}{
		{Pos{"a.conf", 3, 7}, "a.conf:3:7", "a.conf:3:7: bad value"},
		{Pos{"a.conf", 3, 0}, "a.conf:3", "a.conf:3: bad value"},
		{Pos{"a.conf", 0, 0}, "a.conf", "a.conf: bad value"},
		{Pos{"a.conf", 0, 9}, "a.conf", "a.conf: bad value"},
		{Pos{"", 3, 7}, "3:7", "3:7: bad value"},
		{Pos{"", 3, 0}, "3", "3: bad value"},
		{Pos{}, "", "bad value"},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.pos2str {
			t.Errorf("%#v.String() = %q, want %q", tt.pos, got, tt.pos2str)
		}
		if got := tt.pos.Errorf("bad %s", "value").Error(); got != tt.errorStr {
			t.Errorf("%#v.Errorf(...).Error() = %q, want %q", tt.pos, got, tt.errorStr)
		}
		if tt.pos.IsValid() != (tt.pos.Line > 0) {
			t.Errorf("%#v.IsValid() = %v", tt.pos, tt.pos.IsValid())
		}
	}
}

func TestErrorWraps(t *testing.T) {
	p := Pos{"c.yaml", 4, 11}
	e := p.Errorf("gateway.policy: %w", fs.ErrNotExist)
	if got, want := e.Error(), "c.yaml:4:11: gateway.policy: file does not exist"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(e, fs.ErrNotExist) || e.Unwrap() != fs.ErrNotExist {
		t.Errorf("%v does not wrap fs.ErrNotExist", e)
	}
	two := p.Errorf("%w and %w", fs.ErrNotExist, fs.ErrPermission)
	if !errors.Is(two, fs.ErrNotExist) || !errors.Is(two, fs.ErrPermission) {
		t.Errorf("%v does not wrap both", two)
	}
	if plain := p.Errorf("no %s here", "wrap"); plain.Err != nil || plain.Unwrap() != nil {
		t.Errorf("%v wraps %v", plain, plain.Err)
	}
}

func TestListCollectsSortsAndStops(t *testing.T) {
	var l List
	if l.Err() != nil {
		t.Fatal("empty list is an error")
	}
	l.Add(Pos{"main.zone", 9, 1}.Errorf("third"))
	l.Add(nil)
	l.Add((*Error)(nil))
	l.Add(Pos{"main.zone", 2, 5}.Errorf("second"))
	l.Add(Pos{"inc.zone", 1, 1}.Errorf("in the included file"))
	l.Add(Pos{"main.zone", 2, 1}.Errorf("first"))
	l.Add(errors.New("plain"))
	l.Add(Pos{File: "main.zone"}.Errorf("whole file"))
	l.Sort()
	// Files rank by first appearance: main.zone, inc.zone, then "" (plain).
	want := "main.zone: whole file\n" +
		"main.zone:2:1: first\n" +
		"main.zone:2:5: second\n" +
		"main.zone:9:1: third\n" +
		"inc.zone:1:1: in the included file\n" +
		"plain"
	if got := l.Err().Error(); got != want {
		t.Errorf("list:\n%s\nwant:\n%s", got, want)
	}
	var e *Error
	if !errors.As(l.Err(), &e) || e.Msg != "whole file" {
		t.Errorf("errors.As(*Error) = %v", e)
	}
	var back List
	if !errors.As(fmt.Errorf("load: %w", l), &back) || len(back) != 6 {
		t.Errorf("errors.As(List) through a wrap: %d errors", len(back))
	}
	if !errors.Is(l, l[5].Err) {
		t.Error("errors.Is does not reach a wrapped plain error")
	}

	var many List
	for i := 1; i <= 100; i++ {
		more := many.Add(Pos{"big.rules", i, 1}.Errorf("error %d", i))
		if more != (i < MaxErrors) {
			t.Fatalf("Add of error %d returned %v", i, more)
		}
	}
	if len(many) != MaxErrors+1 || !many.Full() {
		t.Fatalf("%d errors, want %d", len(many), MaxErrors+1)
	}
	last := many[len(many)-1]
	if last.Error() != "big.rules:"+strconv.Itoa(MaxErrors)+":1: too many errors, stopping" {
		t.Errorf("last entry %q", last)
	}
	many[0], many[1] = many[1], many[0]
	many.Sort()
	if many[0].Pos.Line != 1 || many[len(many)-1] != last {
		t.Errorf("sort of a full list: first %v, last %v", many[0], many[len(many)-1])
	}

	var merged List
	merged.Add(Pos{"a", 1, 1}.Errorf("own"))
	merged.Add(List{Pos{"b", 1, 1}.Errorf("one"), Pos{"b", 2, 1}.Errorf("two")})
	if got := merged.Error(); got != "a:1:1: own\nb:1:1: one\nb:2:1: two" {
		t.Errorf("merged list %q", got)
	}
}

func TestAsList(t *testing.T) {
	if AsList(nil) != nil {
		t.Error("AsList(nil) is not nil")
	}
	l := List{Pos{"x", 1, 1}.Errorf("a"), Pos{"x", 2, 1}.Errorf("b")}
	if got := AsList(fmt.Errorf("wrapped: %w", l)); len(got) != 2 {
		t.Errorf("AsList of a wrapped list: %v", got)
	}
	one := Pos{"x", 3, 1}.Errorf("c")
	if got := AsList(one); len(got) != 1 || got[0] != one {
		t.Errorf("AsList of an *Error: %v", got)
	}
	if got := AsList(errors.New("plain")); len(got) != 1 || got[0].Error() != "plain" {
		t.Errorf("AsList of a plain error: %v", got)
	}
}
