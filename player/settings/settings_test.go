package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem", "settings.json")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Get(); got.Theme != "" || got.Volume != nil {
		t.Fatalf("defaults: %+v", got)
	}
	v := 0.25
	if err := f.Update(func(s *Settings) {
		s.Theme, s.Volume, s.LastRoom, s.MusicFolders = ThemeDark, &v, "Friday", []string{"/music"}
		s.Width, s.Height, s.SortCol, s.SortDesc = 1200, 700, 3, true
	}); err != nil {
		t.Fatal(err)
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := g.Get()
	if s.Theme != ThemeDark || s.Volume == nil || *s.Volume != 0.25 || s.LastRoom != "Friday" ||
		len(s.MusicFolders) != 1 || s.Width != 1200 || s.SortCol != 3 || !s.SortDesc {
		t.Fatalf("read back %+v", s)
	}
	s.MusicFolders[0] = "changed"
	if g.Get().MusicFolders[0] != "/music" {
		t.Fatal("Get shares its slice")
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v (%v)", st.Mode(), err)
	}
}

func TestDamagedFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Open of a damaged file: %v", err)
	}
}
