package admin

import (
	"slices"
	"strings"
	"testing"
)

func TestRedactArgs(t *testing.T) {
	in := []string{"kapot", "scheduler", "--client-secret", "c1", "--executor-secret=e1", "-scheduler-secret", "s1",
		"--port", "50050", "--client-secret-file", "/run/c", "--s3-secret-access-key", "AKS", "--token=t", "--secret"}
	want := []string{"kapot", "scheduler", "--client-secret", "REDACTED", "--executor-secret=REDACTED", "-scheduler-secret", "REDACTED",
		"--port", "50050", "--client-secret-file", "/run/c", "--s3-secret-access-key", "REDACTED", "--token=REDACTED", "--secret"}
	got := RedactArgs(in)
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if in[3] != "c1" {
		t.Error("RedactArgs changed its input")
	}
	for _, s := range []string{"c1", "e1", "s1", "AKS"} {
		if strings.Contains(strings.Join(got, " "), " "+s) {
			t.Errorf("%s still visible", s)
		}
	}
}
