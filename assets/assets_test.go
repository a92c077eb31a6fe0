package assets

import (
	"bytes"
	"encoding/xml"
	"io"
	"io/fs"
	"testing"
)

func TestIcons(t *testing.T) {
	for name, svg := range map[string][]byte{"app": AppIcon, "play": PlayIcon, "pause": PauseIcon} {
		t.Run(name, func(t *testing.T) {
			d := xml.NewDecoder(bytes.NewReader(svg))
			var root string
			for {
				tok, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed XML: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok && root == "" {
					root = se.Name.Local
					if se.Name.Space != "http://www.w3.org/2000/svg" {
						t.Errorf("root namespace %q", se.Name.Space)
					}
				}
			}
			if root != "svg" {
				t.Errorf("root element %q, want svg", root)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	demo := Demo()
	if len(demo) != 6 {
		t.Fatalf("%d demo tracks, want 6", len(demo))
	}
	ids := map[string]bool{}
	exts := map[string]int{}
	total := 0
	for i, d := range demo {
		if i > 0 && demo[i-1].Name >= d.Name {
			t.Errorf("not sorted by name: %s before %s", demo[i-1].Name, d.Name)
		}
		id := d.ID()
		if len(id) != 64 || ids[id] {
			t.Errorf("%s: ID %q is malformed or repeated", d.Name, id)
		}
		ids[id] = true
		exts[d.Ext()]++
		total += len(d.Data)
	}
	if exts["wav"] < 2 || exts["flac"] < 2 || len(exts) != 2 {
		t.Errorf("formats %v, want at least 2 wav and 2 flac, nothing else", exts)
	}
	if total > 6<<20 {
		t.Errorf("demo library is %d bytes; keep it under 6 MiB", total)
	}
	// Each call returns fresh copies.
	demo[0].Data[0] ^= 0xff
	if again := Demo(); again[0].Data[0] == demo[0].Data[0] {
		t.Error("Demo() shares its bytes between calls")
	}

	names, err := fs.Glob(DemoFS(), "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(demo) {
		t.Errorf("DemoFS holds %v", names)
	}
}
