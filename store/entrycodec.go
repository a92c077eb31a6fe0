package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// Entries are stored in a compact binary form rather than JSON: a playlist
// of 10,000 entries decodes in a fraction of the time. The form is
//
//	0x01                      format version
//	uvarint len, bytes        ID
//	uvarint len, bytes        TrackID
//	uvarint len, bytes        AddedBy
//	varint                    AddedAt, Unix nanoseconds (UTC)
//	uvarint len, bytes        Order
//
// Entries written before schema 4 are JSON (they start with '{');
// migration 4 rewrites them, and decodeEntry still reads both.

const entryFormat = 1

// maxEntryField bounds one string field of a stored entry.
const maxEntryField = 1 << 16

func encodeEntry(e tandem.Entry) []byte {
	b := make([]byte, 0, 1+len(e.ID)+len(e.TrackID)+len(e.AddedBy)+len(e.Order)+4*binary.MaxVarintLen16+binary.MaxVarintLen64)
	b = append(b, entryFormat)
	for _, s := range []string{e.ID, e.TrackID, e.AddedBy} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, e.AddedAt.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(e.Order)))
	return append(b, e.Order...)
}

var errCorruptEntry = errors.New("corrupt entry")

func decodeEntry(v []byte) (tandem.Entry, error) {
	var e tandem.Entry
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &e)
		return e, err
	}
	if len(v) == 0 || v[0] != entryFormat {
		return e, fmt.Errorf("%w: unknown format", errCorruptEntry)
	}
	v = v[1:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(v)
		if k <= 0 || n > maxEntryField || uint64(len(v)-k) < n {
			return "", false
		}
		s := string(v[k : k+int(n)])
		v = v[k+int(n):]
		return s, true
	}
	var ok [4]bool
	e.ID, ok[0] = str()
	if ok[0] {
		e.TrackID, ok[1] = str()
	}
	if ok[1] {
		e.AddedBy, ok[2] = str()
	}
	if !ok[2] {
		return tandem.Entry{}, errCorruptEntry
	}
	ns, k := binary.Varint(v)
	if k <= 0 {
		return tandem.Entry{}, errCorruptEntry
	}
	v = v[k:]
	e.AddedAt = time.Unix(0, ns).UTC()
	if e.Order, ok[3] = str(); !ok[3] || len(v) != 0 {
		return tandem.Entry{}, errCorruptEntry
	}
	return e, nil
}

// migrateEntryFormat is migration 4: every entry from JSON to the binary
// form.
func migrateEntryFormat(tx *bolt.Tx) error {
	entries := bucket(tx, bucketEntries)
	return entries.ForEachBucket(func(pkey []byte) error {
		list := entries.Bucket(pkey)
		type kv struct{ k, v []byte }
		var rewrite []kv
		err := list.ForEach(func(k, v []byte) error {
			if len(v) == 0 || v[0] != '{' {
				return nil
			}
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			rewrite = append(rewrite, kv{append([]byte(nil), k...), encodeEntry(e)})
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range rewrite {
			if err := list.Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
}
