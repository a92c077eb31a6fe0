package audio

import (
	"fmt"
	"io"
)

// probeSeconds is how much audio Probe decodes to prove a file is music.
const probeSeconds = 1

// Info is what Probe learns about a file.
type Info struct {
	Tags
	// Art is the embedded artwork (the front cover if there are several
	// pictures), or nil.
	Art []byte
	// ArtType is Art's MIME type, sniffed from its bytes: image/jpeg,
	// image/png, image/gif or image/webp; "" without art.
	ArtType string
}

// Probe checks that the file at r's current position is music Tandem can
// play, and reads what it says about itself. It sniffs the format from the
// content (names are not trusted), reads the tags, duration and artwork
// (ID3v2 with APIC for MP3, VORBIS_COMMENT and PICTURE blocks for FLAC,
// comments with METADATA_BLOCK_PICTURE for Ogg Vorbis, LIST/INFO for WAV),
// then decodes the first second of audio. The duration is checked
// against the audio the file holds, and the last second decoded too: an
// MP3's is its whole frames, counted; a FLAC or Ogg Vorbis file that
// claims another length than its last frame or page can hold is refused
// (players' decoders would believe the claim). A file in another format,
// or in a variant no decoder here reads (32-bit FLAC), gives
// ErrUnknownFormat; one that is broken, hostile, lies about its length or
// holds no audio gives ErrMalformed. Refusals about the file itself read
// as a sentence for its sender. r is left anywhere.
func Probe(r io.ReadSeeker) (info Info, err error) {
	defer func() {
		// The parsers and decoders read untrusted bytes; never let one
		// crash the hub.
		if p := recover(); p != nil {
			info, err = Info{}, fmt.Errorf("%w: decoder panicked: %v", ErrMalformed, p)
		}
	}()
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return Info{}, wrapSeek(err)
	}
	var art picture
	tags, err := readTags(r, &art, true)
	if err != nil {
		return Info{}, err
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return Info{}, wrapSeek(err)
	}
	kind, err := sniff(r)
	if err != nil {
		return Info{}, err
	}
	dec, format, err := decodeFormat(r, kind, false)
	if err != nil {
		return Info{}, err
	}
	defer dec.Close()
	want := probeSeconds * int(format.SampleRate)
	buf := make([][2]float64, 4096)
	got := 0
	for got < want {
		n, ok := dec.Stream(buf[:min(len(buf), want-got)])
		got += n
		if !ok || n == 0 { // some decoders say ok with nothing left
			break
		}
	}
	if err := dec.Err(); err != nil {
		return Info{}, fmt.Errorf("%w: decode %s: %v", ErrMalformed, kind, err)
	}
	if got == 0 {
		return Info{}, fmt.Errorf("%w: %s file with no audio", ErrMalformed, kind)
	}
	info = Info{Tags: tags, Art: art.data, ArtType: art.mime}
	return info, nil
}

// ReadInfo reads what ReadTags reads (format by content, tags, track
// number, duration from the headers) and the embedded artwork, without
// decoding any audio: it is Probe without the proof that the audio plays,
// cheap enough for scanning a music library. Unlike ReadTags it recovers
// from a parser panic, which it reports as ErrMalformed. r is left
// anywhere.
func ReadInfo(r io.ReadSeeker) (info Info, err error) {
	defer func() {
		if p := recover(); p != nil {
			info, err = Info{}, fmt.Errorf("%w: tag parser panicked: %v", ErrMalformed, p)
		}
	}()
	var art picture
	tags, err := readTags(r, &art, false)
	if err != nil {
		return Info{}, err
	}
	return Info{Tags: tags, Art: art.data, ArtType: art.mime}, nil
}
