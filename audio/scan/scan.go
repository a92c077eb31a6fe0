// Package scan builds the player's local music library: it walks the
// user's music folders, reads the tags of the music files it finds and
// keeps one record per file in a LibraryStore (store.DB in the player).
//
// # Which tag reader
//
// The issue asked to choose between github.com/dhowden/tag and a pure-Go
// TagLib build. Neither is used: package audio already has its own tag
// reader (ReadTags, ReadInfo), and it is the better fit.
//   - It is pure Go (no cgo, unlike TagLib proper; a TagLib compiled to
//     WebAssembly and run by a Go runtime is pure Go in name, but brings a
//     large module and an interpreter into a program that only needs four
//     formats), so the hub keeps building with CGO_ENABLED=0.
//   - It reads all four formats Tandem plays (MP3, FLAC, Ogg Vorbis, WAV)
//     with the same rules the hub applies to uploads, including the
//     duration from the headers (Xing/Info frame, STREAMINFO, the last Ogg
//     granule, the WAV data size), which dhowden/tag does not give, and
//     the artwork's type sniffed from its bytes.
//   - It identifies the format by content, never by the file name, has
//     limits against hostile sizes, and is fuzzed (FuzzReadTags,
//     FuzzProbe).
//   - No module is added to the build, which the project does not allow
//     for this change anyway.
//
// It now also reads the track number (ID3v2 TRCK, ID3v1.1, Vorbis
// TRACKNUMBER, RIFF INFO ITRK or IPRT).
//
// # Identity: the path
//
// A library record is keyed by the file's absolute path, not by a hash of
// its content. Hashing a file means reading all of it; a cold scan reads
// only headers and tags (a few KB a file), which is what makes a large
// library scan in seconds, and a rescan compares only the size and the
// modification time from the directory walk. The sha256 that names a
// track on the hub (tandem.Track.ID) is computed lazily, when a file is
// first shared, and kept in the record (store.DB.SetLocalFileHash) until
// the file changes. The price: a file that is moved or renamed reads as
// one removal and one addition, and two copies of a file are two records.
//
// # What a scan does
//
// Scan walks every root, skipping hidden files and directories (names
// starting with "."), following symbolic links but never into a
// directory it has already walked (so no loop), and considering only
// regular files with an audio extension (.mp3 .flac .ogg .oga .wav, in
// any case). The extension only selects candidates: the format is sniffed
// from the content. A file whose size and modification time match its
// record is not opened again. The others are read by a bounded pool of
// workers; the records are written in batches, one transaction each.
// After a complete walk, records of files that are gone are removed;
// records under a folder that could not be read (an unmounted drive, say)
// are kept. A file that cannot be read (corrupt, not music) is a failure
// entry in the report, and a previous record of it is dropped, since it
// no longer plays.
package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tandem/audio"
	"tandem/store"
)

// LibraryStore is where Scan keeps the library. *store.DB implements it.
type LibraryStore interface {
	// EachLocalFile calls fn for every record.
	EachLocalFile(fn func(store.LocalFile) error) error
	// PutLocalFiles stores records, replacing those with the same paths.
	PutLocalFiles(files []store.LocalFile) error
	// DeleteLocalFiles removes the records of paths.
	DeleteLocalFiles(paths []string) error
}

// Defaults for Options.
const (
	DefaultWorkers   = 2
	DefaultBatchSize = 256
)

// Options configure Scan. The zero value is ready to use.
type Options struct {
	// Workers is how many files are read at once. Zero means
	// DefaultWorkers.
	Workers int
	// BatchSize is how many records share one store transaction. Zero
	// means DefaultBatchSize.
	BatchSize int
	// Logger receives the scan's logs. Nil means discard.
	Logger *slog.Logger
	// Progress, when set, is called after each file that was read (or
	// failed), from one goroutine at a time, in order. It must be quick;
	// a UI hands the value to its own goroutine (fyne.Do) or re-emits it
	// on an event emitter.
	Progress func(Progress)
}

// Progress is the state of a running scan.
type Progress struct {
	// Path is the file just read.
	Path string
	// Read is how many files were read so far, failures included.
	Read int
	// Found is how many files were found so far that need a read; it
	// grows while the walk goes on.
	Found int
}

