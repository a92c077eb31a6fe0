// Package upload sends a music file to a Tandem hub over its resumable
// upload protocol (docs/PROTOCOL.md, section HTTP): it creates a session
// with POST /api/uploads, sends the file with PATCH requests, and, when a
// connection breaks, asks the hub how much it has (HEAD) and goes on from
// there.
//
// An Upload is an emitter, after the seed's upload.on('progress'):
//
//	u := upload.New(file, size, upload.Options{URL: hubURL, Token: token, Name: "song.mp3"})
//	upload.Progress.On(u.Emitter(), func(p upload.ProgressInfo) { bar.SetValue(p.Fraction()) })
//	upload.Complete.On(u.Emitter(), func(t tandem.Track) { ... })
//	upload.Error.On(u.Emitter(), func(err error) { ... })
//	go u.Run(ctx)
package upload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem"
	"tandem/sync/event"
)

// ProgressInfo is the payload of Progress.
type ProgressInfo struct {
	Sent  int64 // bytes sent so far; never decreases
	Total int64 // the file's size
}

// Fraction returns Sent/Total, between 0 and 1.
func (p ProgressInfo) Fraction() float64 {
	if p.Total <= 0 {
		return 1
	}
	return float64(p.Sent) / float64(p.Total)
}

// The events of an Upload.
var (
	// Progress is emitted as the file is sent. Sent never decreases: after
	// an interruption, bytes the hub lost are sent again without being
	// counted twice.
	Progress = event.NewTopic[ProgressInfo]("progress")
	// Complete is emitted once, with the hub's track, when the hub has
	// accepted the file (or already had it).
	Complete = event.NewTopic[tandem.Track]("complete")
	// Error is emitted once, when the upload fails for good. Without a
	// listener, the error goes to the emitter's logger.
	Error = event.Error
)

// Defaults of Options.
const (
	DefaultRetries    = 5
	DefaultRetryDelay = 250 * time.Millisecond
)

// Options configure an Upload.
type Options struct {
	URL   string // the hub's base URL, e.g. http://127.0.0.1:7878
	Token string // the friend's token
	// Name is the file name, sent to the hub, which uses it as the title
	// when the file has none.
	Name string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Logger receives debug logs and unhandled error events.
	Logger *slog.Logger
	// ChunkSize is the most bytes one PATCH sends; 0 sends the rest of the
	// file in one request.
	ChunkSize int64
	// Retries is how many times in a row (with no bytes taken by the hub
	// between) an interrupted upload is resumed before it fails; 0 means
	// DefaultRetries, a negative number none. A full disk on the hub (507
	// ENOSPACE) is not retried.
	// RetryDelay is the wait before the first retry, doubled each time;
	// 0 means DefaultRetryDelay.
	Retries    int
	RetryDelay time.Duration
	// Session is the URL path of an upload session created earlier (see
	// Upload.Session), to resume after a restart; "" starts a new one.
	Session string
}

// Upload sends one file. Create it with New, listen on its Emitter, then
// call Run once.
type Upload struct {
	src  io.ReaderAt
	size int64
	opts Options
	em   *event.Emitter
	log  *slog.Logger

	mu       sync.Mutex // guards the following
	session  string     // URL path of the session, once created
	reported int64      // the largest Sent emitted
}

// New returns an upload of the size bytes that src holds.
func New(src io.ReaderAt, size int64, opts Options) *Upload {
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	opts.URL = strings.TrimRight(opts.URL, "/")
	return &Upload{src: src, size: size, opts: opts, em: event.New(opts.Logger), log: opts.Logger,
		session: opts.Session, reported: -1}
}

// Emitter returns the upload's emitter, for Progress, Complete and Error.
func (u *Upload) Emitter() *event.Emitter { return u.em }

// Session returns the URL path of the upload's session on the hub, or ""
// before it is created. Keep it to resume after a restart.
func (u *Upload) Session() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.session
}

// Run sends the file and returns the hub's track. It emits Progress along
// the way, then Complete or Error. It returns when done, when it gives up,
// or when ctx ends.
func (u *Upload) Run(ctx context.Context) (tandem.Track, error) {
	t, err := u.run(ctx)
	if err != nil {
		Error.Emit(u.em, err)
		return tandem.Track{}, err
	}
	u.progress(u.size)
	Complete.Emit(u.em, t)
	return t, nil
}

