package client

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
	"github.com/kapot-go/kapot/wire"
)

// LoadPlanFile reads a plan written as protojson, either a
// kapot.v1.SubmitJobRequest with a "plan" field or a bare
// kapot.v1.PhysicalPlanNode, and makes relative scan paths absolute against
// the file's directory (executors run elsewhere). URLs (s3://, http://,
// file://) are kept as written.
func LoadPlanFile(path string) (*kapotv1.SubmitJobRequest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	req := &kapotv1.SubmitJobRequest{}
	if err := protojson.Unmarshal(b, req); err != nil || req.GetPlan() == nil {
		node := &kapotv1.PhysicalPlanNode{}
		if err2 := protojson.Unmarshal(b, node); err2 != nil {
			return nil, fmt.Errorf("%s is neither a PhysicalPlanNode nor a SubmitJobRequest: %v", path, err2)
		}
		req = &kapotv1.SubmitJobRequest{Plan: node}
	}
	if req.GetJobName() == "" {
		req.JobName = filepath.Base(path)
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	wire.WalkFiles(req.GetPlan(), func(p *string) {
		if !filepath.IsAbs(*p) && !strings.Contains(*p, "://") {
			*p = filepath.Join(base, *p)
		}
	})
	return req, nil
}
