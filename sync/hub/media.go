package hub

// Music: the hub's HTTP API for tracks (docs/PROTOCOL.md, section HTTP).
// Friends upload files, whole or in resumable pieces; the hub checks that
// each is music it can play, stores it content-addressed by sha256, and
// serves it back with Range and ETag support. Storage and the audio probe
// come through Media and Probe, which cmd/hub wires to packages store and
// audio.

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tandem"
)

// DefaultMaxUpload is the largest file the hub accepts when
// Config.MaxUpload is 0: 200 MB.
const DefaultMaxUpload = 200 << 20

// copyBuffer is the size of the buffer an upload streams through.
const copyBuffer = 256 << 10

// ErrUnsupported marks a Probe error about the file itself: it is not
// music in a format the hub accepts, or it does not decode. The upload
// gets 415 with ErrUnsupported's text; the rest goes to the log.
var ErrUnsupported = errors.New("not a playable MP3, FLAC, Ogg Vorbis or WAV file")

// Unsupported is an ErrUnsupported with a sentence about the file for the
// person who sent it ("this FLAC file says it is 36 days long but holds
// 1.0 seconds of audio"), which the 415 answer adds to ErrUnsupported's.
type Unsupported struct{ Reason string }

func (u *Unsupported) Error() string { return ErrUnsupported.Error() + ": " + u.Reason }
func (u *Unsupported) Unwrap() error { return ErrUnsupported }

// MediaInfo is what Probe learns about a file.
type MediaInfo struct {
	Format               string // "mp3", "flac", "ogg" or "wav"
	Title, Artist, Album string // may be empty
	Duration             time.Duration
	Art                  []byte // embedded artwork, or nil
	ArtType              string // its MIME type (image/...), or ""
}

// Probe checks that the file r reads is music the hub accepts, by its
// content and by decoding it, and reads its tags. Errors about the file
// wrap ErrUnsupported; others are faults of the hub.
type Probe func(r io.ReadSeeker) (MediaInfo, error)

// Spool is a file on its way to becoming a blob: written, then checked,
// then committed under its sha256 or aborted.
type Spool interface {
	io.Writer
	// Size returns the number of bytes in the file.
	Size() int64
	// Sum returns the lowercase hex sha256 of the file.
	Sum() (string, error)
	// Reader reads the file from its start.
	Reader() io.ReadSeeker
	// Commit stores the file durably as the blob named by its Sum.
	Commit() error
	// Abort drops the file; it does nothing after Commit or Abort.
	Abort() error
}

