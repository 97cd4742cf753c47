package flight

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kapot-go/kapot/internal/security"
	kapotv1 "github.com/kapot-go/kapot/proto/kapot/v1"
)

// ErrTicketSignature marks a result ticket that is unsigned, forged or
// expired.
var ErrTicketSignature = errors.New("result ticket not signed by the scheduler")

// Signer signs and checks result tickets: capabilities a client presents
// to an executor (or the scheduler's Flight SQL endpoint) to read one
// partition of a job's result. Its key derives from the scheduler and
// executor secrets, which clients never hold; each job gets its own key
// from it. A nil Signer (a cluster without authentication) signs nothing
// and accepts everything.
type Signer struct {
	master []byte
}

// NewSigner returns the signer of a cluster with these secrets, or nil when
// authentication is off.
func NewSigner(s security.Secrets) *Signer {
	if !s.Enabled() || s.Scheduler == "" || s.Executor == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte("kapot result tickets v1"))
	for _, part := range []string{s.Scheduler, s.Executor} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	return &Signer{master: m.Sum(nil)}
}

func (s *Signer) mac(t *kapotv1.ShuffleTicket) []byte {
	jk := hmac.New(sha256.New, s.master)
	jk.Write([]byte("job\x00" + t.GetJobId()))
	m := hmac.New(sha256.New, jk.Sum(nil))
	var b [8 + 4*3 + 8]byte
	binary.BigEndian.PutUint64(b[0:], uint64(len(t.GetJobId())))
	binary.BigEndian.PutUint32(b[8:], t.GetStageId())
	binary.BigEndian.PutUint32(b[12:], t.GetMapPartition())
	binary.BigEndian.PutUint32(b[16:], t.GetOutputPartition())
	binary.BigEndian.PutUint64(b[20:], uint64(t.GetExpiresMs()))
	m.Write(b[:])
	m.Write([]byte(t.GetJobId()))
	return m.Sum(nil)
}

// Sign sets loc's ticket to a signed one that expires at exp. A nil Signer
// leaves loc alone.
func (s *Signer) Sign(loc *kapotv1.PartitionLocation, exp time.Time) {
	if s == nil {
		return
	}
	t := &kapotv1.ShuffleTicket{JobId: loc.GetJobId(), StageId: loc.GetStageId(), MapPartition: loc.GetMapPartition(),
		OutputPartition: loc.GetOutputPartition(), ExpiresMs: exp.UnixMilli()}
	t.Signature = s.mac(t)
	loc.Ticket = EncodeTicket(t)
}

// Verify checks that t was signed by this cluster's scheduler and has not
// expired at now.
func (s *Signer) Verify(t *kapotv1.ShuffleTicket, now time.Time) error {
	if s == nil {
		return nil
	}
	if len(t.GetSignature()) == 0 {
		return fmt.Errorf("%w: a client may read only a job's result, with the ticket the scheduler gave it", ErrTicketSignature)
	}
	if !hmac.Equal(t.GetSignature(), s.mac(t)) {
		return fmt.Errorf("%w: bad signature", ErrTicketSignature)
	}
	if now.UnixMilli() > t.GetExpiresMs() {
		return fmt.Errorf("%w: expired %s ago; ask the scheduler for the job's status again", ErrTicketSignature,
			now.Sub(time.UnixMilli(t.GetExpiresMs())).Round(time.Second))
	}
	return nil
}
