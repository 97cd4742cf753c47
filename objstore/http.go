package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP reads objects from http(s):// URLs with range requests.
type HTTP struct {
	Client *http.Client
}

// NewHTTP returns an HTTP store. Unless allowLocal, it refuses to connect
// to loopback, link-local (cloud metadata services), unspecified and
// multicast addresses, checked on the address it dials (after DNS, and on
// every redirect), so a URL in a job cannot reach the node's own services.
// A URL comes from a job: a failure to connect, and any answer other than
// the object or 404, reads the same (ErrUnreachable), whatever listens
// there.
func NewHTTP(allowLocal bool) *HTTP {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !allowLocal {
		d.Control = refuseLocalDial
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	return &HTTP{Client: &http.Client{Transport: t}}
}

type httpObject struct {
	h       *HTTP
	url     string
	size    int64
	etag    string
	version string
	ctx     context.Context
}

// Open implements Store with a HEAD request; the server must serve byte
// ranges.
func (h *HTTP) Open(ctx context.Context, location string) (Object, error) {
	if _, err := Parse(location); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, location, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, httpError(location, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w", location, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, httpError(location, nil)
	case resp.ContentLength < 0:
		return nil, fmt.Errorf("%s: server did not say the object's length", location)
	case !strings.EqualFold(resp.Header.Get("Accept-Ranges"), "bytes"):
		return nil, fmt.Errorf("%s: server does not serve byte ranges (no Accept-Ranges: bytes)", location)
	}
	o := &httpObject{h: h, url: location, size: resp.ContentLength, etag: resp.Header.Get("ETag"), ctx: ctx}
	o.version = "etag:" + o.etag
	if o.etag == "" {
		o.version = strconv.FormatInt(o.size, 10) + "-" + resp.Header.Get("Last-Modified")
	}
	return o, nil
}

// List implements Store: an HTTP location names one object.
func (h *HTTP) List(_ context.Context, location string) ([]string, error) {
	if strings.HasSuffix(location, "/") {
		return nil, fmt.Errorf("%s: HTTP locations must name files (directories cannot be listed)", location)
	}
	return []string{location}, nil
}

// httpError is the error of a request to a job's URL that failed (err) or
// got an unexpected answer (nil): a local address refused says so (that
// depends on the address only), anything else is ErrUnreachable, so the
// text never tells a closed port from a live service. A cancelled request
// stays a cancellation.
func httpError(location string, err error) error {
	switch {
	case errors.Is(err, ErrForbidden):
		return fmt.Errorf("%s: %w", location, ErrLocalAddress)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", location, err)
	}
	return fmt.Errorf("%s: %w: %w", location, ErrUnreachable, ErrIO)
}

func (h *HTTP) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return http.DefaultClient
}

// ReadAt fetches one byte range of the opened version.
func (o *httpObject) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), o.size-off)
	if want == 0 {
		return 0, nil
	}
	req, err := http.NewRequestWithContext(o.ctx, http.MethodGet, o.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+want-1))
	if o.etag != "" && !strings.HasPrefix(o.etag, "W/") { // If-Match compares strong ETags only
		req.Header.Set("If-Match", o.etag)
	}
	resp, err := o.h.client().Do(req)
	if err != nil {
		return 0, httpError(o.url, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusPreconditionFailed:
		return 0, fmt.Errorf("%s: %w", o.url, ErrChanged)
	case http.StatusNotFound:
		return 0, fmt.Errorf("%s: %w", o.url, ErrNotFound)
	default:
		return 0, httpError(o.url, nil)
	}
	n, err := io.ReadFull(resp.Body, p[:want])
	if err != nil {
		return n, fmt.Errorf("%s: read range at %d: %w: %w", o.url, off, ErrIO, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *httpObject) Size() int64      { return o.size }
func (o *httpObject) Version() string  { return o.version }
func (o *httpObject) Location() string { return o.url }
func (o *httpObject) Close() error     { return nil }