// errRetry marks a failure worth a resume: the connection broke, or the
// hub had a passing fault.
type errRetry struct{ err error }

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

func (u *Upload) run(ctx context.Context) (tandem.Track, error) {
	if u.Session() == "" {
		t, done, err := u.create(ctx)
		if err != nil || done {
			return t, err
		}
	}
	offset := int64(-1) // unknown: ask the hub
	failures := 0
	for {
		var (
			t    tandem.Track
			done bool
			err  error
		)
		if offset < 0 {
			offset, err = u.head(ctx)
		} else {
			t, done, offset, err = u.patch(ctx, offset)
			if err == nil {
				failures = 0 // the hub took bytes: a fresh start
			}
		}
		if done {
			return t, nil
		}
		var retry *errRetry
		if err == nil {
			continue
		}
		if !errors.As(err, &retry) || failures >= u.opts.Retries || ctx.Err() != nil {
			return tandem.Track{}, err
		}
		delay := u.opts.RetryDelay << failures
		failures++
		u.log.Debug("upload: resuming", "session", u.Session(), "after", delay, "err", err)
		select {
		case <-ctx.Done():
			return tandem.Track{}, fmt.Errorf("upload: %w", ctx.Err())
		case <-time.After(delay):
		}
		offset = -1
	}
}

// request sends a request to the hub.
func (u *Upload) request(ctx context.Context, method, path string, body io.Reader, size int64, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.opts.URL+path, body)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+u.opts.Token)
	resp, err := u.opts.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upload: %s %s: %w", method, path, ctx.Err())
		}
		return nil, &errRetry{fmt.Errorf("upload: %s %s: %w", method, path, err)}
	}
	return resp, nil
}

// failure turns an error answer into an error with the hub's code.
func failure(resp *http.Response, body []byte) error {
	var e struct {
		Error *tandem.Error `json:"error"`
	}
	err := error(tandem.Errorf(tandem.EINTERNAL, "the hub answered %s", resp.Status))
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		err = e.Error
	}
	err = fmt.Errorf("upload: %s %s: %s: %w", resp.Request.Method, resp.Request.URL.Path, resp.Status, err)
	// A passing fault of the hub is worth a retry; a full disk is not
	// (its owner has to free space first).
	if resp.StatusCode >= 500 && tandem.ErrorCode(err) != tandem.ENOSPACE {
		return &errRetry{err}
	}
	return err
}

// read reads a response's body, at most 1 MB of it, and closes it.
func read(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &errRetry{fmt.Errorf("upload: read answer: %w", err)}
	}
	return b, nil
}

// create starts the session, or learns that the hub has the file.
func (u *Upload) create(ctx context.Context) (tandem.Track, bool, error) {
	h := http.Header{}
	h.Set("Upload-Length", strconv.FormatInt(u.size, 10))
	if u.opts.Name != "" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": u.opts.Name}))
	}
	var (
		resp *http.Response
		err  error
	)
	for failures := 0; ; failures++ {
		resp, err = u.request(ctx, http.MethodPost, "/api/uploads", nil, 0, h)
		var retry *errRetry
		if err == nil || !errors.As(err, &retry) || failures >= u.opts.Retries {
			break
		}
		select {
		case <-ctx.Done():
			return tandem.Track{}, false, fmt.Errorf("upload: %w", ctx.Err())
		case <-time.After(u.opts.RetryDelay << failures):
		}
	}
	if err != nil {
		return tandem.Track{}, false, err
	}
	body, err := read(resp)
	if err != nil {
		return tandem.Track{}, false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		t, err := decodeTrack(body)
		return t, err == nil, err
	case http.StatusCreated:
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/api/uploads/") {
			return tandem.Track{}, false, fmt.Errorf("upload: the hub gave the session %q", loc)
		}
		u.mu.Lock()
		u.session = loc
		u.mu.Unlock()
		return tandem.Track{}, false, nil
	}
	return tandem.Track{}, false, failure(resp, body)
}

