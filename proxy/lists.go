package proxy

import (
	"context"
	"os"
	"time"

	"github.com/rampart-fw/rampart/proxy/filter"
)

// WatchLists re-reads the filter's list files when they change (size or
// modification time), every interval until ctx ends. A change is read
// once it has held for one interval, so that a file caught half-written
// (truncated, then filled) is not taken. A list that fails to parse is
// logged and the old one kept.
func (s *Server) WatchLists(ctx context.Context, interval time.Duration) {
	type stamp struct {
		size int64
		mod  time.Time
	}
	seen := map[string]stamp{}
	pending := map[string]stamp{}
	look := func(path string) (stamp, bool) {
		fi, err := os.Stat(path)
		if err != nil {
			return stamp{}, false
		}
		return stamp{fi.Size(), fi.ModTime()}, true
	}
	if p := s.cur.Load().cfg.Filter; p != nil {
		for _, f := range p.ListFiles() {
			seen[f], _ = look(f)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := s.cur.Load()
		p := st.cfg.Filter
		if p == nil {
			continue
		}
		changed := false
		for _, f := range p.ListFiles() {
			now, ok := look(f)
			if !ok || now == seen[f] {
				delete(pending, f)
				continue
			}
			if p, ok := pending[f]; !ok || p != now {
				pending[f] = now
				continue
			}
			delete(pending, f)
			seen[f] = now
			data, err := os.ReadFile(f)
			if err == nil {
				var set *filter.HostSet
				if set, err = filter.ParseList(f, data); err == nil {
					p = p.WithList(set)
					changed = true
					s.log.Info("block list reloaded", "file", f, "entries", set.Len())
					continue
				}
			}
			s.log.Error("block list refused; the old one stays", "file", f, "err", err)
		}
		if changed {
			cfg := st.cfg
			cfg.Filter = p
			// Only if no reload came in between; else the next tick
			// looks again (the stamps say nothing changed, so that
			// reload's own reading of the files stands).
			next := *st
			next.cfg = cfg
			s.cur.CompareAndSwap(st, &next)
		}
	}
}
