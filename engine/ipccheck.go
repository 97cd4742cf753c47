package engine

import (
	"encoding/binary"
	"errors"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/kapot-go/kapot/engine/alloc"
	"github.com/kapot-go/kapot/objstore"
)

// checkIPC validates the metadata of an Arrow IPC file or stream before the
// IPC reader sees it: every length it would allocate by (schema fields,
// children, metadata, message and body sizes) must fit in the object. The
// reader trusts these flatbuffer lengths, so a corrupt file could otherwise
// make it allocate terabytes, which no recover can catch.
func checkIPC(obj objstore.Object) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = alloc.PanicError(p, "corrupt Arrow IPC metadata")
		}
	}()
	size := obj.Size()
	head := make([]byte, 8)
	n, _ := obj.ReadAt(head, 0)
	if n >= 6 && string(head[:6]) == string(ipcFileMagic) {
		return checkIPCFile(obj, size)
	}
	return checkIPCStream(obj, 0, size)
}

// maxIPCMetadata bounds one flatbuffer message or footer.
const maxIPCMetadata = 64 << 20

func readAtN(obj objstore.Object, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || n > maxIPCMetadata || off+n > obj.Size() {
		return nil, fmt.Errorf("metadata of %d bytes at %d runs past the end (%d bytes)", n, off, obj.Size())
	}
	b := make([]byte, n)
	if _, err := obj.ReadAt(b, off); err != nil && int64(len(b)) != n {
		return nil, err
	}
	return b, nil
}

