package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/kapot-go/kapot/errs"
)

// ErrNotFound is returned when an object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrIO marks a failure to reach or read from a store (network, server
// errors after the client's retries): the task may succeed on a retry.
var ErrIO = errs.New("object store I/O error", errs.ErrUnavailable)

// ErrChanged is returned when an object changed while it was being read
// (its version no longer matches the one opened).
var ErrChanged = errors.New("object changed while being read")

// Object is an opened object: random access by byte range to one version.
type Object interface {
	io.ReaderAt
	// Size is the object's length in bytes.
	Size() int64
	// Version identifies the content: an ETag, or size and modification
	// time. A different version means different bytes.
	Version() string
	// Location is the location the object was opened by.
	Location() string
	Close() error
}

// Store opens and lists the objects of one kind of location.
type Store interface {
	// Open looks the object up (one metadata request) and returns a handle
	// whose reads return that version's bytes or ErrChanged.
	Open(ctx context.Context, location string) (Object, error)
	// List returns the locations of the objects under a directory or
	// prefix, sorted.
	List(ctx context.Context, location string) ([]string, error)
}

// Location is a parsed data location.
type Location struct {
	// Scheme is file, s3, http or https.
	Scheme string
	// Bucket is the S3 bucket or the HTTP host.
	Bucket string
	// Key is the object key (S3), the path (HTTP) or the file path.
	Key string
}

// Parse splits a location. A location without a scheme is a local path.
func Parse(location string) (Location, error) {
	if location == "" {
		return Location{}, errors.New("empty location")
	}
	i := strings.Index(location, "://")
	if i < 0 {
		return Location{Scheme: "file", Key: filepath.Clean(location)}, nil
	}
	u, err := url.Parse(location)
	if err != nil {
		return Location{}, fmt.Errorf("location %q: %w", location, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("location %q: file URLs name no host", location)
		}
		return Location{Scheme: "file", Key: filepath.Clean(u.Path)}, nil
	case "s3", "s3a":
		if u.Host == "" {
			return Location{}, fmt.Errorf("location %q: no bucket", location)
		}
		return Location{Scheme: "s3", Bucket: u.Host, Key: strings.TrimPrefix(u.Path, "/")}, nil
	case "http", "https":
		if u.Host == "" {
			return Location{}, fmt.Errorf("location %q: no host", location)
		}
		return Location{Scheme: u.Scheme, Bucket: u.Host, Key: u.RequestURI()}, nil
	}
	return Location{}, fmt.Errorf("location %q: unsupported scheme %q (want a path, file://, s3:// or http(s)://)", location, u.Scheme)
}

// IsRemote reports whether a location is read over the network.
func IsRemote(location string) bool {
	l, err := Parse(location)
	return err == nil && l.Scheme != "file"
}

// SectionReader gives an object the io.Reader, io.Seeker and io.ReaderAt
// methods that file readers (Parquet, IPC) expect.
func SectionReader(o Object) *io.SectionReader { return io.NewSectionReader(o, 0, o.Size()) }

// Stream reads an object front to back in large ranges (CSV, IPC streams).
func Stream(o Object) io.Reader {
	return &streamReader{o: o}
}

type streamReader struct {
	o   Object
	off int64
}

func (s *streamReader) Read(p []byte) (int, error) {
	if s.off >= s.o.Size() {
		return 0, io.EOF
	}
	if rem := s.o.Size() - s.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := s.o.ReadAt(p, s.off)
	s.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}
