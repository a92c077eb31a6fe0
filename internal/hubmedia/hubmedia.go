// Package hubmedia gives a hub (sync/hub) its music API, wired to the
// store's blobs and upload sessions and to the audio package's probe. The
// self-hosted hub and the player's built-in hub both use it.
package hubmedia

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"tandem/audio"
	"tandem/store"
	"tandem/sync/hub"
)

// Wire gives the hub its music API (sync/hub/media.go): blobs in
// DATA/blobs, upload sessions in the database, and audio.Probe to check
// uploads. It removes the temporary files of uploads that an earlier run
// left, and expired upload sessions. opts go to store.OpenBlobs.
func Wire(cfg *hub.Config, db *store.DB, data string, log *slog.Logger, opts ...store.BlobOption) error {
	blobs, err := store.OpenBlobs(filepath.Join(data, store.BlobDir), log, opts...)
	if err != nil {
		return err
	}
	uploads, err := store.NewUploads(db, blobs)
	if err != nil {
		return err
	}
	cfg.Media = mediaStore{DB: db, blobs: blobs, uploads: uploads}
	cfg.Probe = probe
	return nil
}

// probe adapts audio.Probe to hub.Probe.
func probe(r io.ReadSeeker) (hub.MediaInfo, error) {
	info, err := audio.Probe(r)
	var refusal *audio.Refusal
	if errors.As(err, &refusal) {
		return hub.MediaInfo{}, &hub.Unsupported{Reason: refusal.Error()}
	}
	if errors.Is(err, audio.ErrUnknownFormat) || errors.Is(err, audio.ErrMalformed) {
		return hub.MediaInfo{}, fmt.Errorf("%w: %v", hub.ErrUnsupported, err)
	}
	if err != nil {
		return hub.MediaInfo{}, err
	}
	return hub.MediaInfo{Format: info.Format, Title: info.Title, Artist: info.Artist, Album: info.Album,
		Duration: info.Duration, Art: info.Art, ArtType: info.ArtType}, nil
}

// mediaStore adapts the store's tracks, blobs and uploads to hub.Media.
type mediaStore struct {
	*store.DB // AddTrack
	blobs     *store.Blobs
	uploads   *store.Uploads
}

func (m mediaStore) CreateBlob() (hub.Spool, error) {
	s, err := m.blobs.Create()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m mediaStore) OpenBlob(id string) (io.ReadSeekCloser, error) {
	f, err := m.blobs.Open(id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (m mediaStore) PutArt(id string, data []byte) error { return m.blobs.PutArt(id, data) }

func (m mediaStore) OpenArt(id string) (io.ReadSeekCloser, error) {
	f, err := m.blobs.OpenArt(id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (m mediaStore) CreateUpload(user, name string, length int64) (hub.Upload, error) {
	up, err := m.uploads.Create(user, name, length)
	return hub.Upload(up), err
}

func (m mediaStore) Upload(id string) (hub.Upload, error) {
	up, err := m.uploads.Get(id)
	return hub.Upload(up), err
}

func (m mediaStore) AppendUpload(id string, offset int64, r io.Reader, max int64) (hub.Upload, error) {
	up, err := m.uploads.Append(id, offset, r, max)
	return hub.Upload(up), err
}

func (m mediaStore) FinishUpload(id string) (hub.Spool, error) {
	s, err := m.uploads.Finish(id)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m mediaStore) DeleteUpload(id string) error { return m.uploads.Delete(id) }
