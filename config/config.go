// Package config reads the server configuration (`--config FILE`): the
// repositories Sluice serves, their webhook secrets, chat settings and
// approver groups. Secrets are named (an environment variable or a file),
// never written inline, and the loaded values never appear in errors or logs.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/policy"
	"github.com/sluice-cd/sluice/pool/poolspec"
)

// Providers Sluice receives webhooks from.
const (
	GitHub = "github"
	GitLab = "gitlab"
	Gitea  = "gitea"
)

// Secret names where a secret value comes from: exactly one of Env and File.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Config is the server configuration.
type Config struct {
	Repositories   []Repository        `yaml:"repositories"`
	Slack          *Slack              `yaml:"slack"`
	ApproverGroups map[string][]string `yaml:"approver_groups"`
	// APITokens authenticate clients of the HTTP API (logs): each sends
	// `Authorization: Bearer TOKEN`; the name is what the server logs.
	APITokens []APIToken `yaml:"api_tokens"`
	// Pools are the warm build-pod pools a spec's build.pool names; they
	// need a cluster (--kubeconfig).
	Pools []poolspec.Spec `yaml:"pools"`
	// Alertmanager, when set, accepts Alertmanager's notifications at
	// POST /hooks/alertmanager for chaos experiments.
	Alertmanager *Alertmanager `yaml:"alertmanager"`
	// Chaos is what chaos experiments may do beyond the Kubernetes API.
	Chaos *Chaos `yaml:"chaos"`
	// Prometheus is where production.analysis queries the metrics of
	// production (the Prometheus that scrapes it). The spec names the
	// queries; only the server says which Prometheus answers them.
	Prometheus *Prometheus `yaml:"prometheus"`
	// OIDC accepts ID tokens of an OpenID Connect provider as credentials
	// of the HTTP API, beside api_tokens.
	OIDC *OIDC `yaml:"oidc"`
	// Projects govern what pushes may do: the environments each
	// repository may reach, from which branches, with which approvals and
	// manifests. Without projects every spec runs as written under the
	// default guards (a single-team server).
	Projects []policy.Project `yaml:"projects"`
	// Quota caps every project's runs together (quota.runs): a run takes
	// a slot of it after its project's. Servers with projects only.
	Quota *policy.Quota `yaml:"quota"`
}

// ProductionProject is the project whose production environment may be
// in namespace ns; nil when none.
func (c *Config) ProductionProject(ns string) *policy.Project {
	for i := range c.Projects {
		if prod := c.Projects[i].Environments.Production; prod != nil && slices.Contains(prod.Namespaces, ns) {
			return &c.Projects[i]
		}
	}
	return nil
}

// NamespaceProject is the project one of whose environments lists
// namespace ns, or nil.
func (c *Config) NamespaceProject(ns string) *policy.Project {
	for i := range c.Projects {
		e := c.Projects[i].Environments
		for _, env := range []*policy.Environment{e.Test, e.Staging, e.Production} {
			if env != nil && slices.Contains(env.Namespaces, ns) {
				return &c.Projects[i]
			}
		}
	}
	return nil
}

// ProjectNames lists the projects.
func (c *Config) ProjectNames() []string {
	var out []string
	for _, p := range c.Projects {
		out = append(out, p.Name)
	}
	return out
}

// ProjectOf is the project governing repository repo: nil when the server
// has no projects, an error when it has some and none lists repo.
func (c *Config) ProjectOf(repo string) (*policy.Project, error) {
	if len(c.Projects) == 0 {
		return nil, nil
	}
	for i := range c.Projects {
		for _, r := range c.Projects[i].Repositories {
			if strings.EqualFold(r, repo) {
				return &c.Projects[i], nil
			}
		}
	}
	return nil, fmt.Errorf("repository %s belongs to no project of this server: an administrator adds it to a project's repositories in the server configuration", repo)
}

// OIDC names the OpenID Connect provider whose ID tokens the HTTP API
// accepts: verified against the provider's published keys, its issuer and
// the audience client_id, and not expired.
type OIDC struct {
	// Issuer is the provider's issuer URL (https; http only on loopback).
	Issuer string `yaml:"issuer"`
	// ClientID is the audience the ID tokens must be issued for.
	ClientID string `yaml:"client_id"`
	// Claim names the person in a token; default "sub" (stable at the
	// provider). "email" or "preferred_username" when the provider puts
	// them into its ID tokens.
	Claim string `yaml:"claim"`
	// Users are the people who may use the API, by their claim's value; a
	// valid token of anyone else is refused.
	Users map[string]OIDCUser `yaml:"users"`
}

