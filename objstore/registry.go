package objstore

import (
	"context"
	"fmt"
	"net/http"
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

	mu sync.Mutex
	s3 map[S3Config]*S3
}

// NewRegistry returns a registry whose S3 reads use defaults (empty fields:
// the AWS SDK's chain) and whose remote objects are wrapped by wrap (nil:
// no cache).
func NewRegistry(defaults S3Config, wrap Wrapper) *Registry {
	return &Registry{defaults: defaults, wrap: wrap, http: &HTTP{Client: &http.Client{}}, s3: map[S3Config]*S3{}}
}

// Default is a registry with the SDK's S3 defaults and no cache.
func Default() *Registry { return NewRegistry(S3Config{}, nil) }

// Store returns the store for location under a job's session properties.
func (r *Registry) Store(ctx context.Context, location string, props map[string]string) (Store, error) {
	l, err := Parse(location)
	if err != nil {
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
