package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// UploadTTL is how long an upload session lives after its last change.
const UploadTTL = 24 * time.Hour

// sweepEvery is how often, at most, Create looks for expired sessions.
const sweepEvery = time.Minute

// Upload is a resumable upload session: a file that arrives in pieces.
// The session is stored in the uploads bucket; the bytes received so far
// are in BLOBS/uploads/ID.
type Upload struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`           // who may append to it
	Name      string    `json:"name,omitempty"` // the file name the client gave
	Length    int64     `json:"length"`         // the declared length in bytes, or -1
	Offset    int64     `json:"offset"`         // bytes received and synced
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Uploads keeps resumable upload sessions. Sessions expire UploadTTL after
// their last change; expired sessions and their files are removed when
// NewUploads runs and, at most once a minute, when a session is created,
// so no goroutine is needed. It is safe for concurrent use; a session
// takes one Append or Finish at a time, and a second one gets ECONFLICT.
type Uploads struct {
	db    *DB
	blobs *Blobs
	dir   string
	log   *slog.Logger

	// sweeping is held by Sweep, and shared by Create, so that Sweep
	// never takes the file of a session being created for an orphan.
	sweeping sync.RWMutex

	mu        sync.Mutex // guards the following
	busy      map[string]bool
	lastSweep time.Time
}

// NewUploads returns the upload sessions of db, whose files live in the
// uploads directory of blobs. It removes expired sessions, and files that
// have no session.
func NewUploads(db *DB, blobs *Blobs) (*Uploads, error) {
	u := &Uploads{db: db, blobs: blobs, dir: filepath.Join(blobs.Dir(), "uploads"), log: db.logger, busy: map[string]bool{}}
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: uploads: %w", err)
	}
	if err := u.Sweep(); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *Uploads) file(id string) string { return filepath.Join(u.dir, id) }

// validUploadID reports whether id has the form of an upload id: 32
// lowercase hex digits.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Create starts a session for user. length is the declared length of the
// file, or -1; name is the file name the client gave, or "".
func (u *Uploads) Create(user, name string, length int64) (Upload, error) {
	u.maybeSweep()
	u.sweeping.RLock()
	defer u.sweeping.RUnlock()
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails
	now := stamp(u.db.now())
	up := Upload{ID: hex.EncodeToString(raw[:]), User: user, Name: name, Length: max(length, -1),
		CreatedAt: now, ExpiresAt: now.Add(UploadTTL)}
	f, err := os.OpenFile(u.file(up.ID), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Upload{}, tandem.NoSpace(fmt.Errorf("store: create upload: %w", err))
	}
	if err := f.Close(); err != nil {
		return Upload{}, fmt.Errorf("store: create upload: %w", err)
	}
	if err := u.put(up); err != nil {
		os.Remove(u.file(up.ID))
		return Upload{}, tandem.NoSpace(fmt.Errorf("store: create upload: %w", err))
	}
	return up, nil
}

func (u *Uploads) put(up Upload) error {
	v, err := json.Marshal(up)
	if err != nil {
		return err
	}
	return u.db.update(func(tx *bolt.Tx) error {
		return bucket(tx, bucketUploads).Put([]byte(up.ID), v)
	})
}

// Get returns the session id: ENOTFOUND if there is none or it expired,
// EINVALID if id is not an upload id.
func (u *Uploads) Get(id string) (Upload, error) {
	if !validUploadID(id) {
		return Upload{}, fmt.Errorf("store: upload: %w", tandem.Errorf(tandem.EINVALID, "%q is not an upload id", id))
	}
	var up Upload
	err := u.db.db.View(func(tx *bolt.Tx) error {
		v := bucket(tx, bucketUploads).Get([]byte(id))
		if v == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no upload %q", id)
		}
		return json.Unmarshal(v, &up)
	})
	if err == nil && !u.db.now().Before(up.ExpiresAt) {
		err = tandem.Errorf(tandem.ENOTFOUND, "upload %q expired", id)
		u.mu.Lock()
		busy := u.busy[id]
		u.mu.Unlock()
		if !busy {
			if derr := u.Delete(id); derr != nil {
				u.log.Error("store: remove expired upload", "id", id, "err", derr)
			}
		}
	}
	if err != nil {
		return Upload{}, fmt.Errorf("store: upload: %w", err)
	}
	return up, nil
}

// lock marks session id busy, or fails with ECONFLICT.
func (u *Uploads) lock(id string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.busy[id] {
		return tandem.Errorf(tandem.ECONFLICT, "upload %s is busy with another request", id)
	}
	u.busy[id] = true
	return nil
}

func (u *Uploads) unlock(id string) {
	u.mu.Lock()
	delete(u.busy, id)
	u.mu.Unlock()
}

// Append writes what r yields to session id at offset, which must be the
// session's offset (else ECONFLICT), and stores the new offset once the
// bytes are synced. The file may grow to at most max bytes, and to the
// declared length: beyond them, nothing is appended and the error has
// code ELIMIT or EINVALID. If reading r fails, the bytes read before are
// kept and counted, and an EINVALID error wrapping the read error is
// returned with the updated session, so that the client can resume from
// there. If writing fails, nothing of r is kept; on a full disk the error
// has code ENOSPACE.
func (u *Uploads) Append(id string, offset int64, r io.Reader, max int64) (Upload, error) {
	up, err := u.Get(id)
	if err != nil {
		return Upload{}, err
	}
	if err := u.lock(id); err != nil {
		return up, fmt.Errorf("store: append to upload: %w", err)
	}
	defer u.unlock(id)
	if up, err = u.Get(id); err != nil { // it may have changed before the lock
		return Upload{}, err
	}
	if offset != up.Offset {
		return up, fmt.Errorf("store: append to upload: %w",
			tandem.Errorf(tandem.ECONFLICT, "upload %s is at offset %d, not %d", id, up.Offset, offset))
	}
	limit := max - offset
	if up.Length >= 0 {
		limit = min(limit, up.Length-offset)
	}
	f, err := os.OpenFile(u.file(id), os.O_WRONLY, 0)
	if err != nil {
		return up, fmt.Errorf("store: append to upload: %w", err)
	}
	defer f.Close()
	// Bytes past the offset were written by an append that did not
	// finish; the client sends them again.
	if err := f.Truncate(offset); err != nil {
		return up, fmt.Errorf("store: append to upload: %w", err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return up, fmt.Errorf("store: append to upload: %w", err)
	}
	body := &readErrors{r: io.LimitReader(r, limit+1)}
	n, err := io.Copy(u.blobs.writer(f), body)
	readErr := body.err
	if err != nil && readErr == nil {
		// Writing failed: the hub's fault. What was written of this
		// body goes; the client sends it again once there is room.
		if terr := f.Truncate(offset); terr != nil {
			u.log.Error("store: drop a failed append", "id", id, "err", terr)
		}
		return up, tandem.NoSpace(fmt.Errorf("store: append to upload: %w", err))
	}
	if n > limit {
		if err := f.Truncate(offset); err != nil {
			return up, fmt.Errorf("store: append to upload: %w", err)
		}
		if up.Length >= 0 && up.Length < max {
			return up, fmt.Errorf("store: append to upload: %w",
				tandem.Errorf(tandem.EINVALID, "the body goes past the declared length of %d bytes", up.Length))
		}
		return up, fmt.Errorf("store: append to upload: %w",
			tandem.Errorf(tandem.ELIMIT, "the file is larger than the limit of %d bytes", max))
	}
	if err := f.Sync(); err != nil {
		return up, tandem.NoSpace(fmt.Errorf("store: append to upload: %w", err))
	}
	if n > 0 {
		next := up
		next.Offset += n
		next.ExpiresAt = stamp(u.db.now()).Add(UploadTTL)
		if err := u.put(next); err != nil {
			return up, tandem.NoSpace(fmt.Errorf("store: append to upload: %w", err))
		}
		up = next
	}
	if readErr != nil {
		// The client's fault or its network's: EINVALID, not a fault of
		// the store.
		return up, fmt.Errorf("store: append to upload: %w: %w",
			tandem.Errorf(tandem.EINVALID, "the body was cut short; the hub has %d bytes, resume from there", up.Offset), readErr)
	}
	return up, nil
}

// Finish hands over the file of session id as a Spool, to be checked and
// committed as a blob. Committing the spool ends the session; aborting it
// removes the session and its file. Until then the session is busy.
func (u *Uploads) Finish(id string) (*Spool, error) {
	up, err := u.Get(id)
	if err != nil {
		return nil, err
	}
	if err := u.lock(id); err != nil {
		return nil, fmt.Errorf("store: finish upload: %w", err)
	}
	f, err := os.OpenFile(u.file(id), os.O_RDWR, 0)
	if err != nil {
		u.unlock(id)
		return nil, fmt.Errorf("store: finish upload: %w", err)
	}
	return &Spool{b: u.blobs, f: f, size: up.Offset, onDone: func(committed bool) error {
		defer u.unlock(id)
		if committed {
			return u.deleteSession(id)
		}
		return u.Delete(id)
	}}, nil
}

// Delete removes session id and its file.
func (u *Uploads) Delete(id string) error {
	if !validUploadID(id) {
		return fmt.Errorf("store: delete upload: %w", tandem.Errorf(tandem.EINVALID, "%q is not an upload id", id))
	}
	err := os.Remove(u.file(id))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err = errors.Join(err, u.deleteSession(id)); err != nil {
		return fmt.Errorf("store: delete upload: %w", err)
	}
	return nil
}

// readErrors reads r and keeps its error, so that a copy from it can tell
// a failing reader (the client's fault) from a failing writer (the
// hub's).
type readErrors struct {
	r   io.Reader
	err error // the first error other than io.EOF
}

func (r *readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

func (u *Uploads) deleteSession(id string) error {
	return u.db.update(func(tx *bolt.Tx) error {
		return bucket(tx, bucketUploads).Delete([]byte(id))
	})
}

func (u *Uploads) maybeSweep() {
	u.mu.Lock()
	due := u.db.now().Sub(u.lastSweep) >= sweepEvery
	u.mu.Unlock()
	if due {
		if err := u.Sweep(); err != nil {
			u.log.Error("store: sweep uploads", "err", err)
		}
	}
}

// Sweep removes expired sessions with their files, and files that have
// no session. Busy sessions are left alone.
func (u *Uploads) Sweep() error {
	u.sweeping.Lock()
	defer u.sweeping.Unlock()
	now := u.db.now()
	u.mu.Lock()
	u.lastSweep = now
	u.mu.Unlock()
	live := map[string]bool{}
	var expired []string
	err := u.db.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketUploads).ForEach(func(k, v []byte) error {
			var up Upload
			if err := json.Unmarshal(v, &up); err != nil || !now.Before(up.ExpiresAt) {
				expired = append(expired, string(k))
				return nil
			}
			live[string(k)] = true
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: sweep uploads: %w", err)
	}
	u.mu.Lock()
	for id := range u.busy {
		live[id] = true
	}
	u.mu.Unlock()
	for _, id := range expired {
		if live[id] {
			continue
		}
		if err := os.Remove(u.file(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: sweep uploads: %w", err)
		}
		if err := u.deleteSession(id); err != nil {
			return fmt.Errorf("store: sweep uploads: %w", err)
		}
		u.log.Info("store: removed an expired upload", "id", id)
	}
	files, err := os.ReadDir(u.dir)
	if err != nil {
		return fmt.Errorf("store: sweep uploads: %w", err)
	}
	for _, f := range files {
		if !live[f.Name()] {
			if err := os.RemoveAll(filepath.Join(u.dir, f.Name())); err != nil {
				return fmt.Errorf("store: sweep uploads: %w", err)
			}
		}
	}
	return nil
}
