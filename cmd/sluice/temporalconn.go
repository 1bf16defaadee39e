package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
)

// temporalConn is how a command reaches an external Temporal: TLS (with the
// system's roots or a CA file), mutual TLS (a client certificate), and an
// API key, which is what Temporal Cloud and self-hosted clusters with
// authorization need.
type temporalConn struct {
	tls        bool
	caFile     string
	certFile   string
	keyFile    string
	serverName string
	apiKeyFile string
}

func (t *temporalConn) addFlags(pf *pflag.FlagSet) {
	pf.BoolVar(&t.tls, "temporal-tls", false, "connect to Temporal over TLS, trusting the system's CAs (implied by the other --temporal-tls-* flags)")
	pf.StringVar(&t.caFile, "temporal-tls-ca", "", "PEM file of the CA that signed the Temporal frontend's certificate")
	pf.StringVar(&t.certFile, "temporal-tls-cert", "", "PEM client certificate for mutual TLS (re-read at every connection, so a rotated certificate is picked up)")
	pf.StringVar(&t.keyFile, "temporal-tls-key", "", "PEM private key of --temporal-tls-cert")
	pf.StringVar(&t.serverName, "temporal-tls-server-name", "", "name to verify in the frontend's certificate (default: the host of --temporal-address)")
	pf.StringVar(&t.apiKeyFile, "temporal-api-key-file", "", "file holding a Temporal API key, sent as a bearer token (else SLUICE_TEMPORAL_API_KEY); needs TLS")
}

// apply sets the connection's TLS and credentials on opts. Files are read
// now, so a missing or bad one is an error at start, not at first use.
func (t *temporalConn) apply(opts *client.Options) error {
	useTLS := t.tls || t.caFile != "" || t.certFile != "" || t.keyFile != "" || t.serverName != ""
	if useTLS {
		conf, err := t.tlsConfig()
		if err != nil {
			return err
		}
		opts.ConnectionOptions.TLS = conf
	}
	key, err := t.apiKey()
	if err != nil {
		return err
	}
	if key != "" {
		if !useTLS {
			return errors.New("a Temporal API key over a plaintext connection can be read by anyone on the way: add --temporal-tls (or --temporal-tls-ca)")
		}
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	return nil
}

func (t *temporalConn) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.serverName}
	if t.caFile != "" {
		pem, err := os.ReadFile(t.caFile)
		if err != nil {
			return nil, fmt.Errorf("--temporal-tls-ca: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--temporal-tls-ca %s: no PEM certificate in it", t.caFile)
		}
	}
	if (t.certFile == "") != (t.keyFile == "") {
		return nil, errors.New("--temporal-tls-cert and --temporal-tls-key go together: give both for mutual TLS, or neither")
	}
	if t.certFile != "" {
		load := func() (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
			if err != nil {
				return nil, fmt.Errorf("temporal client certificate %s / %s: %w", t.certFile, t.keyFile, err)
			}
			return &c, nil
		}
		if _, err := load(); err != nil {
			return nil, err
		}
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return load() }
	}
	return conf, nil
}

func (t *temporalConn) apiKey() (string, error) {
	if t.apiKeyFile == "" {
		return strings.TrimSpace(os.Getenv("SLUICE_TEMPORAL_API_KEY")), nil
	}
	b, err := os.ReadFile(t.apiKeyFile)
	if err != nil {
		return "", fmt.Errorf("--temporal-api-key-file: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("--temporal-api-key-file %s is empty", t.apiKeyFile)
	}
	return key, nil
}
