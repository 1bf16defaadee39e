package pool

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sluice-cd/sluice/deploy"
)

// Execer runs processes in pool pods through the API server's exec
// subresource (client-go remotecommand, SPDY).
type Execer struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Exec runs argv in the pod's build container, streaming stdin, stdout and
// stderr, and returns the exit code. Closing the stream (ctx ending) does
// NOT end the process in the container: callers that need that kill it
// (see runScript).
func (e *Execer) Exec(ctx context.Context, ns, pod string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	code, err := deploy.Exec(ctx, e.Config, e.Client, ns, pod, container, argv, stdin, stdout, stderr)
	if err != nil {
		return -1, err
	}
	return code, nil
}

// output runs a short helper command and returns its stdout; a non-zero
// exit is an error carrying stderr.
func (e *Execer) output(ctx context.Context, ns, pod string, argv ...string) (string, error) {
	var out, errOut bytes.Buffer
	code, err := e.Exec(ctx, ns, pod, argv, nil, &out, &errOut)
	if err != nil {
		return "", err
	}
	if code != 0 {
		return out.String(), fmt.Errorf("%s exited %d: %s", argv[0], code, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// groupFile records the process group of the command running in a pod,
// outside the workspace the command can write.
const groupFile = "/tmp/.sluice-command-group"

// endGroup defines end_group: it ends the recorded command group — TERM,
// then KILL once $1 tenths of a second have passed — and returns when no
// member is left alive (zombies waiting to be reaped do not count). It is
// what "cancel" means for a command in a pod. (BusyBox's kill takes no "--".)
const endGroup = `end_group() {
  f=` + groupFile + `
  [ -f "$f" ] || return 0
  g=$(cat "$f")
  [ -n "$g" ] || return 0
  kill -TERM -"$g" 2>/dev/null
  i=0
  while ps -o pgid,stat | awk -v g="$g" '$1 == g && $2 !~ /^Z/ { n++ } END { exit n == 0 }'; do
    i=$((i+1))
    if [ "$i" -ge "$1" ]; then kill -KILL -"$g" 2>/dev/null; fi
    if [ "$i" -ge $(($1 + 100)) ]; then echo "processes of group $g survive SIGKILL" >&2; return 1; fi
    sleep 0.1
  done
  # the ended command's wrapper may remove the file at the same moment
  rm -f "$f" 2>/dev/null
  return 0
}
`

// killGroup ends the running command's group; $1 is the grace in tenths.
const killGroup = endGroup + `end_group "$1"`

// scriptWrapper first ends whatever an earlier, lost attempt left running
// (its worker died; the exec stream closed but the processes did not), then
// starts the script ($1) in a new session — so it and everything it starts
// share one process group whose id is its pid — records the group, and
// exits with the script's status.
const scriptWrapper = endGroup + `end_group 0 || { echo "sluice: not running the command beside an earlier attempt's processes" >&2; exit 98; }
cd ` + Workdir + ` || exit 97
setsid sh -c "$1" </dev/null &
pid=$!
echo "$pid" > ` + groupFile + `
wait "$pid"
status=$?
[ "$(cat ` + groupFile + ` 2>/dev/null)" = "$pid" ] && rm -f ` + groupFile + `
exit "$status"`

// secretsPrelude exports the secret variables the exec's stdin carries
// (exports' shell assignments, up to its end), before the wrapper starts the
// script with them in its environment.
const secretsPrelude = `eval "$(cat)" || { echo "sluice: the step's secrets could not be set" >&2; exit 96; }
`

// exports writes env as `export K='V'` lines for secretsPrelude, and
// files (by variable) as files of a new directory in the pod's memory
// (/dev/shm; else the temporary directory), mode 0400, whose paths it
// exports: the directory is removed when the wrapper ends. Names are
// environment variable names (the spec's check), values single-quoted and
// written by the shell's builtin printf, so no command line holds them.
func exports(env, files map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		b.WriteString("export " + k + "=" + shellQuote(env[k]) + "\n")
	}
	if len(files) == 0 {
		return b.String()
	}
	b.WriteString(`sluice_secrets=$(mktemp -d /dev/shm/sluice-secrets.XXXXXX 2>/dev/null || mktemp -d) || exit 96
trap 'rm -rf "$sluice_secrets"' EXIT
`)
	for _, k := range slices.Sorted(maps.Keys(files)) {
		b.WriteString(`(umask 377 && printf '%s' ` + shellQuote(files[k]) + ` > "$sluice_secrets/` + k + `") || exit 96
export ` + k + `="$sluice_secrets/` + k + `"
`)
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// envArgs turns env into `env K=V ...` arguments, sorted.
func envArgs(env map[string]string) []string {
	out := []string{"env"}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}
