package objstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds the symlinks one resolution follows (Linux allows 40).
const maxLinks = 40

// resolveLocal makes a local path absolute and resolves it the way the
// kernel will when the path is opened or created: component by component
// from the root, every existing symlink replaced by its target (a dangling
// one too, so a link to a place that does not exist yet cannot lead out
// either), and the part that does not exist yet taken lexically. A ".."
// in that last part (only a link's target can bring one: locations are
// cleaned when parsed) is refused: it would climb through a directory still
// to be created, which nothing can check.
func resolveLocal(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	sep := string(filepath.Separator)
	vol := filepath.VolumeName(abs)
	cur := vol + sep
	todo := splitPath(abs[len(vol):])
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return "", err
			}
			return lexicalRest(cur, append([]string{c}, todo...), path)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", path)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			v := filepath.VolumeName(target)
			cur, target = v+sep, target[len(v):]
		}
		todo = append(splitPath(target), todo...)
	}
	return cur, nil
}

// lexicalRest joins the components of a path that do not exist yet to the
// resolved directory they would be created in.
func lexicalRest(dir string, rest []string, path string) (string, error) {
	for _, c := range rest {
		if c == ".." {
			return "", fmt.Errorf("%s: .. through a directory that does not exist yet: %w", path, ErrForbidden)
		}
	}
	return filepath.Join(append([]string{dir}, rest...)...), nil
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}

// under reports whether path (absolute, resolved) is root or lies below it.
func under(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// underAny reports whether path lies under one of roots.
func underAny(roots []string, path string) bool {
	for _, r := range roots {
		if under(r, path) {
			return true
		}
	}
	return false
}