// OIDCUser is who an ID token stands for.
type OIDCUser struct {
	// User is their approver identity, as specs and policies name them.
	User  string        `yaml:"user"`
	Roles access.Grants `yaml:"roles"`
}

// Chaos configures chaos experiments on the workers.
type Chaos struct {
	// NodePower lets node-down and zone-down faults switch nodes off and
	// on; without it those faults are refused.
	NodePower *NodePower `yaml:"node_power"`
}

// NodePower is how this site stops and starts a node: each command runs
// with the node's name appended and SLUICE_NODE, SLUICE_NODE_PROVIDER_ID in
// its environment (a cloud CLI stopping the instance, a BMC, a script).
type NodePower struct {
	Stop  []string `yaml:"stop"`
	Start []string `yaml:"start"`
}

// Prometheus is the Prometheus release analyses query.
type Prometheus struct {
	// URL is its HTTP API's base (http://prometheus.monitoring:9090).
	URL string `yaml:"url"`
	// Token, when set, is sent as `Authorization: Bearer TOKEN`.
	Token Secret `yaml:"token"`

	token string
}

// TokenValue returns the loaded token.
func (p *Prometheus) TokenValue() string { return p.token }

// Alertmanager is the receiver of Alertmanager's webhook notifications.
type Alertmanager struct {
	// Token is what Alertmanager sends as `Authorization: Bearer TOKEN`.
	Token Secret `yaml:"token"`

	token string
}

// TokenValue returns the loaded token.
func (a *Alertmanager) TokenValue() string { return a.token }

// Pool returns the pool named name.
func (c *Config) Pool(name string) (poolspec.Spec, bool) {
	for _, p := range c.Pools {
		if p.Name == name {
			return p, true
		}
	}
	return poolspec.Spec{}, false
}

// CheckPool says what is wrong with a spec's pool (at key: build.pool,
// test.jobs.unit.pool) on this server: nil when it names none or one
// that is declared.
func (c *Config) CheckPool(key, name string) error {
	if _, ok := c.Pool(name); name == "" || ok {
		return nil
	}
	if len(c.Pools) == 0 {
		return fmt.Errorf("%s %q: this server has no pools; declare it under pools in the server configuration or remove %s to build on the worker", key, name, key)
	}
	return fmt.Errorf("%s %q is not a pool of this server (pools: %s)", key, name, strings.Join(c.PoolNames(), ", "))
}

// PoolNames lists the configured pools.
func (c *Config) PoolNames() []string {
	var out []string
	for _, p := range c.Pools {
		out = append(out, p.Name)
	}
	return out
}

// APIToken is one named bearer token of the HTTP API.
type APIToken struct {
	Name  string `yaml:"name"`
	Token Secret `yaml:"token"`
	// User is the approver identity (as specs list approvers) of whoever
	// holds the token: `sluice approve` with it decides as User. A token
	// without one reads logs but cannot decide approvals.
	User string `yaml:"user"`
	// Roles are the token's roles by project ("*": every project):
	// viewer, developer, approver, releaser, admin. On a server with
	// projects a token may do only what its roles allow; without
	// projects every token may do everything.
	Roles access.Grants `yaml:"roles"`

	value string
}

// MinSecretLength is the shortest secret Sluice accepts: shorter values
// cannot be redacted from logs without also redacting ordinary words.
const MinSecretLength = 8

// Repository is one repository Sluice runs pipelines for.
type Repository struct {
	// Name as the provider spells it: "acme/hello".
	Name     string `yaml:"name"`
	Provider string `yaml:"provider"`
	// CloneURL is what the worker clones (http(s), file:// or a path).
	CloneURL      string `yaml:"clone_url"`
	WebhookSecret Secret `yaml:"webhook_secret"`
	// Branches that trigger runs; empty means the spec's `on.branches`.
	Branches []string `yaml:"branches"`
	// API is the provider's API base URL for commit statuses (optional).
	API      string `yaml:"api_url"`
	APIToken Secret `yaml:"api_token"`

	secret string
	token  string
}

