package objstore

import (
	"path/filepath"
	"strings"
)

// Canonical is location in the form two locations are compared in: a local
// path absolute with its symlinks resolved component by component (see
// resolveLocal), an object store's scheme, bucket and key with no trailing
// slash.
func Canonical(location string) (Location, error) {
	l, err := Parse(location)
	if err != nil {
		return Location{}, err
	}
	if l.Scheme == "file" {
		if l.Key, err = resolveLocal(l.Key); err != nil {
			return Location{}, err
		}
		return l, nil
	}
	l.Key = strings.Trim(l.Key, "/")
	return l, nil
}

// Overlap reports whether two locations are the same, or one lies inside
// the other (a directory, a prefix of keys): a write to one may then touch
// files of the other. Locations that do not parse overlap nothing.
func Overlap(a, b string) bool {
	la, err := Canonical(a)
	if err != nil {
		return false
	}
	lb, err := Canonical(b)
	if err != nil {
		return false
	}
	if la.Scheme != lb.Scheme || la.Bucket != lb.Bucket {
		// s3 and the same bucket over another scheme are not compared:
		// writes go only to paths and s3://.
		return false
	}
	if la.Scheme == "file" {
		return within(la.Key, lb.Key) || within(lb.Key, la.Key)
	}
	return keyWithin(la.Key, lb.Key) || keyWithin(lb.Key, la.Key)
}

// within reports whether path p is dir or inside it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// keyWithin reports whether key k is prefix, or under prefix as a folder.
func keyWithin(k, prefix string) bool {
	return prefix == "" || k == prefix || strings.HasPrefix(k, prefix+"/")
}