// Upload is a resumable upload session.
type Upload struct {
	ID        string
	User      string // who may append to it
	Name      string // the file name the client gave, or ""
	Length    int64  // declared length in bytes, or -1
	Offset    int64  // bytes received and stored
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Media is the storage of tracks' files. Methods return *tandem.Error
// values with codes EINVALID, ENOTFOUND, ECONFLICT, ELIMIT or ENOSPACE (a
// full disk) where they apply; a method returns only once its change is
// durable. Writes to a Spool may fail with ENOSPACE too.
type Media interface {
	// AddTrack stores t unless a track with its ID exists, and returns
	// the stored track and whether t was added.
	AddTrack(t tandem.Track) (tandem.Track, bool, error)
	// CreateBlob starts a spool for a new file.
	CreateBlob() (Spool, error)
	// OpenBlob opens the file of track id.
	OpenBlob(id string) (io.ReadSeekCloser, error)
	// PutArt stores the artwork of track id; OpenArt opens it.
	PutArt(id string, data []byte) error
	OpenArt(id string) (io.ReadSeekCloser, error)

	// CreateUpload starts a resumable upload for user; length is -1 when
	// unknown.
	CreateUpload(user, name string, length int64) (Upload, error)
	// Upload returns a session; expired ones are ENOTFOUND.
	Upload(id string) (Upload, error)
	// AppendUpload appends what r yields at offset, which must be the
	// session's (else ECONFLICT), growing the file to at most max bytes
	// (else ELIMIT) and to its declared length (else EINVALID). If r
	// fails, the bytes before are kept and the updated session is
	// returned with an EINVALID error. If writing fails, nothing of r is
	// kept.
	AppendUpload(id string, offset int64, r io.Reader, max int64) (Upload, error)
	// FinishUpload hands over the session's file as a spool; committing
	// it ends the session, aborting it deletes the session.
	FinishUpload(id string) (Spool, error)
	// DeleteUpload deletes a session and its file.
	DeleteUpload(id string) error
}

// media serves the music API.
type media struct {
	h     *Hub
	store Media
	probe Probe
	max   int64
}

// registerMedia adds the music API to the hub's mux, if cfg has Media.
func (h *Hub) registerMedia(cfg Config) {
	if cfg.Media == nil || cfg.Probe == nil {
		return
	}
	m := &media{h: h, store: cfg.Media, probe: cfg.Probe, max: cfg.MaxUpload}
	if m.max <= 0 {
		m.max = DefaultMaxUpload
	}
	routes := map[string]func(http.ResponseWriter, *http.Request, tandem.User){
		"POST /api/tracks":                m.postTrack,
		"GET /api/tracks/{id}":            m.getTrack,
		"GET /api/tracks/{id}/audio":      m.getAudio,
		"GET /api/tracks/{id}/art":        m.getArt,
		"POST /api/uploads":               m.postUpload,
		"GET /api/uploads/{id}":           m.getUpload,
		"PATCH /api/uploads/{id}":         m.patchUpload,
		"POST /api/uploads/{id}/complete": m.completeUpload,
		"DELETE /api/uploads/{id}":        m.deleteUpload,
	}
	for pattern, fn := range routes {
		h.mux.HandleFunc(pattern, m.authenticated(fn))
	}
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Error *tandem.Error `json:"error"`
}

// fail answers with err as JSON. Errors without a code are faults of the
// hub: they are logged and shown as "internal error"; a full disk is
// logged and answered 507 ENOSPACE.
func (m *media) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	err = tandem.NoSpace(err)
	code := tandem.ErrorCode(err)
	switch code {
	case tandem.EINTERNAL:
		m.h.log.Error("hub: http", "method", r.Method, "path", r.URL.Path, "err", err)
		status = http.StatusInternalServerError
	case tandem.ENOSPACE:
		m.h.log.Error("hub: http: the disk is full", "method", r.Method, "path", r.URL.Path, "err", err)
		status = http.StatusInsufficientStorage
	default:
		m.h.log.Debug("hub: http refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	m.reply(w, r, status, apiError{Error: &tandem.Error{Code: code, Message: tandem.ErrorMessage(err)}})
}

// failCode answers with the status that goes with err's code.
func (m *media) failCode(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch tandem.ErrorCode(err) {
	case tandem.EINVALID:
		status = http.StatusBadRequest
	case tandem.ENOTFOUND:
		status = http.StatusNotFound
	case tandem.ECONFLICT:
		status = http.StatusConflict
	case tandem.EUNAUTHORIZED:
		status = http.StatusUnauthorized
	case tandem.EFORBIDDEN:
		status = http.StatusForbidden
	case tandem.ELIMIT:
		status = http.StatusRequestEntityTooLarge
	case tandem.ENOSPACE:
		status = http.StatusInsufficientStorage
	}
	m.fail(w, r, status, err)
}

func (m *media) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	m.answerEarly(w, r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		m.h.log.Debug("hub: http reply", "err", err)
	}
}

// authenticated checks the bearer token before fn runs.
func (m *media) authenticated(fn func(http.ResponseWriter, *http.Request, tandem.User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Body != nil && r.Body != http.NoBody {
			// On a copy of the request: the server looks at the body of
			// its own to learn whether the client still waits for a
			// 100 Continue.
			r = r.WithContext(r.Context())
			r.Body = &countedBody{ReadCloser: r.Body, h: m.h}
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
			m.fail(w, r, http.StatusUnauthorized, tandem.Errorf(tandem.EUNAUTHORIZED, "send your token as Authorization: Bearer <token>"))
			return
		}
		u, err := m.h.store.Authenticate(strings.TrimSpace(token))
		if err != nil {
			if tandem.ErrorCode(err) == tandem.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tandem", error="invalid_token"`)
				m.fail(w, r, http.StatusUnauthorized, tandem.Errorf(tandem.EUNAUTHORIZED, "unknown token"))
				return
			}
			m.fail(w, r, 0, fmt.Errorf("hub: authenticate: %w", err))
			return
		}
		fn(w, r, u)
	}
}

