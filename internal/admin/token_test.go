package admin

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRequireToken(t *testing.T) {
	s, err := Listen("127.0.0.1", 0, nil, prometheus.NewRegistry(), func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	s.Handle("/api/jobs", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("[]")) }))
	s.RequireToken("s3cr3t")
	go s.Serve()
	defer s.Shutdown()
	base := "http://" + s.Addr().String()
	for _, tc := range []struct {
		path, bearer, basic string
		want                int
	}{
		{"/healthz", "", "", 200},
		{"/readyz", "", "", 200},
		{"/metrics", "", "", 401},
		{"/api/jobs", "", "", 401},
		{"/debug/pprof/cmdline", "", "", 401},
		{"/api/jobs", "wrong", "", 401},
		{"/api/jobs", "s3cr3t", "", 200},
		{"/metrics", "", "s3cr3t", 200},
		{"/metrics", "", "nope", 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		if tc.basic != "" {
			req.SetBasicAuth("admin", tc.basic)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s bearer=%q basic=%q: %d, want %d", tc.path, tc.bearer, tc.basic, resp.StatusCode, tc.want)
		}
	}
}
