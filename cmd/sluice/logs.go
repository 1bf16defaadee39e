package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/runs"
)

// apiToken is --token, else the sign-in `sluice login` kept for --server,
// else the content of --token-file.
func (g *globals) apiToken() (string, error) {
	if g.token != "" {
		return g.token, nil
	}
	if tok, err := g.signedIn(time.Now()); tok != "" || err != nil {
		return tok, err
	}
	b, err := os.ReadFile(g.tokenFile)
	if err != nil {
		return "", fmt.Errorf("no API token: run `sluice login`, pass --token or SLUICE_TOKEN, or point --token-file at the api-token file in the data dir of `sluice dev` (%w)", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func newLogsCmd(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs RUN [--follow]",
		Short: "Print a run's step output (from the Sluice HTTP server)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := runs.ParseRef(args[0])
			if err != nil {
				return err
			}
			if ref.RunID == "" {
				rc, closeFn, err := g.runsClient(cmd.Context())
				if err != nil {
					return err
				}
				ref, _, err = rc.Resolve(cmd.Context(), ref)
				closeFn()
				if err != nil {
					return err
				}
			}
			u := fmt.Sprintf("%s/api/v1/logs/%s?workflow=%s", strings.TrimRight(g.serverURL, "/"), url.PathEscape(ref.RunID), url.QueryEscape(ref.WorkflowID))
			if follow {
				u += "&follow=1"
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			token, err := g.apiToken()
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("fetch logs from %s: %w (is `sluice dev` or `sluice server` running? set --server / SLUICE_SERVER)", g.serverURL, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				return fmt.Errorf("logs of %s: %s", ref, strings.TrimSpace(string(b)))
			}
			_, err = io.Copy(g.stdout, resp.Body)
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the run finishes")
	return cmd
}

// api sends a JSON request to the Sluice server with the API token and
// decodes a JSON answer into out. It returns the status of a JSON answer;
// other answers (authentication, bad input) become errors with the
// server's message.
func (g *globals) api(ctx context.Context, method, path string, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(g.serverURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	token, err := g.apiToken()
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reach the Sluice server at %s: %w (is `sluice dev` or `sluice server` running? set --server / SLUICE_SERVER)", g.serverURL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return resp.StatusCode, json.Unmarshal(data, out)
}