// Slack configures approvals and notifications in Slack or a Slack-compatible chat.
type Slack struct {
	BotToken      Secret `yaml:"bot_token"`
	SigningSecret Secret `yaml:"signing_secret"`
	Channel       string `yaml:"channel"`
	// APIURL defaults to Slack's; set it for compatible servers and tests.
	APIURL string `yaml:"api_url"`
	// Users maps Git author emails or usernames to Slack user ids, so the
	// author of a change cannot approve it from Slack.
	Users map[string]string `yaml:"users"`
	// IncomingWebhook posts notifications only (Mattermost, Rocket.Chat).
	IncomingWebhook Secret `yaml:"incoming_webhook"`

	botToken, signingSecret, webhook string
}

// Secret returns the repository's loaded webhook secret.
func (r *Repository) Secret() string { return r.secret }

// Token returns the loaded API token ("" when none is configured).
func (r *Repository) Token() string { return r.token }

// BotTokenValue returns the loaded bot token.
func (s *Slack) BotTokenValue() string { return s.botToken }

// SigningSecretValue returns the loaded signing secret.
func (s *Slack) SigningSecretValue() string { return s.signingSecret }

// IncomingWebhookURL returns the loaded incoming-webhook URL.
func (s *Slack) IncomingWebhookURL() string { return s.webhook }

// Load reads, checks and resolves a configuration file.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(file, data, os.LookupEnv)
}

