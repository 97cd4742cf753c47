package cluster

import (
	"encoding/json"
	"testing"
	"time"

	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// TestRecordsRoundTrip: the records a state asks to write read back into
// the job a successor rebuilds.
func TestRecordsRoundTrip(t *testing.T) {
	m := newMachine(t, nil, "a")
	defs := m.assign("a", 1)
	m.now = m.now.Add(1500 * time.Millisecond)
	fx := m.succeed("a", defs[0])
	tasks := effectsOf[PersistTask](fx)
	if len(tasks) != 1 {
		t.Fatalf("task records %v", tasks)
	}
	rec := tasks[0]
	j := exampleJob("job1", "", m.now)
	for _, c := range []struct {
		name   string
		key    string
		record []byte
		ok     bool
	}{
		{"no such stage", TaskKey(9, 0), rec.Record, false},
		{"no such partition", TaskKey(1, 5), rec.Record, false},
		{"not a key", "x", rec.Record, false},
		{"not a record", TaskKey(1, 0), []byte("{"), false},
		{"the record", TaskKey(rec.Stage, rec.Partition), rec.Record, true},
	} {
		if got := j.RestoreTask(c.key, c.record); got != c.ok {
			t.Errorf("%s: restored %v, want %v", c.name, got, c.ok)
		}
	}
	restored := j.Stages[rec.Stage].Tasks[rec.Partition]
	if restored.Phase != TaskDone || restored.Executor.GetId() != "a" || len(restored.Outputs) != 2 || restored.Took != 1500*time.Millisecond {
		t.Fatalf("restored %+v", restored)
	}
	// The job's record, as the cancel writes it.
	_, fx, _ = m.s.Cancel(m.job, m.now)
	jobs := effectsOf[PersistJob](fx)
	var jr JobRecord
	if len(jobs) != 1 || json.Unmarshal(jobs[0].Record, &jr) != nil {
		t.Fatalf("job records %v", jobs)
	}
	if jr.ID != m.job || jr.State != kapotv1.JobState_JOB_STATE_CANCELLED || jr.Err != "cancelled by user" || !jr.DataRemoved || len(jr.Plan) != 0 {
		t.Fatalf("job record %+v", jr)
	}
}
