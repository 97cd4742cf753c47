package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kapot-go/kapot/internal/testkit/s3test"
	"github.com/kapot-go/kapot/objstore"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]objstore.Location{
		"/data/x.parquet":                {Scheme: "file", Key: "/data/x.parquet"},
		"rel/../x.csv":                   {Scheme: "file", Key: "x.csv"},
		"file:///data/x.parquet":         {Scheme: "file", Key: "/data/x.parquet"},
		"s3://bucket/a/b.parquet":        {Scheme: "s3", Bucket: "bucket", Key: "a/b.parquet"},
		"s3a://bucket/dir/":              {Scheme: "s3", Bucket: "bucket", Key: "dir/"},
		"https://h:8443/p/x.parquet?v=1": {Scheme: "https", Bucket: "h:8443", Key: "/p/x.parquet?v=1"},
	} {
		got, err := objstore.Parse(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "s3:///key", "ftp://h/x", "file://remote/x", "http:///x"} {
		if _, err := objstore.Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func readAll(t *testing.T, o objstore.Object) []byte {
	t.Helper()
	b, err := io.ReadAll(objstore.Stream(o))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestS3Store(t *testing.T) {
	srv := s3test.Start(t)
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
	srv.Put("bkt", "dir/a.bin", data)
	srv.Put("bkt", "dir/sub/b.bin", []byte("b"))
	srv.Put("bkt", "dir/_SUCCESS", nil)
	srv.Put("bkt", "dir/.hidden", []byte("h"))
	srv.Put("bkt", "other.bin", []byte("o"))
	reg := objstore.NewRegistry(objstore.S3Config{}, nil)
	reg.AllowLocalURLs(true) // the server is a session's endpoint on loopback
	ctx := context.Background()
	props := srv.Properties()

	o, err := reg.Open(ctx, "s3://bkt/dir/a.bin", props)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size() != int64(len(data)) || !strings.HasPrefix(o.Version(), "etag:") {
		t.Fatalf("size %d version %q", o.Size(), o.Version())
	}
	gets := srv.Gets.Load()
	buf := make([]byte, 10)
	if n, err := o.ReadAt(buf, 999_995); n != 5 || err != io.EOF || string(buf[:5]) != "56789" {
		t.Fatalf("tail read: %d %v %q", n, err, buf[:n])
	}
	if n, err := o.ReadAt(buf, 123); n != 10 || err != nil || string(buf) != "3456789012" {
		t.Fatalf("range read: %d %v %q", n, err, buf)
	}
	if got := srv.Gets.Load() - gets; got != 2 {
		t.Fatalf("%d ranged GETs, want 2 (one per read)", got)
	}
	if !bytes.Equal(readAll(t, o), data) {
		t.Fatal("stream differs")
	}

	list, err := reg.List(ctx, "s3://bkt/dir", props)
	if err != nil || !slices.Equal(list, []string{"s3://bkt/dir/a.bin", "s3://bkt/dir/sub/b.bin"}) {
		t.Fatalf("list: %v %v", list, err)
	}
	if list, err := reg.List(ctx, "s3://bkt/other.bin", props); err != nil || !slices.Equal(list, []string{"s3://bkt/other.bin"}) {
		t.Fatalf("list of an object: %v %v", list, err)
	}
	if _, err := reg.Open(ctx, "s3://bkt/missing", props); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := reg.Open(ctx, "s3://nobucket/x", props); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("missing bucket: %v", err)
	}
	// The object replaced after Open: reads of the old version fail rather
	// than mix versions.
	srv.Put("bkt", "dir/a.bin", []byte("new content"))
	if _, err := o.ReadAt(buf, 0); !errors.Is(err, objstore.ErrChanged) {
		t.Fatalf("read of a replaced object: %v", err)
	}
	o2, err := reg.Open(ctx, "s3://bkt/dir/a.bin", props)
	if err != nil || o2.Version() == o.Version() || string(readAll(t, o2)) != "new content" {
		t.Fatalf("reopen: %v %q", err, o2.Version())
	}
	// Wrong credentials are refused by the server.
	bad := srv.Properties()
	bad[objstore.PropS3SecretAccessKey] = "wrong"
	if _, err := reg.Open(ctx, "s3://bkt/other.bin", bad); err == nil || errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := reg.Open(ctx, "s3://bkt/other.bin", map[string]string{objstore.PropS3PathStyle: "maybe"}); err == nil {
		t.Fatal("bad path_style accepted")
	}
}

func TestHTTPStore(t *testing.T) {
	content := []byte(strings.Repeat("abcdefgh", 1000))
	etag := `"v1"`
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/x.bin" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "x.bin", time.Unix(0, 0), bytes.NewReader(content))
	}))
	defer ts.Close()
	reg := objstore.Default()
	ctx := context.Background()
	// The test server is on loopback: refused by default.
	if _, err := reg.Open(ctx, ts.URL+"/x.bin", nil); !errors.Is(err, objstore.ErrForbidden) {
		t.Fatalf("loopback URL: %v, want ErrForbidden", err)
	}
	reg.AllowLocalURLs(true)
	o, err := reg.Open(ctx, ts.URL+"/x.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Version() != `etag:"v1"` || !bytes.Equal(readAll(t, o), content) {
		t.Fatalf("version %q", o.Version())
	}
	buf := make([]byte, 4)
	if n, err := o.ReadAt(buf, 8); n != 4 || err != nil || string(buf) != "abcd" {
		t.Fatalf("%d %v %q", n, err, buf)
	}
	etag = `"v2"`
	if _, err := o.ReadAt(buf, 0); !errors.Is(err, objstore.ErrChanged) {
		t.Fatalf("changed: %v", err)
	}
	if _, err := reg.Open(ctx, ts.URL+"/nope", nil); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := reg.List(ctx, ts.URL+"/dir/", nil); err == nil {
		t.Fatal("listing an HTTP directory accepted")
	}
}

