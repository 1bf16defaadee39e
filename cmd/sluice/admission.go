package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/admission"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/image"
)

func newAdmissionCmd(g *globals) *cobra.Command {
	var listen, certFile, keyFile, pub, cfgFile string
	var allow []string
	cmd := &cobra.Command{
		Use:   "admission --tls-cert FILE --tls-key FILE [--key signing.key.pub] [--config sluice.yml] [--listen :8443] [--allow PREFIX]",
		Short: "Serve the validating admission webhook: the cluster refuses pods whose image is not a digest signed by this installation, with the attestations its namespace requires",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile == "" || keyFile == "" {
				return fmt.Errorf("the API server calls the webhook over TLS: give --tls-cert and --tls-key (deploy/kubernetes/admission makes them a Secret)")
			}
			v, err := image.LoadVerifierFile(pub)
			if err != nil {
				return fmt.Errorf("%w (pass --key: the worker's signing key's .pub)", err)
			}
			wh := &admission.Webhook{Verifier: v, Allow: allow, Log: g.logger()}
			if cfgFile != "" {
				cfg, err := config.Load(cfgFile)
				if err != nil {
					return err
				}
				wh.Attestations = admission.AttestationsOf(cfg.Projects)
			}
			mux := http.NewServeMux()
			mux.Handle("POST /validate", wh)
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
			srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 15 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(shut)
			}()
			g.logger().Info("admission webhook listening", "addr", listen, "namespaces_with_attestations", len(wh.Attestations), "allowed_prefixes", allow)
			fmt.Fprintf(g.stdout, "Sluice admission webhook on https://%s/validate\n", listen)
			if err := srv.ListenAndServeTLS(certFile, keyFile); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":8443", "address to serve HTTPS on")
	f.StringVar(&certFile, "tls-cert", "", "TLS certificate the API server trusts (the webhook configuration's caBundle signs it)")
	f.StringVar(&keyFile, "tls-key", "", "its private key")
	f.StringVar(&pub, "key", filepath.Join(".sluice", "signing.key.pub"), "this installation's public signing key")
	f.StringVar(&cfgFile, "config", "", "server configuration: the attestations each production namespace requires (projects[].environments.production.attestations)")
	f.StringSliceVar(&allow, "allow", nil, "image name prefixes that need only a digest, not Sluice's signature (a mirror of third-party images); repeat or comma-separate")
	return cmd
}
