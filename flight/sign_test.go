package flight

import (
	"errors"
	"testing"
	"time"

	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

func TestSigner(t *testing.T) {
	secrets := security.Secrets{Scheduler: "s", Executor: "e", Client: "c"}
	s := NewSigner(secrets)
	now := time.UnixMilli(1_800_000_000_000)
	loc := &kapotv1.PartitionLocation{JobId: "job1", StageId: 3, MapPartition: 2}
	s.Sign(loc, now.Add(time.Minute))
	tkt, err := ParseTicket(TicketFor(loc))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(tkt, now); err != nil {
		t.Fatalf("fresh ticket: %v", err)
	}
	if err := s.Verify(tkt, now.Add(2*time.Minute)); !errors.Is(err, ErrTicketSignature) {
		t.Fatalf("expired ticket: %v", err)
	}
	// Another cluster's secrets (the client's alone among them) sign
	// differently.
	for _, other := range []security.Secrets{
		{Scheduler: "s", Executor: "x", Client: "c"},
		{Scheduler: "x", Executor: "e", Client: "c"},
		{Scheduler: "se", Executor: "", Client: "c"},
	} {
		if o := NewSigner(other); o != nil && o.Verify(tkt, now) == nil {
			t.Fatalf("secrets %+v verify a ticket of another cluster", other)
		}
	}
	for name, f := range map[string]func(*kapotv1.ShuffleTicket){
		"job":       func(c *kapotv1.ShuffleTicket) { c.JobId = "job2" },
		"stage":     func(c *kapotv1.ShuffleTicket) { c.StageId = 1 },
		"map":       func(c *kapotv1.ShuffleTicket) { c.MapPartition = 0 },
		"output":    func(c *kapotv1.ShuffleTicket) { c.OutputPartition = 1 },
		"expiry":    func(c *kapotv1.ShuffleTicket) { c.ExpiresMs++ },
		"unsigned":  func(c *kapotv1.ShuffleTicket) { c.Signature = nil },
		"truncated": func(c *kapotv1.ShuffleTicket) { c.Signature = c.Signature[:16] },
	} {
		c := &kapotv1.ShuffleTicket{JobId: tkt.JobId, StageId: tkt.StageId, MapPartition: tkt.MapPartition, OutputPartition: tkt.OutputPartition,
			ExpiresMs: tkt.ExpiresMs, Signature: tkt.Signature}
		f(c)
		if err := s.Verify(c, now); !errors.Is(err, ErrTicketSignature) {
			t.Errorf("%s changed: %v, want ErrTicketSignature", name, err)
		}
	}
	// Without authentication nothing is signed and everything passes.
	var open *Signer = NewSigner(security.Secrets{})
	if open != nil {
		t.Fatal("signer without secrets")
	}
	plain := &kapotv1.PartitionLocation{JobId: "job1"}
	open.Sign(plain, now)
	if len(plain.GetTicket()) != 0 || open.Verify(&kapotv1.ShuffleTicket{JobId: "job1"}, now) != nil {
		t.Fatal("nil signer must sign nothing and accept all")
	}
}
