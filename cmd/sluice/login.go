package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/sluice-cd/sluice/httpapi"
)

// A sign-in is an ID token `sluice login` got from the server's OpenID
// Connect provider, kept per server in the credentials file (0600) until
// it expires or `sluice logout` removes it.
type signIn struct {
	IDToken string    `json:"id_token"`
	Expiry  time.Time `json:"expiry"`
	Issuer  string    `json:"issuer"`
	Name    string    `json:"name"`
}

// credentials is the credentials file: sign-ins by server URL.
type credentials struct {
	Servers map[string]signIn `json:"servers"`
}

// credentialsFile is --credentials, or credentials.json in the user's
// configuration directory.
func (g *globals) credentialsFile() (string, error) {
	if g.credentials != "" {
		return g.credentials, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no place for credentials (%w): pass --credentials FILE", err)
	}
	return filepath.Join(dir, "sluice", "credentials.json"), nil
}

func (g *globals) readCredentials() (credentials, string, error) {
	file, err := g.credentialsFile()
	if err != nil {
		return credentials{}, "", err
	}
	c := credentials{Servers: map[string]signIn{}}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return c, file, nil
	}
	if err != nil {
		return c, file, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, file, fmt.Errorf("%s: %w (remove it and run `sluice login` again)", file, err)
	}
	if c.Servers == nil {
		c.Servers = map[string]signIn{}
	}
	return c, file, nil
}

// writeCredentials replaces the file at once, readable by its owner only.
func writeCredentials(file string, c credentials) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// serverKey is how the credentials file names a server.
func serverKey(u string) string { return strings.TrimRight(u, "/") }

// signedIn is the ID token of this CLI's sign-in to --server: "" when it
// has none; an error when it has one that expired.
func (g *globals) signedIn(now time.Time) (string, error) {
	c, file, err := g.readCredentials()
	if err != nil {
		return "", err
	}
	s, ok := c.Servers[serverKey(g.serverURL)]
	if !ok {
		return "", nil
	}
	if !now.Before(s.Expiry) {
		return "", fmt.Errorf("your sign-in to %s as %s expired at %s: run `sluice login` again (or `sluice logout` to use --token-file; credentials in %s)",
			g.serverURL, s.Name, s.Expiry.UTC().Format(time.RFC3339), file)
	}
	return s.IDToken, nil
}

