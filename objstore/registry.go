package objstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

// Wrapper wraps remote objects, e.g. with a read cache.
type Wrapper interface {
	Wrap(Object) Object
}

// Registry opens any location through the store of its scheme: local files
// directly, S3 through one client per S3 configuration (the executor's
// defaults, or a job's kapot.s3.* overrides), HTTP through one client. It is
// safe for concurrent use.
type Registry struct {
	defaults S3Config
	wrap     Wrapper
	http     *HTTP

	// roots, when set, are the only locations reads may name.
	roots []string

	mu sync.Mutex
	s3 map[S3Config]*S3
}

// ErrForbidden is returned for a location outside the allowed data roots.
var ErrForbidden = errors.New("location outside the allowed data roots")

// AllowRoots restricts every Open and List to locations under roots: local
// directories (symlinks resolved, so a link cannot lead out of a root) and
// URL prefixes such as s3://bucket/prefix/. An empty list allows everything.
func (r *Registry) AllowRoots(roots []string) error {
	r.roots = nil
	for _, root := range roots {
		l, err := Parse(root)
		if err != nil {
			return fmt.Errorf("allowed data root %q: %w", root, err)
		}
		if l.Scheme == "file" {
			abs, err := resolveLocal(l.Key)
			if err != nil {
				return err
			}
			r.roots = append(r.roots, abs)
			continue
		}
		r.roots = append(r.roots, strings.TrimSuffix(root, "/"))
	}
	return nil
}

// resolveLocal makes a local path absolute with its symlinks resolved (as
// far as it exists), so that neither .. nor a link can lead out of a root.
func resolveLocal(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs, nil
}

// allowed checks location against the roots.
func (r *Registry) allowed(location string) error {
	if len(r.roots) == 0 {
		return nil
	}
	l, err := Parse(location)
	if err != nil {
		return err
	}
	if l.Scheme == "file" {
		abs, err := resolveLocal(l.Key)
		if err != nil {
			return err
		}
		for _, root := range r.roots {
			if rel, err := filepath.Rel(root, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !strings.Contains(root, "://") {
				return nil
			}
		}
		return fmt.Errorf("%s: %w", location, ErrForbidden)
	}
	if strings.Contains(l.Key, "/../") || strings.HasSuffix(l.Key, "/..") || strings.HasPrefix(l.Key, "../") {
		return fmt.Errorf("%s: %w", location, ErrForbidden)
	}
	for _, root := range r.roots {
		if location == root || strings.HasPrefix(location, root+"/") {
			return nil
		}
	}
	return fmt.Errorf("%s: %w", location, ErrForbidden)
}

// NewRegistry returns a registry whose S3 reads use defaults (empty fields:
// the AWS SDK's chain) and whose remote objects are wrapped by wrap (nil:
// no cache).
func NewRegistry(defaults S3Config, wrap Wrapper) *Registry {
	return &Registry{defaults: defaults, wrap: wrap, http: NewHTTP(false), s3: map[S3Config]*S3{}}
}

// AllowLocalURLs lets http(s) locations reach loopback and link-local
// addresses (refused by default: see NewHTTP).
func (r *Registry) AllowLocalURLs(allow bool) { r.http = NewHTTP(allow) }

// Allowed checks a location against the allowed data roots before anything
// lists or opens it (nil when no roots are set).
func (r *Registry) Allowed(location string) error { return r.allowed(location) }

// Restricted reports whether data roots are set.
func (r *Registry) Restricted() bool { return len(r.roots) > 0 }

// Default is a registry with the SDK's S3 defaults and no cache.
func Default() *Registry { return NewRegistry(S3Config{}, nil) }

// Store returns the store for location under a job's session properties.
func (r *Registry) Store(ctx context.Context, location string, props map[string]string) (Store, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	if err := r.allowed(location); err != nil {
		return nil, err
	}
	switch l.Scheme {
	case "file":
		return Local{}, nil
	case "http", "https":
		return r.http, nil
	case "s3":
		cfg, err := r.defaults.WithProperties(props)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		s, ok := r.s3[cfg]
		if !ok {
			if s, err = NewS3(ctx, cfg); err != nil {
				return nil, err
			}
			r.s3[cfg] = s
		}
		return s, nil
	}
	return nil, fmt.Errorf("location %q: unsupported scheme", location)
}

// Open opens location; remote objects go through the registry's wrapper.
func (r *Registry) Open(ctx context.Context, location string, props map[string]string) (Object, error) {
	s, err := r.Store(ctx, location, props)
	if err != nil {
		return nil, err
	}
	o, err := s.Open(ctx, location)
	if err != nil {
		return nil, err
	}
	if _, local := s.(Local); !local && r.wrap != nil {
		return r.wrap.Wrap(o), nil
	}
	return o, nil
}

// List lists the objects under location.
func (r *Registry) List(ctx context.Context, location string, props map[string]string) ([]string, error) {
	s, err := r.Store(ctx, location, props)
	if err != nil {
		return nil, err
	}
	return s.List(ctx, location)
}
