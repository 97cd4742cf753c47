package main

import (
	"fmt"

	"github.com/kapot-go/kapot/client"
	"github.com/kapot-go/kapot/internal/config"
	"github.com/kapot-go/kapot/internal/security"
)

// dialScheduler connects a client command to the scheduler at addr with the
// command's --secret and --tls-* flags.
func dialScheduler(addr string, sec security.Config) (*client.Client, error) {
	if err := sec.TLS.Validate(false); err != nil {
		return nil, fmt.Errorf("%v: %w", err, config.ErrInvalid)
	}
	var opts []client.Option
	if sec.Secrets.Client != "" {
		opts = append(opts, client.WithSecret(sec.Secrets.Client))
	}
	if sec.TLS.Enabled() {
		cfg, err := sec.TLS.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, config.ErrInvalid)
		}
		opts = append(opts, client.WithTLS(cfg))
	}
	return client.Dial(addr, nil, opts...)
}
