package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kapot-go/kapot/objstore"
)

// Credentials of the test server's root user.
const (
	AccessKey = "kapot-test-access"
	SecretKey = "kapot-test-secret-key"
)

// Binary finds versitygw.
func Binary() (string, error) {
	if p := os.Getenv("KAPOT_VERSITYGW"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
}

// Server is a running versitygw with a counting proxy in front.
type Server struct {
	t    testing.TB
	bin  string
	root string
	port int
	cmd  *exec.Cmd
	done chan struct{}

	// Endpoint is the proxy's URL: what clients use.
	Endpoint string
	proxy    *http.Server
	// Gets counts GET requests that carried a Range (object data reads);
	// Heads counts HEAD requests; Requests counts every request.
	Gets, Heads, Requests atomic.Int64
	// BytesOut counts response bytes of ranged GETs.
	BytesOut atomic.Int64
	// OnGet, if set, runs before a ranged GET is forwarded.
	OnGet func()

	mu sync.Mutex
}

// Start starts a server on a fresh directory; the test stops it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("S3 test server: %v", err)
		}
		t.Skipf("S3 test server: %v", err)
	}
	s := &Server{t: t, bin: bin, root: t.TempDir()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = lis.Addr().(*net.TCPAddr).Port
	lis.Close()
	s.Restart()
	s.startProxy()
	t.Cleanup(func() {
		s.Stop()
		s.proxy.Close()
	})
	return s
}

// Restart starts the server process (again) on the same port and directory
// and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var logBuf bytes.Buffer
	cmd := exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey, "--port", "127.0.0.1:"+strconv.Itoa(s.port), "--quiet",
		"posix", "--sidecar", filepath.Join(s.root, ".meta"), filepath.Join(s.root, "data"))
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	for _, d := range []string{"data", ".meta"} {
		os.MkdirAll(filepath.Join(s.root, d), 0o755)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			s.t.Fatalf("versitygw exited: %s", logBuf.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not listen in 30s: %s", logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server process (the proxy stays up and answers 502).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func (s *Server) startProxy() {
	target, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(s.port))
	// Keep the Host the client signed: the gateway checks the signature.
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && resp.Request.Header.Get("Range") != "" && resp.ContentLength > 0 {
			s.BytesOut.Add(resp.ContentLength)
		}
		return nil
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		switch {
		case r.Method == http.MethodHead:
			s.Heads.Add(1)
		case r.Method == http.MethodGet && r.Header.Get("Range") != "":
			s.Gets.Add(1)
			if s.OnGet != nil {
				s.OnGet()
			}
		}
		rp.ServeHTTP(w, r)
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	s.proxy = &http.Server{Handler: handler}
	go s.proxy.Serve(lis)
	s.Endpoint = "http://" + lis.Addr().String()
}

// Config is the S3 configuration that reaches this server (through the
// proxy), path-style.
func (s *Server) Config() objstore.S3Config {
	return objstore.S3Config{Endpoint: s.Endpoint, Region: "us-east-1", AccessKeyID: AccessKey, SecretAccessKey: SecretKey, PathStyle: true}
}

// Properties are the job session properties that select this server.
func (s *Server) Properties() map[string]string {
	return map[string]string{
		objstore.PropS3Endpoint: s.Endpoint, objstore.PropS3Region: "us-east-1", objstore.PropS3AccessKeyID: AccessKey,
		objstore.PropS3SecretAccessKey: SecretKey, objstore.PropS3PathStyle: "true",
	}
}

// Client is an SDK client for seeding buckets.
func (s *Server) Client() *s3.Client {
	s.t.Helper()
	c, err := objstore.NewS3(context.Background(), s.Config())
	if err != nil {
		s.t.Fatal(err)
	}
	return c.Client()
}

// Put creates the bucket if needed and writes an object.
func (s *Server) Put(bucket, key string, data []byte) {
	s.t.Helper()
	c := s.Client()
	ctx := context.Background()
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			s.t.Fatalf("create bucket %s: %v", bucket, err)
		}
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}); err != nil {
		s.t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// PutFile uploads a local file.
func (s *Server) PutFile(bucket, key, path string) {
	s.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatal(err)
	}
	s.Put(bucket, key, b)
}
