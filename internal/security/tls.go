package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLS configures transport security. A node's listeners serve CertFile and
// KeyFile; as a caller it trusts CAFile (the system roots when empty) and,
// when it has a certificate, presents it (mutual TLS).
type TLS struct {
	CertFile string
	KeyFile  string
	CAFile   string
	// ClientAuth makes listeners require a client certificate signed by
	// CAFile (mutual TLS).
	ClientAuth bool
	// ServerName overrides the name checked in server certificates
	// (default: the host dialled).
	ServerName string
}

// Enabled reports whether listeners and callers use TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" }

// Validate checks the settings a server needs and that the files load.
func (t TLS) Validate(server bool) error {
	if !t.Enabled() {
		if t.ClientAuth {
			return errors.New("--tls-client-auth needs --tls-cert, --tls-key and --tls-ca")
		}
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("--tls-cert and --tls-key must be set together")
	}
	if server && t.CertFile == "" {
		return errors.New("TLS on a listener needs --tls-cert and --tls-key")
	}
	if t.ClientAuth && t.CAFile == "" {
		return errors.New("--tls-client-auth needs --tls-ca to verify client certificates")
	}
	if _, err := t.ServerConfig(); server && err != nil {
		return err
	}
	_, err := t.ClientConfig()
	return err
}

func (t TLS) pool() (*x509.CertPool, error) {
	if t.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", t.CAFile)
	}
	return p, nil
}

func (t TLS) cert() ([]tls.Certificate, error) {
	if t.CertFile == "" {
		return nil, nil
	}
	c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", t.CertFile, t.KeyFile, err)
	}
	return []tls.Certificate{c}, nil
}

// ServerConfig is the tls.Config of a listener (gRPC, Flight, admin HTTP).
func (t TLS) ServerConfig() (*tls.Config, error) {
	certs, err := t.cert()
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("TLS on a listener needs --tls-cert and --tls-key")
	}
	cfg := &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}
	if t.ClientAuth {
		if cfg.ClientCAs, err = t.pool(); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// AdminConfig is the tls.Config of an HTTP admin port: the node's
// certificate, without asking probes and scrapers for client certificates;
// nil when TLS is off.
func (t TLS) AdminConfig() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	t.ClientAuth = false
	return t.ServerConfig()
}

// ClientConfig is the tls.Config of a caller.
func (t TLS) ClientConfig() (*tls.Config, error) {
	roots, err := t.pool()
	if err != nil {
		return nil, err
	}
	certs, err := t.cert()
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: roots, Certificates: certs, ServerName: t.ServerName, MinVersion: tls.VersionTLS12}, nil
}

// ServerOption is the transport of a gRPC listener: TLS or plain.
func (t TLS) ServerOption() ([]grpc.ServerOption, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cfg, err := t.ServerConfig()
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}, nil
}

// DialOption is the transport of a gRPC caller: TLS or plain.
func (t TLS) DialOption() (grpc.DialOption, error) {
	if !t.Enabled() {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	cfg, err := t.ClientConfig()
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}

// Config is a node's whole security setting.
type Config struct {
	Secrets Secrets
	// SecretFiles name files holding the secrets (see LoadSecretFiles).
	SecretFiles Secrets
	// PrincipalsFile names the file of Secrets.Principals.
	PrincipalsFile string
	TLS            TLS
}

// Validate checks both halves; server says whether the node listens.
func (c Config) Validate(server bool) error {
	if err := c.Secrets.Validate(); err != nil {
		return err
	}
	return c.TLS.Validate(server)
}

// DialOptions are what a node of type node dials with: its transport and
// its credentials.
func (c Config) DialOptions(node NodeType) ([]grpc.DialOption, error) {
	tr, err := c.TLS.DialOption()
	if err != nil {
		return nil, err
	}
	return append([]grpc.DialOption{tr}, c.Secrets.DialOption(node, c.TLS.Enabled())...), nil
}

// ServerOptions are a listener's transport and authentication.
func (c Config) ServerOptions(a *Authenticator) ([]grpc.ServerOption, error) {
	opts, err := c.TLS.ServerOption()
	if err != nil {
		return nil, err
	}
	return append(opts, a.ServerOptions()...), nil
}
