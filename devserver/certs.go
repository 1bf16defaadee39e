package devserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pemPair is a CA's certificate and one certificate it signed, with its
// key, in PEM.
type pemPair struct{ ca, cert, key []byte }

// issueCerts makes a CA and one certificate it signed for servers and
// clients alike, valid for ips and names for ten years. The CA's key is
// not kept.
func issueCerts(caName, name string, ips []net.IP, names []string) (pemPair, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pemPair{}, err
	}
	now := time.Now()
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		return n
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: caName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return pemPair{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return pemPair{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pemPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: ips, DNSNames: names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return pemPair{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return pemPair{}, err
	}
	block := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	return pemPair{ca: block("CERTIFICATE", caDER), cert: block("CERTIFICATE", der), key: block("EC PRIVATE KEY", kder)}, nil
}

// hostIPs are the addresses a certificate for a server bound on ip must
// name: ip itself, or every address of this machine when ip is 0.0.0.0
// or ::, and loopback always.
func hostIPs(ip string) []net.IP {
	out := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	parsed := net.ParseIP(ip)
	if parsed != nil && !parsed.IsUnspecified() {
		return append(out, parsed)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			out = append(out, n.IP)
		}
	}
	return out
}

// EnsureTLS returns the frontend certificate kept in dir, making it on
// first use: a CA (ca.pem, for clients to trust) and the frontend's
// certificate (frontend.pem, frontend-key.pem) for ip, this machine's
// name and localhost. Delete dir to make new ones (after binding another
// address, say).
func EnsureTLS(dir, ip string) (*TLS, error) {
	t := &TLS{RootCAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "frontend.pem"), KeyFile: filepath.Join(dir, "frontend-key.pem")}
	_, errCA := os.Stat(t.RootCAFile)
	_, errCert := os.Stat(t.CertFile)
	_, errKey := os.Stat(t.KeyFile)
	if errCA == nil && errCert == nil && errKey == nil {
		return t, nil
	}
	if !errors.Is(errCA, os.ErrNotExist) && errCA != nil {
		return nil, errCA
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil {
		names = append(names, h)
	}
	pair, err := issueCerts("sluice embedded Temporal CA", "temporal-frontend", hostIPs(ip), names)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for path, b := range map[string][]byte{t.RootCAFile: pair.ca, t.CertFile: pair.cert, t.KeyFile: pair.key} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("temporal TLS: %w", err)
		}
	}
	return t, nil
}
