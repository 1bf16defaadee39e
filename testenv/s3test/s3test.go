// Package s3test runs a real S3-compatible server for a test: SeaweedFS
// (`weed server -s3`, built from the Go module proxy by
// build-seaweedfs.sh, which `.ci/run` and `make seaweedfs` call), on free
// loopback ports, with its own data directory and an access key, stopped
// when the test ends. Without the binary a test fails under CI and is
// skipped elsewhere.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// Server is a running SeaweedFS with its S3 gateway at Endpoint.
type Server struct {
	Endpoint             string
	AccessKey, SecretKey string
	cmd                  *exec.Cmd
	out                  *bytes.Buffer
	done                 chan struct{} // closed when weed has exited
	bin, dir             string
	bucket               string // the last one Bucket made
	args                 []string
}

// Binary finds weed: $SLUICE_SEAWEEDFS, else the newest build in the
// platform's cache.
func Binary() (string, error) {
	if p := os.Getenv("SLUICE_SEAWEEDFS"); p != "" {
		return p, nil
	}
	cache := os.Getenv("SLUICE_PLATFORM_CACHE")
	if cache == "" {
		cache = "/var/cache/sluice-platform"
	}
	found, _ := filepath.Glob(filepath.Join(cache, "seaweedfs-*", "weed"))
	if len(found) == 0 {
		return "", fmt.Errorf("SeaweedFS is not built: make seaweedfs (.ci/run does), or set SLUICE_SEAWEEDFS")
	}
	sort.Strings(found)
	return found[len(found)-1], nil
}

// Start starts SeaweedFS with one identity allowed everything, and waits
// until its S3 gateway answers.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		if testenv.InCI() {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	dir := tb.TempDir()
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	s := &Server{AccessKey: "sluice-test", SecretKey: hex.EncodeToString(raw)}
	conf, _ := json.Marshal(map[string]any{"identities": []any{map[string]any{
		"name":        "sluice",
		"credentials": []any{map[string]string{"accessKey": s.AccessKey, "secretKey": s.SecretKey}},
		"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}})
	confFile := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		tb.Fatal(err)
	}
	ports := make([]int, 8)
	for i := range ports {
		ports[i] = freePort(tb)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		tb.Fatal(err)
	}
	p := strconv.Itoa
	s.args = []string{"server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + data,
		"-master.port=" + p(ports[0]), "-master.port.grpc=" + p(ports[1]), "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-master.electionTimeout=1s",
		"-volume.port=" + p(ports[2]), "-volume.port.grpc=" + p(ports[3]), "-volume.max=8", "-volume.preStopSeconds=0",
		"-filer", "-filer.port=" + p(ports[4]), "-filer.port.grpc=" + p(ports[5]),
		"-s3", "-s3.port=" + p(ports[6]), "-s3.port.grpc=" + p(ports[7]), "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config=" + confFile}
	s.bin, s.dir = bin, dir
	s.Endpoint = "http://127.0.0.1:" + p(ports[6])
	tb.Cleanup(s.Stop)
	s.run(tb)
	return s
}

// Restart starts the server again, on its ports and data, after Stop.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.run(tb)
}

func (s *Server) run(tb testing.TB) {
	tb.Helper()
	s.out = &bytes.Buffer{}
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	s.done = done
	go func() { _ = s.cmd.Wait(); close(done) }()
	poll.UntilWithin(tb, 2*time.Minute, "SeaweedFS's S3 gateway at "+s.Endpoint, func() bool {
		select {
		case <-done:
			tb.Fatalf("weed exited: %v\n%s", s.cmd.ProcessState, s.out.String())
		default:
		}
		resp, err := http.Get(s.Endpoint + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if s.bucket != "" {
		s.writable(tb)
	}
}

// writable waits until the bucket takes writes: the gateway answers
// before its filer and volumes do (at the first write, and again after a
// restart).
func (s *Server) writable(tb testing.TB) {
	tb.Helper()
	var err error
	poll.UntilWithin(tb, 2*time.Minute, "SeaweedFS to take writes", func() bool {
		_, err = s.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("s3test-probe"), Body: strings.NewReader("ok")})
		return err == nil
	})
}

// Client is an S3 client of the server, as the access key.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Bucket makes a bucket and returns its gocloud URL (s3://NAME?...); a
// process reads the key from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// (Env).
func (s *Server) Bucket(tb testing.TB, name string) string {
	tb.Helper()
	var err error
	// the gateway answers /status before the filer takes writes
	poll.UntilWithin(tb, time.Minute, "bucket "+name+" to be made", func() bool {
		_, err = s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
		return err == nil
	})
	s.bucket = name
	s.writable(tb)
	return fmt.Sprintf("s3://%s?region=us-east-1&endpoint=%s&use_path_style=true", name, s.Endpoint)
}

// Env are the environment variables that give a process the access key.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_EC2_METADATA_DISABLED=true"}
}

// Stop kills the server (its whole process group, as a crash or a lost
// machine would) and waits for it.
func (s *Server) Stop() {
	if s.done == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// freePort is a loopback port nothing listens on now.
func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