// countedBody counts the bytes friends upload, for the hub's metrics, and
// notes whether the handler read the body to its end.
type countedBody struct {
	io.ReadCloser
	h   *Hub
	eof bool
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.h.countUploadBytes(int64(n))
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// unread reports whether r has a body the handler did not read to its
// end.
func unread(r *http.Request) bool {
	b, ok := r.Body.(*countedBody)
	return ok && !b.eof
}

// earlyGrace is how long the hub goes on reading, and dropping, the rest
// of a body it answered before reading (see answerEarly).
const earlyGrace = time.Second

// answerEarly readies an answer given before the request's body was read
// to its end. Over HTTP/1 the hub closes the connection after it, rather
// than read a body it does not want: Go's server would read up to 256 KB
// of it, without a time limit, after sending the answer. It reads, and
// drops, what arrives for earlyGrace more, so that closing with bytes
// unread does not reset the connection under the client before it reads
// the answer. HTTP/2 ends the stream alone.
func (m *media) answerEarly(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 || !unread(r) {
		return
	}
	w.Header().Set("Connection", "close")
	if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(earlyGrace)); err != nil {
		m.h.log.Debug("hub: http read deadline", "err", err)
	}
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

// TrackJSON is a track as the HTTP API shows it. Durations are in
// milliseconds, as everywhere in the protocol.
type TrackJSON struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Artist     string    `json:"artist"`
	Album      string    `json:"album,omitempty"`
	Duration   float64   `json:"duration"` // ms
	Format     string    `json:"format"`
	Size       int64     `json:"size"`
	Uploader   string    `json:"uploader,omitempty"`
	UploadedAt time.Time `json:"uploadedAt,omitzero"`
	Art        string    `json:"art,omitempty"` // the artwork's MIME type; GET .../art serves it
}

func trackJSON(t tandem.Track) TrackJSON {
	return TrackJSON{ID: t.ID, Title: t.Title, Artist: t.Artist, Album: t.Album,
		Duration: float64(t.Duration) / float64(time.Millisecond), Format: t.Format, Size: t.Size,
		Uploader: t.Uploader, UploadedAt: t.UploadedAt, Art: t.Art}
}

// isTrackID reports whether id is a track id: 64 lowercase hex digits.
func isTrackID(id string) bool {
	if len(id) != 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// track returns the track named in the path, or answers the request.
func (m *media) track(w http.ResponseWriter, r *http.Request) (tandem.Track, bool) {
	id := r.PathValue("id")
	if !isTrackID(id) {
		m.fail(w, r, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "a track id is 64 lowercase hex digits (the file's sha256)"))
		return tandem.Track{}, false
	}
	t, err := m.h.store.Track(id)
	if err != nil {
		m.failCode(w, r, err)
		return tandem.Track{}, false
	}
	return t, true
}

func (m *media) getTrack(w http.ResponseWriter, r *http.Request, _ tandem.User) {
	if t, ok := m.track(w, r); ok {
		m.reply(w, r, http.StatusOK, trackJSON(t))
	}
}

// contentTypes are the MIME types of the audio formats.
func contentType(format string) string {
	switch format {
	case "mp3":
		return "audio/mpeg"
	case "flac":
		return "audio/flac"
	case "ogg":
		return "audio/ogg"
	case "wav":
		return "audio/wav"
	}
	return "application/octet-stream"
}

