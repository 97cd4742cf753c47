package logging

import (
	"encoding/json"
	"io"
	"unicode/utf8"
)

// MaxLine is the longest log line written: a longer event (a client's
// 17 MiB value quoted in an error) is replaced by a line that says how long
// it was and keeps its first bytes, so logs stay readable and bounded.
const MaxLine = 64 << 10

// cappedWriter bounds each zerolog event (one Write, one JSON line).
type cappedWriter struct{ w io.Writer }

func (c cappedWriter) Write(p []byte) (int, error) {
	if len(p) <= MaxLine {
		return c.w.Write(p)
	}
	head := p[:4096]
	for len(head) > 0 && !utf8.Valid(head) {
		head = head[:len(head)-1]
	}
	line, _ := json.Marshal(map[string]any{"level": "warn", "message": "log line cut", "bytes": len(p), "head": string(head)})
	if _, err := c.w.Write(append(line, '\n')); err != nil {
		return 0, err
	}
	return len(p), nil
}
