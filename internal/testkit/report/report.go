package report

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// Top lists the n most frequent keys of counts as Markdown bullets, most
// frequent first (ties by key).
func Top(counts map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	all := make([]kv, 0, len(counts))
	for k, v := range counts {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var b strings.Builder
	for i, e := range all {
		if i == n {
			break
		}
		fmt.Fprintf(&b, "- %d × %s\n", e.v, e.k)
	}
	return b.String()
}

// ErrorClass is an error message with its position and numbers blanked, so
// that messages of one kind count together.
func ErrorClass(msg string) string {
	if i := strings.Index(msg, " (at position"); i >= 0 {
		msg = msg[:i]
	}
	var b strings.Builder
	digits := false
	for _, c := range msg {
		if c >= '0' && c <= '9' {
			if !digits {
				b.WriteByte('N')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(c)
	}
	s := b.String()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// ReplaceSection rewrites the text between the lines <!-- name:begin -->
// and <!-- name:end --> of the file at path.
func ReplaceSection(path, name, text string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(old)
	b, e := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	i, j := strings.Index(s, b), strings.Index(s, e)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, b, e)
	}
	return os.WriteFile(path, []byte(s[:i+len(b)]+"\n"+text+"\n"+s[j:]), 0o644)
}
