// Package ca is the proxy's local certificate authority for TLS
// interception: it creates the CA (an ECDSA P-256 key and a self-signed
// certificate, the key readable by its owner only), loads it, and issues
// leaf certificates for the hosts the proxy intercepts, on the fly, kept
// in a bounded cache.
//
// It knows nothing of which hosts are intercepted or of the upstream
// servers' certificates; the proxy decides and verifies those.
package ca

import (
	"container/list"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

// The files of a CA folder: the certificate, for clients to trust, and
// the key, mode 0600.
const (
	CertFile = "ca.pem"
	KeyFile  = "ca.key"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 30 * 24 * time.Hour
	// leafRenew is how long before its end a cached leaf is replaced.
	leafRenew = 24 * time.Hour
	// leafBackdate covers clients whose clocks run a little behind.
	leafBackdate = time.Hour
	// DefaultCacheSize bounds the cached leaf certificates.
	DefaultCacheSize = 1024
)

// Init creates a CA in dir (made with mode 0700 if missing): dir/ca.pem
// (mode 0644) and dir/ca.key (mode 0600). It refuses to overwrite an
// existing CA: clients trust the old one.
func Init(dir string, name string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: remove the old CA first if you mean to replace it (clients trust it)", p)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"rampart"}},
		NotBefore:             now.Add(-leafBackdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key first, created with its final mode, so that it is never
	// readable by others even for a moment.
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	return nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil { // whatever the umask
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

// Authority issues leaf certificates. It is safe for concurrent use.
type Authority struct {
	cert    *x509.Certificate
	certDER []byte
	key     *ecdsa.PrivateKey
	// leafKey is the key of every leaf: leaves are issued per host, and
	// a key per leaf would add a key generation to every first visit
	// without making the proxy safer (all keys live in this process).
	leafKey *ecdsa.PrivateKey
	clock   clock.Clock
	max     int

	mu       sync.Mutex
	leaves   map[string]*list.Element // guarded by mu: host -> *leaf in lru
	lru      *list.List               // guarded by mu: most recent first
	inflight map[string]chan struct{} // guarded by mu: hosts being issued

	issued, hits atomic.Uint64
}

type leaf struct {
	host string
	cert *tls.Certificate
}

// ErrKeyMode is returned by Load when the CA key is readable by others.
var ErrKeyMode = errors.New("CA key is readable by others")

// Load reads the CA in dir. It refuses a key file that anyone but its
// owner may read or write. cacheSize bounds the cached leaves (0: the
// default); c is the clock of validity periods (nil: the system's).
func Load(dir string, cacheSize int, c clock.Clock) (*Authority, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %w (mode %04o, want 0600): chmod 600 it", keyPath, ErrKeyMode, fi.Mode().Perm())
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: not a CA certificate", certPath)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM key", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		if k2, err2 := x509.ParseECPrivateKey(kb.Bytes); err2 == nil {
			k, err = k2, nil
		} else {
			return nil, fmt.Errorf("%s: %w", keyPath, err)
		}
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s: not the ECDSA key of %s", keyPath, certPath)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	return &Authority{cert: cert, certDER: cb.Bytes, key: key, leafKey: leafKey, clock: clock.Or(c),
		max: cacheSize, leaves: map[string]*list.Element{}, lru: list.New(), inflight: map[string]chan struct{}{}}, nil
}

// Certificate is the CA's certificate.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// Leaf returns a certificate for host (a name or an IP address), from the
// cache or issued now; concurrent first requests for one host issue once.
func (a *Authority) Leaf(host string) (*tls.Certificate, error) {
	for {
		a.mu.Lock()
		if el, ok := a.leaves[host]; ok {
			l := el.Value.(*leaf)
			if a.clock.Now().Add(leafRenew).Before(l.cert.Leaf.NotAfter) {
				a.lru.MoveToFront(el)
				a.mu.Unlock()
				a.hits.Add(1)
				return l.cert, nil
			}
		}
		if ch, ok := a.inflight[host]; ok {
			a.mu.Unlock()
			<-ch
			continue
		}
		ch := make(chan struct{})
		a.inflight[host] = ch
		a.mu.Unlock()

		cert, err := a.issue(host)

		a.mu.Lock()
		delete(a.inflight, host)
		close(ch)
		if err == nil {
			if el, ok := a.leaves[host]; ok {
				a.lru.Remove(el)
			}
			a.leaves[host] = a.lru.PushFront(&leaf{host: host, cert: cert})
			for a.lru.Len() > a.max {
				old := a.lru.Back()
				a.lru.Remove(old)
				delete(a.leaves, old.Value.(*leaf).host)
			}
		}
		a.mu.Unlock()
		if err == nil {
			a.issued.Add(1)
		}
		return cert, err
	}
}

func (a *Authority) issue(host string) (*tls.Certificate, error) {
	now := a.clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-leafBackdate),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(a.cert.NotAfter) {
		tmpl.NotAfter = a.cert.NotAfter
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &a.leafKey.PublicKey, a.key)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, a.certDER}, PrivateKey: a.leafKey, Leaf: parsed}, nil
}

// Stats are the leaves issued and the leaves served from the cache.
type Stats struct {
	Issued, CacheHits uint64
	Cached            int
}

// Stats returns the counters.
func (a *Authority) Stats() Stats {
	a.mu.Lock()
	n := a.lru.Len()
	a.mu.Unlock()
	return Stats{Issued: a.issued.Load(), CacheHits: a.hits.Load(), Cached: n}
}