func (m *media) getAudio(w http.ResponseWriter, r *http.Request, _ tandem.User) {
	t, ok := m.track(w, r)
	if !ok {
		return
	}
	f, err := m.store.OpenBlob(t.ID)
	if err != nil {
		m.failCode(w, r, err)
		return
	}
	defer f.Close()
	m.serve(w, r, f, contentType(t.Format), `"`+t.ID+`"`)
}

func (m *media) getArt(w http.ResponseWriter, r *http.Request, _ tandem.User) {
	t, ok := m.track(w, r)
	if !ok {
		return
	}
	if t.Art == "" {
		m.fail(w, r, http.StatusNotFound, tandem.Errorf(tandem.ENOTFOUND, "track %s has no artwork", t.ID))
		return
	}
	f, err := m.store.OpenArt(t.ID)
	if err != nil {
		m.failCode(w, r, err)
		return
	}
	defer f.Close()
	m.serve(w, r, f, t.Art, `"`+t.ID+`.art"`)
}

// serve serves an immutable file: Range, If-Range, ETag, If-None-Match.
func (m *media) serve(w http.ResponseWriter, r *http.Request, f io.ReadSeeker, ctype, etag string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
}

// fileName returns the file name of a Content-Disposition header, without
// any directory, or "".
func fileName(r *http.Request) string {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	name := strings.ReplaceAll(params["filename"], `\`, "/")
	name = path.Base(name)
	if name == "." || name == "/" {
		return ""
	}
	return name
}

// titleFrom makes a title of a file name: no extension, no control
// characters, valid UTF-8, at most 200 characters; "Unknown" if nothing
// is left.
func titleFrom(name string) string {
	name = strings.TrimSuffix(name, path.Ext(name))
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for utf8.RuneCountInString(name) > 200 {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if name == "" {
		return "Unknown"
	}
	return name
}

// contentDigest returns the sha-256 of an RFC 9530 Content-Digest header
// (`sha-256=:<base64>:`) in lowercase hex, or "" if the header has none.
func contentDigest(r *http.Request) (string, error) {
	for _, v := range r.Header.Values("Content-Digest") {
		for item := range strings.SplitSeq(v, ",") {
			key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok || strings.ToLower(key) != "sha-256" {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(strings.Trim(val, ":"))
			if err != nil || len(b) != 32 || !strings.HasPrefix(val, ":") || !strings.HasSuffix(val, ":") {
				return "", tandem.Errorf(tandem.EINVALID, "Content-Digest sha-256 must be :<base64 of 32 bytes>:")
			}
			return hex.EncodeToString(b), nil
		}
	}
	return "", nil
}

// known answers 200 with the track of digest, if the hub has it.
func (m *media) known(w http.ResponseWriter, r *http.Request, digest string) bool {
	if digest == "" {
		return false
	}
	t, err := m.h.store.Track(digest)
	if err != nil {
		return false
	}
	w.Header().Set("Location", "/api/tracks/"+t.ID)
	m.reply(w, r, http.StatusOK, trackJSON(t))
	return true
}

func (m *media) tooLarge() error {
	return tandem.Errorf(tandem.ELIMIT, "the file is larger than this hub's limit of %d bytes", m.max)
}

// postTrack receives a whole file as the request body.
func (m *media) postTrack(w http.ResponseWriter, r *http.Request, u tandem.User) {
	digest, err := contentDigest(r)
	if err != nil {
		m.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if m.known(w, r, digest) {
		return
	}
	if r.ContentLength > m.max {
		m.fail(w, r, http.StatusRequestEntityTooLarge, m.tooLarge())
		return
	}
	spool, err := m.store.CreateBlob()
	if err != nil {
		m.fail(w, r, 0, fmt.Errorf("hub: upload: %w", err))
		return
	}
	defer spool.Abort()
	body := &readErrors{r: io.LimitReader(r.Body, m.max+1)}
	n, err := io.CopyBuffer(spool, body, make([]byte, copyBuffer))
	switch {
	case body.err != nil:
		// Reading the body failed: the client went away, or sent too
		// little.
		m.fail(w, r, http.StatusBadRequest, fmt.Errorf("hub: upload: %w: %w",
			tandem.Errorf(tandem.EINVALID, "the upload was cut short after %d bytes", n), body.err))
		return
	case err != nil:
		// Writing it failed: the hub's fault (507 on a full disk).
		m.fail(w, r, 0, fmt.Errorf("hub: upload: %w", err))
		return
	case n > m.max:
		m.fail(w, r, http.StatusRequestEntityTooLarge, m.tooLarge())
		return
	}
	m.finish(w, r, u, fileName(r), digest, spool)
}

// finish checks a received file and makes it a track: 201, or 200 when
// the hub has it already.
func (m *media) finish(w http.ResponseWriter, r *http.Request, u tandem.User, name, digest string, spool Spool) {
	defer spool.Abort()
	if spool.Size() == 0 {
		m.fail(w, r, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "the file is empty"))
		return
	}
	sum, err := spool.Sum()
	if err != nil {
		m.fail(w, r, 0, fmt.Errorf("hub: upload: %w", err))
		return
	}
	if digest != "" && digest != sum {
		m.fail(w, r, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "the file does not match its Content-Digest"))
		return
	}
	if m.known(w, r, sum) {
		return
	}
	info, err := m.probe(spool.Reader())
	if errors.Is(err, ErrUnsupported) {
		// The decoder's words stay in the log; a sentence meant for the
		// sender goes with the answer.
		msg := ErrUnsupported.Error()
		var u *Unsupported
		if errors.As(err, &u) {
			msg = u.Error()
		}
		m.fail(w, r, http.StatusUnsupportedMediaType, fmt.Errorf("hub: probe upload: %w: %w",
			tandem.Errorf(tandem.EINVALID, "%s", msg), err))
		return
	}
	if err != nil {
		m.fail(w, r, 0, fmt.Errorf("hub: probe upload: %w", err))
		return
	}
	t := tandem.Track{ID: sum, Title: info.Title, Artist: info.Artist, Album: info.Album, Duration: info.Duration,
		Format: info.Format, Size: spool.Size(), Uploader: u.Name, UploadedAt: m.h.now().UTC()}
	if t.Title == "" {
		t.Title = titleFrom(name)
	}
	if len(info.Art) > 0 && info.ArtType != "" {
		if err := m.store.PutArt(sum, info.Art); err != nil {
			m.fail(w, r, 0, fmt.Errorf("hub: store artwork: %w", err))
			return
		}
		t.Art = info.ArtType
	}
	// The file first: a track is never stored without its file.
	if err := spool.Commit(); err != nil {
		m.fail(w, r, 0, fmt.Errorf("hub: store upload: %w", err))
		return
	}
	stored, created, err := m.store.AddTrack(t)
	if err != nil {
		m.fail(w, r, 0, fmt.Errorf("hub: store track: %w", err))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		m.h.log.Info("hub: track uploaded", "user", u.Name, "id", sum, "title", t.Title, "format", t.Format, "bytes", t.Size)
	}
	w.Header().Set("Location", "/api/tracks/"+stored.ID)
	m.reply(w, r, status, trackJSON(stored))
}

// UploadJSON is a resumable upload session as the HTTP API shows it.
type UploadJSON struct {
	ID        string    `json:"id"`
	Offset    int64     `json:"offset"`
	Length    *int64    `json:"length,omitempty"` // absent when not declared
	ExpiresAt time.Time `json:"expiresAt"`
}

func (m *media) uploadHeaders(w http.ResponseWriter, up Upload) UploadJSON {
	h := w.Header()
	h.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
	h.Set("Upload-Expires", up.ExpiresAt.UTC().Format(http.TimeFormat))
	h.Set("Cache-Control", "no-store")
	j := UploadJSON{ID: up.ID, Offset: up.Offset, ExpiresAt: up.ExpiresAt}
	if up.Length >= 0 {
		h.Set("Upload-Length", strconv.FormatInt(up.Length, 10))
		j.Length = &up.Length
	}
	return j
}

func (m *media) postUpload(w http.ResponseWriter, r *http.Request, u tandem.User) {
	digest, err := contentDigest(r)
	if err != nil {
		m.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if m.known(w, r, digest) {
		return
	}
	length := int64(-1)
	if v := r.Header.Get("Upload-Length"); v != "" {
		length, err = strconv.ParseInt(v, 10, 64)
		if err != nil || length <= 0 {
			m.fail(w, r, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "Upload-Length must be a positive number of bytes"))
			return
		}
		if length > m.max {
			m.fail(w, r, http.StatusRequestEntityTooLarge, m.tooLarge())
			return
		}
	}
	up, err := m.store.CreateUpload(u.Name, fileName(r), length)
	if err != nil {
		m.fail(w, r, 0, fmt.Errorf("hub: create upload: %w", err))
		return
	}
	w.Header().Set("Location", "/api/uploads/"+up.ID)
	m.reply(w, r, http.StatusCreated, m.uploadHeaders(w, up))
}

// upload returns the caller's session named in the path, or answers.
func (m *media) upload(w http.ResponseWriter, r *http.Request, u tandem.User) (Upload, bool) {
	up, err := m.store.Upload(r.PathValue("id"))
	if err != nil {
		m.failCode(w, r, err)
		return Upload{}, false
	}
	if up.User != u.Name {
		m.fail(w, r, http.StatusForbidden, tandem.Errorf(tandem.EFORBIDDEN, "upload %s belongs to someone else", up.ID))
		return Upload{}, false
	}
	return up, true
}

func (m *media) getUpload(w http.ResponseWriter, r *http.Request, u tandem.User) {
	if up, ok := m.upload(w, r, u); ok {
		m.reply(w, r, http.StatusOK, m.uploadHeaders(w, up))
	}
}

func (m *media) patchUpload(w http.ResponseWriter, r *http.Request, u tandem.User) {
	offset, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		m.fail(w, r, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "PATCH needs an Upload-Offset header: the number of bytes the hub has"))
		return
	}
	up, ok := m.upload(w, r, u)
	if !ok {
		return
	}
	if offset != up.Offset {
		m.uploadHeaders(w, up)
		m.fail(w, r, http.StatusConflict, tandem.Errorf(tandem.ECONFLICT, "the hub has %d bytes of this upload, not %d; resume from there", up.Offset, offset))
		return
	}
	if r.ContentLength > 0 && offset+r.ContentLength > m.max {
		m.fail(w, r, http.StatusRequestEntityTooLarge, m.tooLarge())
		return
	}
	up, err = m.store.AppendUpload(up.ID, offset, r.Body, m.max)
	if err != nil {
		// A body cut short is EINVALID, and what arrived is kept: the
		// offset tells where to resume.
		if up.ID != "" {
			m.uploadHeaders(w, up)
		}
		m.failCode(w, r, err)
		return
	}
	if up.Length >= 0 && up.Offset == up.Length {
		m.uploadHeaders(w, up)
		m.complete(w, r, u, up)
		return
	}
	m.uploadHeaders(w, up)
	m.answerEarly(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func (m *media) completeUpload(w http.ResponseWriter, r *http.Request, u tandem.User) {
	up, ok := m.upload(w, r, u)
	if !ok {
		return
	}
	if up.Length >= 0 && up.Offset != up.Length {
		m.uploadHeaders(w, up)
		m.fail(w, r, http.StatusConflict, tandem.Errorf(tandem.ECONFLICT, "the hub has %d of the %d bytes of this upload", up.Offset, up.Length))
		return
	}
	m.complete(w, r, u, up)
}

func (m *media) complete(w http.ResponseWriter, r *http.Request, u tandem.User, up Upload) {
	spool, err := m.store.FinishUpload(up.ID)
	if err != nil {
		m.failCode(w, r, err)
		return
	}
	m.finish(w, r, u, up.Name, "", spool)
}

func (m *media) deleteUpload(w http.ResponseWriter, r *http.Request, u tandem.User) {
	up, ok := m.upload(w, r, u)
	if !ok {
		return
	}
	if err := m.store.DeleteUpload(up.ID); err != nil {
		m.failCode(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
