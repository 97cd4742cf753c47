package engine

import (
	"strings"
	"testing"
)

func TestBatchSizeProperty(t *testing.T) {
	for _, c := range []struct {
		v    string
		want int
		ok   bool
	}{{"", 0, true}, {"8192", 8192, true}, {"1", 1, true}, {"1048576", 1 << 20, true}, {"0", 0, false}, {"-5", 0, false}, {"2000000", 0, false}, {"lots", 0, false}} {
		props := map[string]string{}
		if c.v != "" {
			props[PropBatchSize] = c.v
		}
		got, err := BatchSizeProperty(props)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s=%q: %d, %v; want %d (ok %v)", PropBatchSize, c.v, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), PropBatchSize) {
			t.Errorf("error %q does not name the property", err)
		}
	}
}
