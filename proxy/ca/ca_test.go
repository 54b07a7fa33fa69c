package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

func TestInitAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	if err := Init(dir, "test CA"); err != nil {
		t.Fatal(err)
	}
	for file, mode := range map[string]os.FileMode{CertFile: 0o644, KeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, file))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %04o, want %04o", file, err, fi.Mode().Perm(), mode)
		}
	}
	if err := Init(dir, "again"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second Init: %v", err)
	}
	a, err := Load(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := a.Certificate()
	if !c.IsCA || c.Subject.CommonName != "test CA" || c.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA %v", c.Subject)
	}
	if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("CA key %T", c.PublicKey)
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o640)
	if _, err := Load(dir, 0, nil); !errors.Is(err, ErrKeyMode) {
		t.Errorf("group-readable key: %v", err)
	}
}

func TestLeaf(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, "test CA"); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	a, err := Load(dir, 2, clk)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.Certificate())
	for _, host := range []string{"secure.test", "203.0.113.80", "::1"} {
		cert, err := a.Leaf(host)
		if err != nil {
			t.Fatal(err)
		}
		if len(cert.Certificate) != 2 {
			t.Errorf("%s: chain of %d", host, len(cert.Certificate))
		}
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: clk.Now()}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "other.test", Roots: roots, CurrentTime: clk.Now()}); err == nil {
			t.Errorf("%s's leaf verifies for other.test", host)
		}
	}
	// Bounded: two cached, the oldest gone.
	if st := a.Stats(); st.Cached != 2 || st.Issued != 3 {
		t.Errorf("stats %+v", st)
	}
	first, _ := a.Leaf("::1")
	again, _ := a.Leaf("::1")
	if first != again || a.Stats().CacheHits != 2 {
		t.Errorf("not cached: %+v", a.Stats())
	}
	// Renewed before it runs out.
	clk.Advance(leafValidity - leafRenew + time.Minute)
	renewed, _ := a.Leaf("::1")
	if renewed == first {
		t.Error("a leaf about to expire was served")
	}
}

func TestLeafConcurrent(t *testing.T) {
	dir := t.TempDir()
	Init(dir, "test CA")
	a, err := Load(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Leaf(fmt.Sprintf("h%d.test", i%4)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if st := a.Stats(); st.Issued != 4 {
		t.Errorf("issued %d leaves for 4 hosts", st.Issued)
	}
}

func BenchmarkLeafCached(b *testing.B) {
	dir := b.TempDir()
	Init(dir, "test CA")
	a, _ := Load(dir, 0, nil)
	a.Leaf("secure.test")
	b.ReportAllocs()
	for b.Loop() {
		a.Leaf("secure.test")
	}
}