func TestLocalStore(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.csv", "sub/b.csv", "_tmp/c.csv", ".x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644)
	}
	reg := objstore.Default()
	list, err := reg.List(context.Background(), dir, nil)
	if err != nil || !slices.Equal(list, []string{filepath.Join(dir, "a.csv"), filepath.Join(dir, "sub/b.csv")}) {
		t.Fatalf("%v %v", list, err)
	}
	o, err := reg.Open(context.Background(), "file://"+filepath.Join(dir, "a.csv"), nil)
	if err != nil || string(readAll(t, o)) != "a.csv" {
		t.Fatal(err)
	}
	o.Close()
	if _, err := reg.Open(context.Background(), filepath.Join(dir, "none"), nil); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatal(err)
	}
}

func TestAllowedRoots(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(root, "ok.csv"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret.csv"), []byte("s"), 0o644)
	os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(root, "link.csv"))
	os.Symlink(outside, filepath.Join(root, "linkdir"))
	reg := objstore.Default()
	// The S3 locations below go to a session endpoint on loopback.
	reg.AllowLocalURLs(true)
	if err := reg.AllowRoots([]string{root, "s3://bucket/allowed/"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		loc     string
		allowed bool
	}{
		{filepath.Join(root, "ok.csv"), true},
		{"file://" + filepath.Join(root, "ok.csv"), true},
		{filepath.Join(outside, "secret.csv"), false},
		{filepath.Join(root, "..", filepath.Base(outside), "secret.csv"), false},
		{filepath.Join(root, "link.csv"), false},
		{filepath.Join(root, "linkdir", "secret.csv"), false},
		{"/etc/passwd", false},
		{"s3://bucket/allowed/x.parquet", true},
		{"s3://bucket/allowed-not/x.parquet", false},
		{"s3://bucket/allowed/../other/x", false},
		{"s3://other/allowed/x", false},
		{"http://127.0.0.1/x", false},
	} {
		// Allowed S3 locations go on to a closed port with static
		// credentials: a fast error that is not ErrForbidden.
		props := map[string]string{objstore.PropS3Endpoint: "http://127.0.0.1:1", objstore.PropS3AccessKeyID: "a", objstore.PropS3SecretAccessKey: "b", objstore.PropS3Region: "us-east-1"}
		_, err := reg.Open(ctx, tc.loc, props)
		if forbidden := errors.Is(err, objstore.ErrForbidden); forbidden == tc.allowed {
			t.Errorf("%s: err %v, allowed %v", tc.loc, err, tc.allowed)
		}
	}
	if _, err := reg.List(ctx, outside, nil); !errors.Is(err, objstore.ErrForbidden) {
		t.Fatalf("list outside: %v", err)
	}
}

// TestLocalURLsRefused: http(s) locations that resolve to loopback,
// link-local (cloud metadata) or unspecified addresses are refused before a
// connection is made, whatever the name.
func TestLocalURLsRefused(t *testing.T) {
	reg := objstore.Default()
	for _, u := range []string{"http://127.0.0.1:1/x", "http://localhost:1/x", "http://[::1]:1/x", "http://169.254.169.254/latest/meta-data/",
		"http://0.0.0.0:1/x", "http://[::ffff:127.0.0.1]:1/x"} {
		if _, err := reg.Open(context.Background(), u, nil); !errors.Is(err, objstore.ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", u, err)
		}
	}
}

// TestS3NodeCredentialsStayHome: a job that names its own S3 endpoint gets
// only the credentials it brings; the node's (configured or from its
// environment) are never presented there.
func TestS3NodeCredentialsStayHome(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+" "+r.Header.Get("X-Amz-Security-Token"))
		mu.Unlock()
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer ts.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "ENVNODEKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envnodesecret")
	t.Setenv("AWS_SESSION_TOKEN", "envnodetoken")
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		defaults objstore.S3Config
		props    map[string]string
		want     string // in the Authorization header; empty: none sent
	}{
		{"configured keys", objstore.S3Config{Endpoint: "http://node-s3.invalid", AccessKeyID: "NODEKEY", SecretAccessKey: "s", SessionToken: "nodetoken", Region: "us-east-1"},
			map[string]string{objstore.PropS3Endpoint: ts.URL, objstore.PropS3PathStyle: "true"}, ""},
		{"keys from the environment", objstore.S3Config{Region: "us-east-1"},
			map[string]string{objstore.PropS3Endpoint: ts.URL, objstore.PropS3PathStyle: "true"}, ""},
		{"the job's own keys", objstore.S3Config{AccessKeyID: "NODEKEY", SecretAccessKey: "s", Region: "us-east-1"},
			map[string]string{objstore.PropS3Endpoint: ts.URL, objstore.PropS3PathStyle: "true", objstore.PropS3AccessKeyID: "JOBKEY", objstore.PropS3SecretAccessKey: "js"}, "JOBKEY"},
	} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		reg := objstore.NewRegistry(tc.defaults, nil)
		reg.AllowLocalURLs(true)
		if _, err := reg.Open(ctx, "s3://bkt/x.parquet", tc.props); err == nil {
			t.Fatalf("%s: open succeeded against a refusing server", tc.name)
		}
		mu.Lock()
		if len(seen) == 0 {
			t.Fatalf("%s: the server saw no request", tc.name)
		}
		for _, h := range seen {
			if strings.Contains(h, "NODEKEY") || strings.Contains(h, "nodetoken") {
				t.Errorf("%s: the node's credentials reached the job's endpoint: %q", tc.name, h)
			}
			if tc.want == "" && strings.TrimSpace(h) != "" {
				t.Errorf("%s: request signed (%q), want anonymous", tc.name, h)
			}
			if tc.want != "" && !strings.Contains(h, tc.want) {
				t.Errorf("%s: %q lacks %s", tc.name, h, tc.want)
			}
		}
		mu.Unlock()
	}
}
