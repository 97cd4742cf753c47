package objstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/kapot-go/kapot/errs"
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

	// roots, when set, are the only locations reads and writes may name:
	// URL prefixes, and local directories resolved (localRoots). rootsMu
	// guards them: a cluster root (the warehouse) joins them at run time.
	rootsMu    sync.RWMutex
	roots      []string
	localRoots []string
	// allowLocal lets http(s) locations and sessions' S3 endpoints reach
	// loopback, link-local, unspecified and multicast addresses.
	allowLocal bool

	mu sync.Mutex
	s3 map[S3Config]*S3
}

// ErrForbidden is returned for a location outside the allowed data roots.
var ErrForbidden = errs.New("location outside the allowed data roots", errs.ErrPermission)

// AllowRoots restricts every Open, List and write to locations under
// roots: local directories (symlinks resolved, so a link cannot lead out of
// a root) and URL prefixes such as s3://bucket/prefix/. An empty list
// allows everything.
func (r *Registry) AllowRoots(roots []string) error {
	r.rootsMu.Lock()
	defer r.rootsMu.Unlock()
	r.roots, r.localRoots = nil, nil
	for _, root := range roots {
		l, err := Parse(root)
		if err != nil {
			return fmt.Errorf("allowed data root %q: %w", root, err)
		}
		if l.Scheme == "file" {
			abs, err := resolveLocal(l.Key)
			if err != nil {
				return fmt.Errorf("allowed data root %q: %w", root, err)
			}
			r.roots = append(r.roots, abs)
			r.localRoots = append(r.localRoots, abs)
			continue
		}
		r.roots = append(r.roots, strings.TrimSuffix(root, "/"))
	}
	return nil
}

// allowed checks location against the roots.
func (r *Registry) allowed(location string) error {
	r.rootsMu.RLock()
	defer r.rootsMu.RUnlock()
	if len(r.roots) == 0 {
		return nil
	}
	l, err := Parse(location)
	if err != nil {
		return err
	}
	if l.Scheme == "file" {
		if err := r.allowedPathLocked(l.Key); err != nil {
			return fmt.Errorf("%s: %w", location, err)
		}
		return nil
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

// allowedPath checks a local path against the local roots, resolved the
// way the kernel will resolve it (resolveLocal): its existing part with
// every symlink followed, the rest lexically. Writes check it again at
// use (Local), after their directories exist.
func (r *Registry) allowedPath(path string) error {
	r.rootsMu.RLock()
	defer r.rootsMu.RUnlock()
	return r.allowedPathLocked(path)
}

// allowedPathLocked is allowedPath under rootsMu.
func (r *Registry) allowedPathLocked(path string) error {
	if len(r.roots) == 0 {
		return nil
	}
	real, err := resolveLocal(path)
	if err != nil {
		return err
	}
	if underAny(r.localRoots, real) {
		return nil
	}
	return ErrForbidden
}

// NewRegistry returns a registry whose S3 reads use defaults (empty fields:
// the AWS SDK's chain) and whose remote objects are wrapped by wrap (nil:
// no cache).
func NewRegistry(defaults S3Config, wrap Wrapper) *Registry {
	return &Registry{defaults: defaults, wrap: wrap, http: NewHTTP(false), s3: map[S3Config]*S3{}}
}

// AllowLocalURLs lets http(s) locations and the S3 endpoints that
// sessions name (kapot.s3.endpoint) reach loopback, link-local, unspecified
// and multicast addresses: refused by default (see NewHTTP and
// S3Config.Session). The node's own S3 endpoint is always trusted.
func (r *Registry) AllowLocalURLs(allow bool) {
	r.allowLocal = allow
	r.http = NewHTTP(allow)
}

// Allowed checks a location against the allowed data roots before anything
// lists or opens it (nil when no roots are set).
func (r *Registry) Allowed(location string) error { return r.allowed(location) }

// Restricted reports whether data roots are set.
func (r *Registry) Restricted() bool {
	r.rootsMu.RLock()
	defer r.rootsMu.RUnlock()
	return len(r.roots) > 0
}

// AllowClusterRoot adds root, the cluster's own warehouse, to the allowed
// data roots of a restricted registry (one without roots allows everything
// already): the cluster reads and writes its managed tables whatever the
// roots say. Clients never write there: the scheduler refuses COPY into
// the warehouse (warehouse.Tables.NotTableData). Safe while tasks run.
func (r *Registry) AllowClusterRoot(root string) error {
	if root == "" {
		return nil
	}
	l, err := Parse(root)
	if err != nil {
		return fmt.Errorf("warehouse %q: %w", root, err)
	}
	r.rootsMu.Lock()
	defer r.rootsMu.Unlock()
	if len(r.roots) == 0 {
		return nil
	}
	if l.Scheme != "file" {
		root = strings.TrimSuffix(root, "/")
		if !slices.Contains(r.roots, root) {
			r.roots = append(slices.Clone(r.roots), root)
		}
		return nil
	}
	abs, err := resolveLocal(l.Key)
	if err != nil {
		return fmt.Errorf("warehouse %q: %w", root, err)
	}
	if !slices.Contains(r.localRoots, abs) {
		r.roots, r.localRoots = append(slices.Clone(r.roots), abs), append(slices.Clone(r.localRoots), abs)
	}
	return nil
}

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
		if r.Restricted() {
			return Local{reg: r}, nil
		}
		return Local{}, nil
	case "http", "https":
		return r.http, nil
	case "s3":
		cfg, err := r.defaults.WithProperties(props)
		if err != nil {
			return nil, err
		}
		return r.s3Store(ctx, cfg)
	}
	return nil, fmt.Errorf("location %q: unsupported scheme", location)
}

// s3Store returns the (cached) client of cfg. An endpoint a session chose
// is checked first, unless local addresses are allowed: every address its
// host resolves to must be a remote one, before any request is made (and
// the client checks each address it dials again, against DNS rebinding).
func (r *Registry) s3Store(ctx context.Context, cfg S3Config) (*S3, error) {
	r.mu.Lock()
	s, ok := r.s3[cfg]
	r.mu.Unlock()
	if ok {
		return s, nil
	}
	guard := cfg.Session && !r.allowLocal
	if guard {
		if err := checkEndpoint(ctx, cfg.Endpoint); err != nil {
			return nil, err
		}
	}
	s, err := newS3(ctx, cfg, guard)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.s3[cfg]; ok {
		return old, nil
	}
	r.s3[cfg] = s
	return s, nil
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
