package objstore

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers every request with status (and, with requestID,
// the x-amz-request-id an S3 server sends) and counts them.
func countingServer(t *testing.T, status int, requestID bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		if requestID {
			w.Header().Set("x-amz-request-id", "TESTREQ")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(ts.Close)
	return ts, &n
}

func sessionProps(endpoint string) map[string]string {
	return map[string]string{PropS3Endpoint: endpoint, PropS3PathStyle: "true", PropS3Region: "us-east-1",
		PropS3AccessKeyID: "k", PropS3SecretAccessKey: "s"}
}

// TestSessionEndpointLocalRefused: a session's kapot.s3.endpoint that is or
// resolves to a loopback, link-local, unspecified or multicast address is
// refused before any request (reads, lists and writes), with the one
// uniform message; --allow-local-urls lets it through, and the node's own
// configured endpoint is always trusted.
func TestSessionEndpointLocalRefused(t *testing.T) {
	ts, n := countingServer(t, http.StatusForbidden, true)
	ctx := context.Background()
	reg := NewRegistry(S3Config{}, nil)
	for _, ep := range []string{ts.URL, "http://localhost:1", "http://[::1]:1", "http://169.254.169.254", "http://0.0.0.0:1",
		"http://224.0.0.1:1", "http://[::ffff:127.0.0.1]:1", "https://[fe80::1]:443"} {
		props := sessionProps(ep)
		_, errOpen := reg.Open(ctx, "s3://b/k.parquet", props)
		_, errList := reg.List(ctx, "s3://b/k/", props)
		var errPut error
		if w, err := reg.Writer(ctx, "s3://b/k.csv", props); err != nil {
			errPut = err
		} else {
			errPut = w.Put(ctx, "s3://b/k.csv", []byte("x"))
		}
		for _, err := range []error{errOpen, errList, errPut} {
			if !errors.Is(err, ErrForbidden) || !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrLocalAddress) {
				t.Errorf("%s: %v, want a refused local address", ep, err)
			}
		}
	}
	if n.Load() != 0 {
		t.Fatalf("%d requests reached the local server", n.Load())
	}
	// The same endpoint as the node's own configuration: trusted.
	node := NewRegistry(S3Config{Endpoint: ts.URL, PathStyle: true, Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"}, nil)
	if _, err := node.Open(ctx, "s3://b/k.parquet", sessionProps(ts.URL)); errors.Is(err, ErrForbidden) || n.Load() == 0 {
		t.Fatalf("node's endpoint: %v, %d requests", err, n.Load())
	}
	// --allow-local-urls.
	n.Store(0)
	reg.AllowLocalURLs(true)
	if _, err := reg.Open(ctx, "s3://b/k.parquet", sessionProps(ts.URL)); errors.Is(err, ErrForbidden) || n.Load() == 0 {
		t.Fatalf("allowed local endpoint: %v, %d requests", err, n.Load())
	}
}

// TestSessionEndpointDialGuard: the check is made again on every address
// the client dials, so a name that resolved to a remote address at the
// check and to a local one later (DNS rebinding) reaches nothing.
func TestSessionEndpointDialGuard(t *testing.T) {
	ts, n := countingServer(t, http.StatusOK, true)
	// As if checkEndpoint had passed: the client alone must refuse.
	s, err := newS3(context.Background(), S3Config{Endpoint: ts.URL, PathStyle: true, Region: "us-east-1", Anonymous: true, Session: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(context.Background(), "s3://b/k.parquet"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("open: %v", err)
	}
	if n.Load() != 0 {
		t.Fatalf("%d requests reached the local server", n.Load())
	}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:80", "169.254.169.254:80", "0.0.0.0:80", "[ff02::1]:80"} {
		if err := refuseLocalDial("tcp", addr, nil); !errors.Is(err, ErrLocalAddress) {
			t.Errorf("dial %s: %v", addr, err)
		}
	}
	if err := refuseLocalDial("tcp", "192.0.2.1:443", nil); err != nil {
		t.Errorf("remote address refused: %v", err)
	}
}

// TestSessionEndpointUniformErrors: at a session's endpoint a closed port,
// a timeout, a name that does not resolve and services that are not S3
// (any status, without an S3 request id) all give the same error text; an
// S3 server's own answers keep their meaning.
func TestSessionEndpointUniformErrors(t *testing.T) {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	notFound, _ := countingServer(t, http.StatusNotFound, false)
	teapot, _ := countingServer(t, http.StatusTeapot, false)
	ok, _ := countingServer(t, http.StatusOK, false)
	s3NotFound, _ := countingServer(t, http.StatusNotFound, true)

	reg := NewRegistry(S3Config{}, nil)
	reg.AllowLocalURLs(true) // the servers are on loopback
	loc := "s3://b/k.parquet"
	texts := map[string]string{}
	for name, ep := range map[string]string{"closed port": closed, "hanging": hang.URL, "404 without request id": notFound.URL,
		"418": teapot.URL, "no such host": "http://kapot-test.invalid", "200 to a list": ok.URL} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var err error
		at := loc
		if name == "200 to a list" {
			at = "s3://b/k/"
			_, err = reg.List(ctx, at, sessionProps(ep))
		} else {
			_, err = reg.Open(ctx, at, sessionProps(ep))
		}
		cancel()
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrIO) {
			t.Errorf("%s: %v, want ErrUnreachable", name, err)
			continue
		}
		texts[strings.TrimPrefix(err.Error(), at)] = name
	}
	if want := ": " + ErrUnreachable.Error() + ": " + ErrIO.Error(); len(texts) != 1 || texts[want] == "" {
		t.Fatalf("error texts %q, want one: %q", texts, want)
	}
	_, err := reg.Open(context.Background(), loc, sessionProps(s3NotFound.URL))
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("an S3 server's 404: %v, want ErrNotFound", err)
	}
	// The node's own endpoint keeps the SDK's full error.
	node := NewRegistry(S3Config{Endpoint: closed, PathStyle: true, Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"}, nil)
	if _, err := node.Open(context.Background(), loc, nil); errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrIO) {
		t.Fatalf("node's endpoint: %v", err)
	}
}

// TestHTTPUniformErrors: a job's http(s) URL that cannot be reached or
// answers anything but the object or 404 gets one error text.
func TestHTTPUniformErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/x"
	l.Close()
	teapot, _ := countingServer(t, http.StatusTeapot, false)
	h := NewHTTP(true)
	_, e1 := h.Open(context.Background(), closed)
	_, e2 := h.Open(context.Background(), teapot.URL+"/x")
	if !errors.Is(e1, ErrUnreachable) || !errors.Is(e2, ErrUnreachable) ||
		strings.TrimPrefix(e1.Error(), closed) != strings.TrimPrefix(e2.Error(), teapot.URL+"/x") {
		t.Fatalf("closed port %v; live service %v", e1, e2)
	}
}
