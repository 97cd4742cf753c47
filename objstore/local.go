package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// Local reads and writes local files (plain paths and file:// URLs). The
// zero Local checks nothing; the one a registry with data roots returns
// checks every directory a write creates or writes in against the roots
// again at use, after creating it, so a symlink put in place after the
// registry's check cannot carry the write out of the roots.
type Local struct {
	reg *Registry
}

// guard checks dir (a write's directory) against the registry's roots.
func (l Local) guard(dir string) error {
	if l.reg == nil {
		return nil
	}
	if err := l.reg.allowedPath(dir); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

// mkdirAll creates dir, checked against the roots before and after.
func (l Local) mkdirAll(dir string) error {
	if err := l.guard(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return l.guard(dir)
}

type localObject struct {
	f       *os.File
	size    int64
	version string
	loc     string
}

// Open implements Store.
func (Local) Open(_ context.Context, location string) (Object, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(l.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", location, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if info.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory", location)
	}
	return &localObject{f: f, size: info.Size(), loc: location,
		version: strconv.FormatInt(info.Size(), 10) + "-" + strconv.FormatInt(info.ModTime().UnixNano(), 10)}, nil
}

// List implements Store: the regular files under a directory (recursively,
// skipping hidden and _-prefixed names), or the file itself.
func (Local) List(_ context.Context, location string) ([]string, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(l.Key)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{location}, nil
	}
	var out []string
	err = filepath.WalkDir(l.Key, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != l.Key && (name[0] == '.' || name[0] == '_') {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func (o *localObject) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }
func (o *localObject) Size() int64                             { return o.size }
func (o *localObject) Version() string                         { return o.version }
func (o *localObject) Location() string                        { return o.loc }
func (o *localObject) Close() error                            { return o.f.Close() }