// Parse checks a configuration and loads its secrets with lookupEnv and
// from files. Unknown keys, missing secrets and an empty Slack signing
// secret are errors that name the key.
func Parse(file string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{file}, a...)...))
	}
	seen := map[string]bool{}
	for i := range c.Repositories {
		r := &c.Repositories[i]
		key := fmt.Sprintf("repositories[%d]", i)
		if r.Name == "" || strings.Count(r.Name, "/") < 1 {
			bad("%s.name: want owner/name, got %q", key, r.Name)
		}
		if seen[r.Provider+"/"+r.Name] {
			bad("%s: %s repository %q listed twice", key, r.Provider, r.Name)
		}
		seen[r.Provider+"/"+r.Name] = true
		if !slices.Contains([]string{GitHub, GitLab, Gitea}, r.Provider) {
			bad("%s.provider: %q is not one of github, gitlab, gitea", key, r.Provider)
		}
		if r.CloneURL == "" {
			bad("%s.clone_url: required", key)
		}
		for _, b := range r.Branches {
			if _, err := path.Match(b, ""); err != nil {
				bad("%s.branches: bad pattern %q", key, b)
			}
		}
		var err error
		if r.secret, err = load(r.WebhookSecret, lookupEnv, true); err != nil {
			bad("%s.webhook_secret: %v", key, err)
		}
		if r.token, err = load(r.APIToken, lookupEnv, false); err != nil {
			bad("%s.api_token: %v", key, err)
		}
	}
	if s := c.Slack; s != nil {
		var err error
		if s.webhook, err = load(s.IncomingWebhook, lookupEnv, false); err != nil {
			bad("slack.incoming_webhook: %v", err)
		}
		// With only an incoming webhook Sluice posts notifications and
		// approvals go through the CLI; buttons need the bot and the secret.
		notifyOnly := s.IncomingWebhook != (Secret{}) && s.BotToken == (Secret{}) && s.SigningSecret == (Secret{})
		if !notifyOnly {
			if s.signingSecret, err = load(s.SigningSecret, lookupEnv, true); err != nil {
				bad("slack.signing_secret: %v (Sluice refuses to accept unverifiable clicks)", err)
			}
			if s.botToken, err = load(s.BotToken, lookupEnv, true); err != nil {
				bad("slack.bot_token: %v", err)
			}
		}
		if s.Channel == "" {
			bad("slack.channel: required (the default channel for approvals)")
		}
		if s.APIURL != "" && !strings.HasSuffix(s.APIURL, "/") {
			s.APIURL += "/"
		}
	}
	if a := c.Alertmanager; a != nil {
		var err error
		if a.token, err = load(a.Token, lookupEnv, true); err != nil {
			bad("alertmanager.token: %v", err)
		} else if len(a.token) < 16 {
			bad("alertmanager.token: at least 16 characters (Alertmanager sends it as a bearer token)")
		}
	}
	if p := c.Prometheus; p != nil {
		if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			bad("prometheus.url: %q: give Prometheus's address as http(s)://host:port[/path], without credentials (put a bearer token in prometheus.token)", p.URL)
		}
		var err error
		if p.token, err = load(p.Token, lookupEnv, false); err != nil {
			bad("prometheus.token: %v", err)
		}
	}
	if ch := c.Chaos; ch != nil && ch.NodePower != nil {
		if len(ch.NodePower.Stop) == 0 || len(ch.NodePower.Start) == 0 {
			bad("chaos.node_power: both stop and start are required (each a command as a list, e.g. [/usr/local/bin/power, off])")
		}
	}
	pools := map[string]bool{}
	for i := range c.Pools {
		c.Pools[i] = c.Pools[i].WithDefaults()
		if err := c.Pools[i].Validate(); err != nil {
			bad("pools[%d]: %v", i, err)
		}
		if pools[c.Pools[i].Name] {
			bad("pools[%d].name: %q listed twice", i, c.Pools[i].Name)
		}
		pools[c.Pools[i].Name] = true
		if p := c.Pools[i].Project; p != "" && !slices.Contains(c.ProjectNames(), p) {
			bad("pools[%d].project: no project %q (projects: %v)", i, p, c.ProjectNames())
		}
	}
	names := map[string]bool{}
	tokens := map[string]string{} // value -> the entry that has it
	for i := range c.APITokens {
		t := &c.APITokens[i]
		key := fmt.Sprintf("api_tokens[%d]", i)
		if t.Name == "" || names[t.Name] {
			bad("%s.name: required and unique, got %q", key, t.Name)
		}
		names[t.Name] = true
		var err error
		if t.value, err = load(t.Token, lookupEnv, true); err != nil {
			bad("%s.token: %v", key, err)
		} else if len(t.value) < 16 {
			bad("%s.token: shorter than 16 characters; generate one with `openssl rand -hex 32`", key)
		} else if other, dup := tokens[t.value]; dup {
			// the server could not tell the two clients (and users) apart
			bad("%s.token: the same token as %s; give each client its own", key, other)
		} else {
			tokens[t.value] = key
		}
		errs = append(errs, prefixed(file, t.Roles.Check(key+".roles", c.ProjectNames()))...)
	}
	for _, v := range c.named() {
		if len(v.value) < MinSecretLength {
			bad("%s: the secret is shorter than %d characters, too short to redact from logs safely; use a longer one", v.key, MinSecretLength)
		}
	}
	if q := c.Quota; q != nil && q.Runs != nil && *q.Runs < 1 {
		bad("quota.runs: %d: at least 1 (leave it out for no cap)", *q.Runs)
	}
	if c.Quota != nil && len(c.Projects) == 0 {
		bad("quota: the cap counts the runs of projects; define projects, or remove it")
	}
	projects, governed := map[string]bool{}, map[string]string{}
	for i := range c.Projects {
		p := &c.Projects[i]
		key := fmt.Sprintf("projects[%d]", i)
		errs = append(errs, prefixed(file, p.Validate(key, c.ApproverGroups))...)
		if projects[p.Name] {
			bad("%s.name: project %q listed twice", key, p.Name)
		}
		projects[p.Name] = true
		if prod := p.Environments.Production; prod != nil && prod.Analysis != nil && c.Prometheus == nil {
			bad("%s.environments.production.analysis: set prometheus.url, the Prometheus its queries go to", key)
		}
		if p.Quota != nil {
			for pool := range p.Quota.PoolPods {
				if _, ok := c.Pool(pool); !ok {
					bad("%s.quota.pool_pods: no pool %q in pools (%s)", key, pool, strings.Join(c.PoolNames(), ", "))
				}
			}
		}
		for _, r := range p.Repositories {
			if other, ok := governed[strings.ToLower(r)]; ok {
				bad("%s.repositories: %s belongs to project %s already; a repository has one project", key, r, other)
			}
			governed[strings.ToLower(r)] = p.Name
		}
	}
	if o := c.OIDC; o != nil {
		u, err := url.Parse(o.Issuer)
		loopback := err == nil && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost" || u.Hostname() == "::1")
		switch {
		case err != nil || u.Host == "":
			bad("oidc.issuer: want the provider's issuer URL, got %q", o.Issuer)
		case u.Scheme != "https" && !(u.Scheme == "http" && loopback):
			bad("oidc.issuer: %s: an issuer is reached over https (http only on loopback)", o.Issuer)
		}
		if o.ClientID == "" {
			bad("oidc.client_id: required: the audience Sluice's ID tokens are issued for")
		}
		if o.Claim == "" {
			o.Claim = "sub"
		}
		if len(o.Users) == 0 {
			bad("oidc.users: list who may use the API, by their %s", o.Claim)
		}
		for name, u := range o.Users {
			errs = append(errs, prefixed(file, u.Roles.Check("oidc.users."+name+".roles", c.ProjectNames()))...)
		}
	}
	for g, members := range c.ApproverGroups {
		if len(members) == 0 {
			bad("approver_groups.%s: empty group", g)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

func prefixed(file string, errs []error) []error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s: %w", file, e)
	}
	return out
}

