package audio

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
)

func TestParseTrackNumber(t *testing.T) {
	for in, want := range map[string]int{
		"7": 7, "07": 7, "7/12": 7, " 3 / 10 ": 3, "": 0, "x": 0, "1a": 0,
		"-1": 0, "0": 0, "99999": 0, "123456789012345678901234": 0, "/5": 0,
	} {
		if got := parseTrackNumber(in); got != want {
			t.Errorf("parseTrackNumber(%q) = %d, want %d", in, got, want)
		}
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTrackNumberID3v2(t *testing.T) {
	frame := func(id, text string) []byte {
		body := append([]byte{0}, text...) // Latin-1
		h := make([]byte, 10)
		copy(h, id)
		binary.BigEndian.PutUint32(h[4:], uint32(len(body)))
		return append(h, body...)
	}
	frames := append(frame("TIT2", "Song"), frame("TRCK", "4/11")...)
	size := len(frames)
	hdr := []byte{'I', 'D', '3', 3, 0, 0,
		byte(size >> 21 & 0x7f), byte(size >> 14 & 0x7f), byte(size >> 7 & 0x7f), byte(size & 0x7f)}
	file := append(append(hdr, frames...), readTestdata(t, "plain.mp3")...)
	for _, read := range []func([]byte) (Tags, error){
		func(b []byte) (Tags, error) { return ReadTags(bytes.NewReader(b)) },
		func(b []byte) (Tags, error) { i, err := ReadInfo(bytes.NewReader(b)); return i.Tags, err },
	} {
		tags, err := read(file)
		if err != nil {
			t.Fatal(err)
		}
		if tags.Title != "Song" || tags.Track != 4 || tags.Format != FormatMP3 {
			t.Errorf("tags = %+v, want title Song, track 4, mp3", tags)
		}
	}
}

func TestTrackNumberID3v1(t *testing.T) {
	tag := make([]byte, 128)
	copy(tag, "TAG")
	copy(tag[3:], "V1 Title")
	tag[126] = 9
	file := append(readTestdata(t, "plain.mp3"), tag...)
	tags, err := ReadTags(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if tags.Title != "V1 Title" || tags.Track != 9 {
		t.Errorf("tags = %+v, want title V1 Title, track 9", tags)
	}
}

func TestTrackNumberWAV(t *testing.T) {
	for _, id := range []string{"ITRK", "IPRT"} {
		src := readTestdata(t, "sine.wav")
		sub := func(id, v string) []byte {
			b := append([]byte(v), 0)
			if len(b)%2 == 1 {
				b = append(b, 0)
			}
			h := make([]byte, 8)
			copy(h, id)
			binary.LittleEndian.PutUint32(h[4:], uint32(len(b)))
			return append(h, b...)
		}
		info := append([]byte("INFO"), sub("INAM", "W")...)
		info = append(info, sub(id, "12")...)
		list := make([]byte, 8)
		copy(list, "LIST")
		binary.LittleEndian.PutUint32(list[4:], uint32(len(info)))
		body := append(append(append([]byte{}, src[8:]...), list...), info...)
		file := append([]byte("RIFF\x00\x00\x00\x00"), body...)
		binary.LittleEndian.PutUint32(file[4:], uint32(len(body)))
		tags, err := ReadTags(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if tags.Title != "W" || tags.Track != 12 {
			t.Errorf("%s: tags = %+v, want title W, track 12", id, tags)
		}
	}
}

func TestTrackNumberVorbisComment(t *testing.T) {
	var b []byte
	str := func(s string) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str("vendor")
	b = binary.LittleEndian.AppendUint32(b, 3)
	str("title=T")
	str("TRACKNUMBER=05/20")
	str("TRACKNUMBER=6")
	var tags Tags
	parseVorbisComment(b, &tags, nil)
	if tags.Title != "T" || tags.Track != 5 {
		t.Errorf("tags = %+v, want title T, track 5", tags)
	}
}

func TestReadInfoArtwork(t *testing.T) {
	for _, name := range []string{"tagged.mp3", "tagged.flac", "tagged.ogg"} {
		info, err := ReadInfo(bytes.NewReader(readTestdata(t, name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info.ArtType != "image/png" || len(info.Art) == 0 {
			t.Errorf("%s: art %q (%d bytes), want image/png", name, info.ArtType, len(info.Art))
		}
	}
	if _, err := ReadInfo(bytes.NewReader([]byte("not music at all"))); err == nil {
		t.Error("ReadInfo of text: no error")
	}
}
