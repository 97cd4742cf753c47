package executor

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxErrorBytes bounds an error message in a task status and in a log line:
// an error can quote its input (a 17 MiB CSV value), and a status over the
// scheduler's message limit could never be sent.
const maxErrorBytes = 4 << 10

// errorText is err's message cut to maxErrorBytes (at a character
// boundary, with a marker saying how much was cut) and made valid UTF-8,
// which a protobuf string must be.
func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorBytes {
		cut := maxErrorBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = fmt.Sprintf("%s… (%d more bytes cut)", s[:cut], len(s)-cut)
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