// load reads a secret. The value itself never appears in the error.
func load(s Secret, lookupEnv func(string) (string, bool), required bool) (string, error) {
	switch {
	case s.Env != "" && s.File != "":
		return "", errors.New("set env or file, not both")
	case s.Env != "":
		v, ok := lookupEnv(s.Env)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("environment variable %s is not set or empty", s.Env)
		}
		return strings.TrimSpace(v), nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", s.File, errors.Unwrap(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s is empty", s.File)
		}
		return v, nil
	}
	if required {
		return "", errors.New("required: name an env variable (env: NAME) or a file (file: PATH)")
	}
	return "", nil
}

type namedSecret struct{ key, value string }

// named lists every loaded secret with the key it was configured under.
func (c *Config) named() []namedSecret {
	var out []namedSecret
	for i, r := range c.Repositories {
		out = append(out, namedSecret{fmt.Sprintf("repositories[%d].webhook_secret", i), r.secret},
			namedSecret{fmt.Sprintf("repositories[%d].api_token", i), r.token})
	}
	if s := c.Slack; s != nil {
		out = append(out, namedSecret{"slack.bot_token", s.botToken}, namedSecret{"slack.signing_secret", s.signingSecret},
			namedSecret{"slack.incoming_webhook", s.webhook})
	}
	for i, t := range c.APITokens {
		out = append(out, namedSecret{fmt.Sprintf("api_tokens[%d].token", i), t.value})
	}
	if a := c.Alertmanager; a != nil {
		out = append(out, namedSecret{"alertmanager.token", a.token})
	}
	if p := c.Prometheus; p != nil {
		out = append(out, namedSecret{"prometheus.token", p.token})
	}
	return slices.DeleteFunc(out, func(s namedSecret) bool { return s.value == "" })
}

// Secrets returns every loaded secret value, for log redaction.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range c.named() {
		out = append(out, s.value)
	}
	return out
}

// Tokens maps each API token value to its entry.
func (c *Config) Tokens() map[string]APIToken {
	out := map[string]APIToken{}
	for _, t := range c.APITokens {
		out[t.value] = t
	}
	return out
}

// Repository finds a repository by provider and name.
func (c *Config) Repository(provider, name string) *Repository {
	for i := range c.Repositories {
		if r := &c.Repositories[i]; r.Provider == provider && strings.EqualFold(r.Name, name) {
			return r
		}
	}
	return nil
}

// ByProvider lists the repositories of one provider.
func (c *Config) ByProvider(provider string) []*Repository {
	var out []*Repository
	for i := range c.Repositories {
		if c.Repositories[i].Provider == provider {
			out = append(out, &c.Repositories[i])
		}
	}
	return out
}

// AuthorIDs returns every identity of a commit author: the Git identities and
// their mapped chat user ids.
func (c *Config) AuthorIDs(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id == "" {
			continue
		}
		out = append(out, id)
		if c.Slack != nil {
			// Git identities match whatever their case (Dave@Example.com)
			for name, u := range c.Slack.Users {
				if strings.EqualFold(name, id) {
					out = append(out, u)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