func checkIPCFile(obj objstore.Object, size int64) error {
	if size < 6+4+6 {
		return errors.New("Arrow IPC file too short")
	}
	tail, err := readAtN(obj, size-10, 10)
	if err != nil {
		return err
	}
	footerLen := int64(int32(binary.LittleEndian.Uint32(tail[:4])))
	buf, err := readAtN(obj, size-10-footerLen, footerLen)
	if err != nil {
		return fmt.Errorf("Arrow IPC footer: %w", err)
	}
	root, err := rootTable(buf)
	if err != nil {
		return err
	}
	// Footer: version 0, schema 1, dictionaries 2, recordBatches 3.
	if err := checkSchemaAt(buf, root, 6, 0); err != nil {
		return err
	}
	for _, slot := range []flatbuffers.VOffsetT{8, 10} {
		o := flatbuffers.UOffsetT(root.Offset(slot))
		if o == 0 {
			continue
		}
		if err := vectorFits(buf, root, slot, 24); err != nil {
			return err
		}
		start, n := root.Vector(o), root.VectorLen(o)
		for i := 0; i < n; i++ {
			p := int(start) + i*24
			off := int64(binary.LittleEndian.Uint64(buf[p:]))
			meta := int64(int32(binary.LittleEndian.Uint32(buf[p+8:])))
			body := int64(binary.LittleEndian.Uint64(buf[p+16:]))
			if off < 0 || meta < 0 || body < 0 || off+meta+body > size || meta > maxIPCMetadata {
				return fmt.Errorf("Arrow IPC block %d (offset %d, metadata %d, body %d) runs past the end (%d bytes)", i, off, meta, body, size)
			}
			if err := checkIPCStream(obj, off, off+meta+body); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkIPCStream walks the messages in [off, end): each one's metadata and
// body must fit, and schema and record batch metadata must be sane.
func checkIPCStream(obj objstore.Object, off, end int64) error {
	for off < end {
		prefix, err := readAtN(obj, off, min(8, end-off))
		if err != nil {
			return err
		}
		if len(prefix) < 4 {
			return errors.New("truncated Arrow IPC message")
		}
		n := int64(int32(binary.LittleEndian.Uint32(prefix)))
		off += 4
		if n == -1 { // continuation marker, then the length
			if len(prefix) < 8 {
				return errors.New("truncated Arrow IPC message")
			}
			n = int64(int32(binary.LittleEndian.Uint32(prefix[4:])))
			off += 4
		}
		if n == 0 {
			return nil // end of stream
		}
		buf, err := readAtN(obj, off, n)
		if err != nil {
			return fmt.Errorf("Arrow IPC message: %w", err)
		}
		msg, err := rootTable(buf)
		if err != nil {
			return err
		}
		// Message: version 0, header_type 1, header 2, bodyLength 3.
		body := msg.GetInt64Slot(10, 0)
		if body < 0 || off+n+body > end {
			return fmt.Errorf("Arrow IPC message body of %d bytes runs past the end", body)
		}
		switch msg.GetByteSlot(6, 0) {
		case 1: // Schema
			if err := checkSchemaAt(buf, msg, 8, 0); err != nil {
				return err
			}
		case 3, 2: // RecordBatch, or DictionaryBatch holding one at slot 1
			h, ok := unionTable(buf, msg, 8)
			if !ok {
				return errors.New("Arrow IPC batch message without a header")
			}
			if msg.GetByteSlot(6, 0) == 2 {
				if h, ok = subTable(buf, h, 6); !ok {
					continue
				}
			}
			// RecordBatch: length 0, nodes 1 (16-byte structs), buffers 2
			// (16-byte structs).
			for _, slot := range []flatbuffers.VOffsetT{6, 8} {
				if err := vectorFits(buf, h, slot, 16); err != nil {
					return err
				}
			}
		}
		off += n + body
	}
	return nil
}

func rootTable(buf []byte) (flatbuffers.Table, error) {
	if len(buf) < 4 {
		return flatbuffers.Table{}, errors.New("Arrow IPC metadata too short")
	}
	pos := flatbuffers.GetUOffsetT(buf)
	if int(pos)+4 > len(buf) {
		return flatbuffers.Table{}, errors.New("Arrow IPC metadata root out of range")
	}
	return flatbuffers.Table{Bytes: buf, Pos: pos}, nil
}

func unionTable(buf []byte, t flatbuffers.Table, slot flatbuffers.VOffsetT) (flatbuffers.Table, bool) {
	o := flatbuffers.UOffsetT(t.Offset(slot))
	if o == 0 {
		return flatbuffers.Table{}, false
	}
	var u flatbuffers.Table
	t.Union(&u, o)
	return u, int(u.Pos)+4 <= len(buf)
}

func subTable(buf []byte, t flatbuffers.Table, slot flatbuffers.VOffsetT) (flatbuffers.Table, bool) {
	o := flatbuffers.UOffsetT(t.Offset(slot))
	if o == 0 {
		return flatbuffers.Table{}, false
	}
	pos := t.Indirect(o + t.Pos)
	return flatbuffers.Table{Bytes: buf, Pos: pos}, int(pos)+4 <= len(buf)
}

// vectorFits checks that the vector at slot (elements of elem bytes) lies
// within buf.
func vectorFits(buf []byte, t flatbuffers.Table, slot flatbuffers.VOffsetT, elem int64) error {
	o := flatbuffers.UOffsetT(t.Offset(slot))
	if o == 0 {
		return nil
	}
	start, n := int64(t.Vector(o)), int64(t.VectorLen(o))
	if n < 0 || start+n*elem > int64(len(buf)) {
		return fmt.Errorf("Arrow IPC metadata vector of %d elements runs past its %d-byte message", n, len(buf))
	}
	return nil
}

// checkSchemaAt checks the Schema table at slot of t: its field vector,
// each field's children (recursively), names and metadata.
func checkSchemaAt(buf []byte, t flatbuffers.Table, slot flatbuffers.VOffsetT, depth int) error {
	s, ok := subTable(buf, t, slot)
	if !ok {
		return nil
	}
	// Schema: endianness 0, fields 1, custom_metadata 2.
	if err := vectorFits(buf, s, 8, 4); err != nil {
		return err
	}
	return checkFields(buf, s, 6, depth)
}

func checkFields(buf []byte, t flatbuffers.Table, slot flatbuffers.VOffsetT, depth int) error {
	if depth > 64 {
		return errors.New("Arrow IPC schema nested deeper than 64")
	}
	if err := vectorFits(buf, t, slot, 4); err != nil {
		return err
	}
	o := flatbuffers.UOffsetT(t.Offset(slot))
	if o == 0 {
		return nil
	}
	start, n := t.Vector(o), t.VectorLen(o)
	for i := 0; i < n; i++ {
		pos := t.Indirect(start + flatbuffers.UOffsetT(i*4))
		if int(pos)+4 > len(buf) {
			return errors.New("Arrow IPC field out of range")
		}
		f := flatbuffers.Table{Bytes: buf, Pos: pos}
		// Field: name 0 (string), nullable 1, type_type 2, type 3,
		// dictionary 4, children 5, custom_metadata 6.
		if err := vectorFits(buf, f, 4, 1); err != nil {
			return err
		}
		if err := vectorFits(buf, f, 16, 4); err != nil {
			return err
		}
		if err := checkFields(buf, f, 14, depth+1); err != nil {
			return err
		}
	}
	return nil
}
