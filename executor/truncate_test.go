package executor

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestErrorText(t *testing.T) {
	short := errors.New("bad cast of 'x'")
	if got := errorText(short); got != short.Error() {
		t.Errorf("short error changed: %q", got)
	}
	long := errors.New("csv: value " + strings.Repeat("é", 9<<20) + " is not a number")
	got := errorText(long)
	if len(got) > maxErrorBytes+64 || !strings.HasSuffix(got, "more bytes cut)") || !utf8.ValidString(got) {
		t.Errorf("long error: %d bytes, ends %q, valid UTF-8 %v", len(got), got[len(got)-40:], utf8.ValidString(got))
	}
	if got := errorText(errors.New("bad \xff byte")); !utf8.ValidString(got) {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
}