// Report is what a scan did.
type Report struct {
	Added     int // files new to the library
	Updated   int // files read again because their size or time changed
	Unchanged int // files not read again
	Removed   int // records of files that are gone
	Failed    int // len(Errors)
	// Errors lists every file or folder that could not be read.
	Errors []FileError
	// Elapsed is how long the scan took.
	Elapsed time.Duration
}

// FileError is a file or folder that could not be read.
type FileError struct {
	Path string
	Err  error
}

func (e FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e FileError) Unwrap() error { return e.Err }

// extensions are the names of files worth sniffing, in lower case.
var extensions = map[string]bool{".mp3": true, ".flac": true, ".ogg": true, ".oga": true, ".wav": true}

// IsAudioName reports whether name has one of the extensions Scan reads.
func IsAudioName(name string) bool {
	return extensions[strings.ToLower(filepath.Ext(name))]
}

// stat is what a record says about a file's version.
type stat struct {
	size  int64
	mtime int64 // UnixNano
}

// job is a file to read.
type job struct {
	path string
	stat stat
}

// result is a file read, or not.
type result struct {
	rec store.LocalFile
	err error
}

// Scan scans the folders roots into lib and reports what changed. It
// returns an error only if the scan could not finish: ctx was cancelled
// (the error wraps ctx.Err()), or lib failed. The records read before
// then are kept, and nothing is removed. Problems with single files and
// folders are in the report.
func Scan(ctx context.Context, roots []string, lib LibraryStore, opts Options) (Report, error) {
	start := time.Now()
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	known := map[string]stat{}
	err := lib.EachLocalFile(func(f store.LocalFile) error {
		known[f.Path] = stat{size: f.Size, mtime: f.ModTime.UnixNano()}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("scan: load library: %w", err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobs := make(chan job, opts.Workers)
	results := make(chan result, opts.Workers)
	w := &walker{ctx: ctx, known: known, jobs: jobs, seen: map[string]bool{}, visited: map[string]bool{}}
	walkDone := make(chan struct{})
	go func() {
		defer close(walkDone)
		defer close(jobs)
		for _, root := range roots {
			if ctx.Err() != nil {
				return
			}
			w.root(root)
		}
	}()
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() { work(ctx, jobs, results) })
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	// Collect: this goroutine alone writes to lib.
	var (
		rep     Report
		batch   []store.LocalFile
		drop    []string // records of files that failed
		read    int
		failErr error
	)
	flush := func() {
		if len(batch) == 0 || failErr != nil {
			return
		}
		if err := lib.PutLocalFiles(batch); err != nil {
			failErr = fmt.Errorf("scan: store records: %w", err)
			cancel(failErr)
			return
		}
		batch = batch[:0]
	}
	for r := range results {
		read++
		_, had := known[r.rec.Path]
		switch {
		case r.err != nil:
			rep.Errors = append(rep.Errors, FileError{Path: r.rec.Path, Err: r.err})
			log.Debug("scan: file not read", "path", r.rec.Path, "err", r.err)
			if had {
				drop = append(drop, r.rec.Path)
			}
		case had:
			rep.Updated++
			batch = append(batch, r.rec)
		default:
			rep.Added++
			batch = append(batch, r.rec)
		}
		if len(batch) >= opts.BatchSize {
			flush()
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Path: r.rec.Path, Read: read, Found: int(w.found.Load())})
		}
	}
	<-walkDone // the walker's fields are ours now
	flush()
	rep.Unchanged = w.unchanged
	rep.Errors = append(w.errs, rep.Errors...)
	rep.Failed = len(rep.Errors)
	rep.Elapsed = time.Since(start)
	if failErr != nil {
		return rep, failErr
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("scan: %w", context.Cause(ctx))
	}

	// The walk is complete: forget the files that are gone.
	for path := range known {
		if !w.seen[path] && !w.keep(path) {
			drop = append(drop, path)
			rep.Removed++
		}
	}
	if err := lib.DeleteLocalFiles(drop); err != nil {
		return rep, fmt.Errorf("scan: remove records: %w", err)
	}
	rep.Elapsed = time.Since(start)
	log.Info("library scanned", "roots", len(roots), "added", rep.Added, "updated", rep.Updated,
		"unchanged", rep.Unchanged, "removed", rep.Removed, "failed", rep.Failed, "elapsed", rep.Elapsed)
	return rep, nil
}

// work reads the files of jobs until jobs is closed or ctx is done.
func work(ctx context.Context, jobs <-chan job, results chan<- result) {
	for j := range jobs {
		if ctx.Err() != nil {
			continue // let the walker finish closing jobs
		}
		rec, err := readFile(j)
		select {
		case results <- result{rec: rec, err: err}:
		case <-ctx.Done():
		}
	}
}