// head asks the hub how many bytes it has.
func (u *Upload) head(ctx context.Context) (int64, error) {
	resp, err := u.request(ctx, http.MethodHead, u.Session(), nil, 0, nil)
	if err != nil {
		return -1, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// A HEAD answer has no body: only the status tells.
		err := fmt.Errorf("upload: HEAD %s: %s", u.Session(), resp.Status)
		if resp.StatusCode >= 500 {
			return -1, &errRetry{err}
		}
		return -1, err
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 || off > u.size {
		return -1, fmt.Errorf("upload: HEAD %s: bad Upload-Offset %q", u.Session(), resp.Header.Get("Upload-Offset"))
	}
	return off, nil
}

// patch sends the file from offset. It returns the track when the hub
// completed the upload, else the new offset.
func (u *Upload) patch(ctx context.Context, offset int64) (tandem.Track, bool, int64, error) {
	n := u.size - offset
	if u.opts.ChunkSize > 0 {
		n = min(n, u.opts.ChunkSize)
	}
	h := http.Header{}
	h.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	h.Set("Content-Type", "application/offset+octet-stream")
	body := &counter{r: io.NewSectionReader(u.src, offset, n), at: offset, u: u}
	resp, err := u.request(ctx, http.MethodPatch, u.Session(), body, n, h)
	if err != nil {
		return tandem.Track{}, false, -1, err
	}
	b, err := read(resp)
	if err != nil {
		return tandem.Track{}, false, -1, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
		t, err := decodeTrack(b)
		return t, err == nil, -1, err
	case http.StatusNoContent:
		off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
		if err != nil || off < offset || off > u.size {
			return tandem.Track{}, false, -1, fmt.Errorf("upload: PATCH %s: bad Upload-Offset %q", u.Session(), resp.Header.Get("Upload-Offset"))
		}
		if off == u.size {
			return u.complete(ctx)
		}
		return tandem.Track{}, false, off, nil
	case http.StatusConflict, http.StatusBadRequest:
		// Out of step with the hub (409), or a body the hub saw cut short
		// (400 with Upload-Offset): resume from what the hub has.
		if resp.Header.Get("Upload-Offset") != "" {
			return tandem.Track{}, false, -1, &errRetry{failure(resp, b)}
		}
	}
	return tandem.Track{}, false, -1, failure(resp, b)
}

// complete asks the hub to finish an upload whose length it did not
// reach by itself.
func (u *Upload) complete(ctx context.Context) (tandem.Track, bool, int64, error) {
	resp, err := u.request(ctx, http.MethodPost, u.Session()+"/complete", nil, 0, nil)
	if err != nil {
		return tandem.Track{}, false, -1, err
	}
	b, err := read(resp)
	if err != nil {
		return tandem.Track{}, false, -1, err
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		t, err := decodeTrack(b)
		return t, err == nil, -1, err
	}
	return tandem.Track{}, false, -1, failure(resp, b)
}

// progress emits Progress if sent is more than was reported.
func (u *Upload) progress(sent int64) {
	u.mu.Lock()
	if sent <= u.reported {
		u.mu.Unlock()
		return
	}
	u.reported = sent
	u.mu.Unlock()
	Progress.Emit(u.em, ProgressInfo{Sent: sent, Total: u.size})
}

// counter reports progress as the transport reads a PATCH body: about
// every hundredth of the file (between 4 KB and 1 MB), and at the end of
// the body.
type counter struct {
	r    io.Reader
	at   int64 // file offset reached
	last int64 // file offset last reported
	u    *Upload
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.at += int64(n)
	step := min(max(c.u.size/100, 4<<10), 1<<20)
	if c.at-c.last >= step || (err != nil && c.at > c.last) {
		c.last = c.at
		c.u.progress(c.at)
	}
	return n, err
}

// trackJSON is a track as the hub's HTTP API shows it.
type trackJSON struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Artist     string    `json:"artist"`
	Album      string    `json:"album"`
	Duration   float64   `json:"duration"` // ms
	Format     string    `json:"format"`
	Size       int64     `json:"size"`
	Uploader   string    `json:"uploader"`
	UploadedAt time.Time `json:"uploadedAt"`
	Art        string    `json:"art"`
}

func decodeTrack(b []byte) (tandem.Track, error) {
	var j trackJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil || j.ID == "" {
		return tandem.Track{}, fmt.Errorf("upload: the hub's track %.200q: %v", b, err)
	}
	return tandem.Track{ID: j.ID, Title: j.Title, Artist: j.Artist, Album: j.Album,
		Duration: time.Duration(j.Duration * float64(time.Millisecond)), Format: j.Format, Size: j.Size,
		Uploader: j.Uploader, UploadedAt: j.UploadedAt, Art: j.Art}, nil
}
