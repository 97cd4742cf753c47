package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestCappedWriter(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(cappedWriter{&buf})
	log.Info().Str("v", "short").Msg("ok")
	log.Error().Str("v", strings.Repeat("é", MaxLine)).Msg("huge")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"v":"short"`) {
		t.Fatalf("lines %q", lines)
	}
	var cut map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &cut); err != nil || len(lines[1]) > 8<<10 {
		t.Fatalf("cut line of %d bytes: %v", len(lines[1]), err)
	}
	if cut["message"] != "log line cut" || cut["bytes"].(float64) < 2*MaxLine {
		t.Fatalf("cut line %v", cut)
	}
}