// readFile reads the tags of the file of j into a record.
func readFile(j job) (store.LocalFile, error) {
	rec := store.LocalFile{Path: j.path, Size: j.stat.size, ModTime: time.Unix(0, j.stat.mtime).UTC()}
	f, err := os.Open(j.path)
	if err != nil {
		return rec, fmt.Errorf("scan: %w", err)
	}
	defer f.Close()
	info, err := audio.ReadInfo(f)
	if err != nil {
		return rec, fmt.Errorf("scan: read tags: %w", err)
	}
	rec.Title, rec.Artist, rec.Album = info.Title, info.Artist, info.Album
	rec.Track, rec.Duration, rec.Format = info.Track, info.Duration, info.Format
	rec.ArtType = info.ArtType
	return rec, nil
}

// walker walks the roots in one goroutine, sending the files to read to
// jobs. Its fields other than found belong to that goroutine until it is
// done.
type walker struct {
	ctx   context.Context
	known map[string]stat
	jobs  chan<- job
	found atomic.Int64 // files sent to jobs

	seen       map[string]bool // paths of files found
	visited    map[string]bool // real paths (links resolved) of directories walked
	incomplete []string        // folders that could not be read, with a trailing separator
	unchanged  int
	errs       []FileError
}

// root walks one root folder.
func (w *walker) root(root string) {
	abs, err := filepath.Abs(root)
	if err != nil {
		w.fail(root, err)
		return
	}
	canon, err := filepath.EvalSymlinks(abs)
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(canon); err == nil && !fi.IsDir() {
			err = fmt.Errorf("not a folder")
		}
	}
	if err != nil {
		w.fail(abs, err)
		w.incomplete = append(w.incomplete, withSep(abs))
		return
	}
	w.dir(abs, canon)
}

// dir walks the folder path, whose real path (links resolved) is canon.
func (w *walker) dir(path, canon string) {
	if w.visited[canon] {
		return
	}
	w.visited[canon] = true
	entries, err := os.ReadDir(path)
	if err != nil {
		w.fail(path, err)
		w.incomplete = append(w.incomplete, withSep(path))
		// ReadDir returns what it read before the error; walk that.
	}
	for _, e := range entries {
		if w.ctx.Err() != nil {
			return
		}
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(path, name)
		switch t := e.Type(); {
		case t.IsDir():
			w.dir(p, filepath.Join(canon, name))
		case t&fs.ModeSymlink != 0:
			w.link(p)
		case t.IsRegular() && IsAudioName(name):
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // gone since ReadDir
			}
			if err != nil {
				w.fail(p, err)
				w.seen[p] = true // keep its record
				continue
			}
			w.file(p, fi)
		}
	}
}

// link follows the symbolic link p.
func (w *walker) link(p string) {
	fi, err := os.Stat(p)
	if err != nil {
		return // a dangling link is no file
	}
	switch {
	case fi.IsDir():
		canon, err := filepath.EvalSymlinks(p)
		if err != nil {
			w.fail(p, err)
			w.incomplete = append(w.incomplete, withSep(p))
			return
		}
		w.dir(p, canon)
	case fi.Mode().IsRegular() && IsAudioName(p):
		w.file(p, fi)
	}
}

// file handles the regular file p: unchanged, or to read.
func (w *walker) file(p string, fi os.FileInfo) {
	if w.seen[p] {
		return
	}
	w.seen[p] = true
	s := stat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if old, ok := w.known[p]; ok && old == s {
		w.unchanged++
		return
	}
	select {
	case w.jobs <- job{path: p, stat: s}:
		w.found.Add(1)
	case <-w.ctx.Done():
	}
}

func (w *walker) fail(p string, err error) {
	w.errs = append(w.errs, FileError{Path: p, Err: fmt.Errorf("scan: %w", err)})
}

// keep reports whether the record of path, a file not found, is under a
// folder that could not be read.
func (w *walker) keep(path string) bool {
	for _, dir := range w.incomplete {
		if strings.HasPrefix(path, dir) {
			return true
		}
	}
	return false
}

func withSep(dir string) string {
	if strings.HasSuffix(dir, string(filepath.Separator)) {
		return dir
	}
	return dir + string(filepath.Separator)
}
