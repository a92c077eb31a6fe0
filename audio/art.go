package audio

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
)

// maxArt is the largest embedded picture kept, in bytes; larger ones are
// ignored.
const maxArt = 16 << 20

// The picture type of a front cover, in ID3v2 APIC frames and FLAC
// PICTURE blocks.
const frontCover = 3

// picture is a piece of embedded artwork.
type picture struct {
	data []byte
	mime string // sniffed from data: image/jpeg, image/png, image/gif or image/webp
	kind int    // the picture type; frontCover is preferred
}

// offer keeps p if it is a usable image and better than what pic holds:
// the first picture, or the first front cover.
func (pic *picture) offer(p picture) {
	if len(p.data) == 0 || len(p.data) > maxArt {
		return
	}
	mime := imageType(p.data)
	if mime == "" {
		return
	}
	if pic.data == nil || (pic.kind != frontCover && p.kind == frontCover) {
		*pic = picture{data: p.data, mime: mime, kind: p.kind}
	}
}

// imageType returns the MIME type of an image from its first bytes, or ""
// if it is not JPEG, PNG, GIF or WebP. The type a file declares for its
// artwork is not trusted: it is served to browsers.
func imageType(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff:
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a")):
		return "image/gif"
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "image/webp"
	}
	return ""
}

// parseFLACPicture parses a FLAC PICTURE block (also the payload of an Ogg
// METADATA_BLOCK_PICTURE comment): big-endian picture type, MIME type,
// description, four numbers, then the image.
func parseFLACPicture(b []byte) (picture, bool) {
	be := binary.BigEndian
	next := func(n uint64) ([]byte, bool) {
		if n > uint64(len(b)) {
			return nil, false
		}
		v := b[:n]
		b = b[n:]
		return v, true
	}
	u32 := func() (uint32, bool) {
		v, ok := next(4)
		if !ok {
			return 0, false
		}
		return be.Uint32(v), true
	}
	kind, ok := u32()
	if !ok {
		return picture{}, false
	}
	for range 2 { // MIME type, description
		n, ok := u32()
		if !ok {
			return picture{}, false
		}
		if _, ok := next(uint64(n)); !ok {
			return picture{}, false
		}
	}
	if _, ok := next(16); !ok { // width, height, depth, colours
		return picture{}, false
	}
	n, ok := u32()
	if !ok {
		return picture{}, false
	}
	data, ok := next(uint64(n))
	if !ok {
		return picture{}, false
	}
	return picture{data: data, kind: int(kind)}, true
}

// decodeBase64 decodes standard base64 with or without padding, or returns
// nil.
func decodeBase64(b []byte) []byte {
	b = bytes.TrimRight(bytes.TrimSpace(b), "=")
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(b)))
	n, err := base64.RawStdEncoding.Decode(out, b)
	if err != nil {
		return nil
	}
	return out[:n]
}
