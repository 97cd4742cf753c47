package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Writer is a store that also writes: local files and S3. Writes are how
// tasks produce table files and how a job's commit moves them into place.
type Writer interface {
	Store
	// Create begins a new object at location. It exists, complete, only
	// once the returned writer's Close returned nil; Abort discards it.
	Create(ctx context.Context, location string) (ObjectWriter, error)
	// Put writes a small object whole, atomically: a reader sees the old
	// content or the new, never a part (local files: a rename).
	Put(ctx context.Context, location string, data []byte) error
	// Rename moves an object, replacing one at to (S3: a server-side copy,
	// then a delete of the source).
	Rename(ctx context.Context, from, to string) error
	// RemoveAll removes location and every object under it, hidden names
	// included; a location that does not exist is no error.
	RemoveAll(ctx context.Context, location string) error
	// ListAll lists every object under location, hidden names included.
	ListAll(ctx context.Context, location string) ([]string, error)
}

// ObjectWriter writes one new object.
type ObjectWriter interface {
	io.Writer
	// Close completes the object (durably, for local files).
	Close() error
	// Abort discards what was written; the object does not appear.
	Abort() error
}

// Writer returns the writing store of location (local or S3) under a job's
// session properties, after checking the allowed data roots.
func (r *Registry) Writer(ctx context.Context, location string, props map[string]string) (Writer, error) {
	s, err := r.Store(ctx, location, props)
	if err != nil {
		return nil, err
	}
	w, ok := s.(Writer)
	if !ok {
		return nil, fmt.Errorf("%s: this kind of location is read-only (write to a path or s3://)", location)
	}
	return w, nil
}

// ReadAll reads a whole (small) object.
func ReadAll(ctx context.Context, r *Registry, location string, props map[string]string) ([]byte, error) {
	o, err := r.Open(ctx, location, props)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(Stream(o))
}

// Join appends slash-separated elements to a location (a path or a URL).
func Join(location string, elem ...string) string {
	if !strings.Contains(location, "://") {
		return filepath.Join(append([]string{location}, elem...)...)
	}
	out := strings.TrimSuffix(location, "/")
	for _, e := range elem {
		if e = strings.Trim(e, "/"); e != "" {
			out += "/" + e
		}
	}
	return out
}

// Create implements Writer: the file is written in place (its directory
// created) and synced at Close.
func (s Local) Create(_ context.Context, location string) (ObjectWriter, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	if err := s.mkdirAll(filepath.Dir(l.Key)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(l.Key, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &localWriter{f: f}, nil
}

type localWriter struct{ f *os.File }

func (w *localWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *localWriter) Close() error {
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		return err
	}
	return w.f.Close()
}

func (w *localWriter) Abort() error {
	w.f.Close()
	return os.Remove(w.f.Name())
}

// Put implements Writer: a temporary file beside location, synced, then
// renamed over it.
func (s Local) Put(_ context.Context, location string, data []byte) error {
	l, err := Parse(location)
	if err != nil {
		return err
	}
	dir := filepath.Dir(l.Key)
	if err := s.mkdirAll(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), l.Key)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Rename implements Writer.
func (s Local) Rename(_ context.Context, from, to string) error {
	f, err := Parse(from)
	if err != nil {
		return err
	}
	t, err := Parse(to)
	if err != nil {
		return err
	}
	if err := s.guard(filepath.Dir(f.Key)); err != nil {
		return err
	}
	if err := s.mkdirAll(filepath.Dir(t.Key)); err != nil {
		return err
	}
	return os.Rename(f.Key, t.Key)
}

// RemoveAll implements Writer.
func (s Local) RemoveAll(_ context.Context, location string) error {
	l, err := Parse(location)
	if err != nil {
		return err
	}
	// os.RemoveAll removes links, never what they point to: only the
	// directory the removal starts in needs checking.
	if err := s.guard(filepath.Dir(l.Key)); err != nil {
		return err
	}
	return os.RemoveAll(l.Key)
}

// ListAll implements Writer.
func (Local) ListAll(_ context.Context, location string) ([]string, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	var out []string
	err = filepath.WalkDir(l.Key, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	sort.Strings(out)
	return out, err
}

// Create implements Writer: the object is spooled to a local temporary
// file and uploaded by one PutObject at Close (files kapot writes are
// bounded in size).
func (s *S3) Create(ctx context.Context, location string) (ObjectWriter, error) {
	l, err := s3Key(location)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "kapot-upload-*")
	if err != nil {
		return nil, err
	}
	return &s3Writer{s: s, ctx: ctx, l: l, loc: location, f: f}, nil
}

type s3Writer struct {
	s   *S3
	ctx context.Context
	l   Location
	loc string
	f   *os.File
}

func (w *s3Writer) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *s3Writer) Close() error {
	defer os.Remove(w.f.Name())
	defer w.f.Close()
	size, err := w.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err = w.s.client.PutObject(w.ctx, &s3.PutObjectInput{Bucket: &w.l.Bucket, Key: &w.l.Key, Body: w.f, ContentLength: aws.Int64(size)})
	if err != nil {
		return w.s.fail(w.loc, err)
	}
	return nil
}

func (w *s3Writer) Abort() error {
	w.f.Close()
	return os.Remove(w.f.Name())
}

func s3Key(location string) (Location, error) {
	l, err := Parse(location)
	if err != nil {
		return l, err
	}
	if l.Scheme != "s3" || l.Key == "" {
		return l, fmt.Errorf("%s: not an S3 object location", location)
	}
	return l, nil
}

// Put implements Writer (a PutObject is atomic).
func (s *S3) Put(ctx context.Context, location string, data []byte) error {
	l, err := s3Key(location)
	if err != nil {
		return err
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &l.Bucket, Key: &l.Key, Body: strings.NewReader(string(data)), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		return s.fail(location, err)
	}
	return nil
}

// Rename implements Writer: CopyObject, then DeleteObject.
func (s *S3) Rename(ctx context.Context, from, to string) error {
	f, err := s3Key(from)
	if err != nil {
		return err
	}
	t, err := s3Key(to)
	if err != nil {
		return err
	}
	src := f.Bucket + "/" + (&url.URL{Path: f.Key}).EscapedPath()
	if _, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &t.Bucket, Key: &t.Key, CopySource: &src}); err != nil {
		return s.fail(from, err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &f.Bucket, Key: &f.Key}); err != nil {
		return s.fail(from, err)
	}
	return nil
}

// RemoveAll implements Writer.
func (s *S3) RemoveAll(ctx context.Context, location string) error {
	all, err := s.ListAll(ctx, location)
	if err != nil {
		return err
	}
	for _, o := range all {
		l, _ := Parse(o)
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &l.Bucket, Key: &l.Key}); err != nil {
			return s.fail(o, err)
		}
	}
	return nil
}

// ListAll implements Writer: the object itself and the objects under
// location/.
func (s *S3) ListAll(ctx context.Context, location string) ([]string, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	var out []string
	prefix := strings.TrimSuffix(l.Key, "/")
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &l.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if err := s.fail(location, err); !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			return nil, nil
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if key == prefix || strings.HasPrefix(key, prefix+"/") {
				out = append(out, "s3://"+l.Bucket+"/"+key)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