func newLoginCmd(g *globals) *cobra.Command {
	var secretFile string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to the Sluice server with its OpenID Connect provider (device flow)",
		Long: `login asks the server (--server) which OpenID Connect provider it trusts,
signs you in there with the device flow — open the address it prints, enter
the code — and keeps the ID token for this server in the credentials file
(mode 0600) until it expires. Later commands send it; --token still wins.

A provider that gives its CLI client a secret: pass it in a file with
--client-secret-file (or SLUICE_CLIENT_SECRET_FILE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret := ""
			if secretFile != "" {
				b, err := os.ReadFile(secretFile)
				if err != nil {
					return fmt.Errorf("--client-secret-file: %w", err)
				}
				secret = strings.TrimSpace(string(b))
			}
			return g.login(cmd.Context(), secret)
		},
	}
	cmd.Flags().StringVar(&secretFile, "client-secret-file", "", "file holding the client secret, for providers whose CLI client has one")
	return cmd
}

// login runs the device flow against the server's provider and keeps the
// ID token the server accepts.
func (g *globals) login(ctx context.Context, secret string) error {
	if err := clearTextRisk(g.serverURL); err != nil {
		return err
	}
	var l httpapi.Login
	if err := g.getJSON(ctx, "/api/v1/login", "", &l); err != nil {
		return err
	}
	provider, err := oidc.NewProvider(ctx, l.Issuer)
	if err != nil {
		return fmt.Errorf("the server's OpenID Connect provider %s: %w", l.Issuer, err)
	}
	ep := provider.Endpoint()
	if ep.DeviceAuthURL == "" {
		return fmt.Errorf("the provider %s has no device authorization endpoint: sign in another way and pass the ID token with --token", l.Issuer)
	}
	conf := oauth2.Config{ClientID: l.ClientID, ClientSecret: secret, Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		return fmt.Errorf("start signing in at %s: %w", l.Issuer, err)
	}
	fmt.Fprintf(g.stderr, "The server trusts %s (client %s).\nTo sign in to %s, open %s and enter the code %s\n", l.Issuer, l.ClientID, g.serverURL, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(g.stderr, "(or open %s)\n", da.VerificationURIComplete)
	}
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		return fmt.Errorf("signing in at %s: %w", l.Issuer, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return fmt.Errorf("the provider %s gave no ID token (is the openid scope allowed for client %s?)", l.Issuer, l.ClientID)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: l.ClientID}).Verify(ctx, raw)
	if err != nil {
		return fmt.Errorf("the provider's ID token: %w", err)
	}
	// the server has the last word: a valid token of a person it does not
	// know is kept nowhere
	var who httpapi.Identity
	if err := g.getJSON(ctx, "/api/v1/whoami", raw, &who); err != nil {
		return err
	}
	c, file, err := g.readCredentials()
	if err != nil {
		return err
	}
	c.Servers[serverKey(g.serverURL)] = signIn{IDToken: raw, Expiry: idt.Expiry, Issuer: l.Issuer, Name: who.Name}
	if err := writeCredentials(file, c); err != nil {
		return fmt.Errorf("keep the sign-in: %w", err)
	}
	fmt.Fprintf(g.stdout, "signed in to %s as %s until %s\n", g.serverURL, describeIdentity(who), idt.Expiry.UTC().Format(time.RFC3339))
	return nil
}

func newLogoutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the sign-in to the Sluice server (--server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, file, err := g.readCredentials()
			if err != nil {
				return err
			}
			key := serverKey(g.serverURL)
			if _, ok := c.Servers[key]; !ok {
				fmt.Fprintf(g.stdout, "not signed in to %s\n", g.serverURL)
				return nil
			}
			delete(c.Servers, key)
			if err := writeCredentials(file, c); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "signed out of %s\n", g.serverURL)
			return nil
		},
	}
}

func newWhoamiCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Who the server takes you for, and your roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token, err := g.apiToken()
			if err != nil {
				return err
			}
			var who httpapi.Identity
			if err := g.getJSON(cmd.Context(), "/api/v1/whoami", token, &who); err != nil {
				return err
			}
			if g.output == "json" {
				return json.NewEncoder(g.stdout).Encode(who)
			}
			fmt.Fprintln(g.stdout, describeIdentity(who))
			switch {
			case who.Everything:
				fmt.Fprintln(g.stdout, "  every role in every project")
			default:
				projects := make([]string, 0, len(who.Roles))
				for p := range who.Roles {
					projects = append(projects, p)
				}
				sort.Strings(projects)
				for _, p := range projects {
					fmt.Fprintf(g.stdout, "  %s: %s\n", p, strings.Join(who.Roles[p], ", "))
				}
				if len(projects) == 0 {
					fmt.Fprintln(g.stdout, "  no roles")
				}
			}
			return nil
		},
	}
}

// describeIdentity is "oidc:alice (user alice)".
func describeIdentity(who httpapi.Identity) string {
	if who.User == "" {
		return who.Name
	}
	return who.Name + " (user " + who.User + ")"
}

// clearTextRisk refuses to sign in to a server reached over plain HTTP on
// another machine: the ID token would cross the network readable.
func clearTextRisk(server string) error {
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("--server %q: %w", server, err)
	}
	if u.Scheme == "https" {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("--server %s is plain HTTP on another machine: an ID token sent there crosses the network readable; use its https:// address", server)
}

// getJSON GETs path from the server with token (none when "") and decodes
// its JSON answer; any other answer is an error with the server's words.
func (g *globals) getJSON(ctx context.Context, path, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, serverKey(g.serverURL)+path, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reach the Sluice server at %s: %w (is `sluice dev` or `sluice server` running? set --server / SLUICE_SERVER)", g.serverURL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}
