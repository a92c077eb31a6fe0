package xdg

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testExe  = "/opt/tandem/bin/player"
	testIcon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" r="10"/></svg>`
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDesktopEntryGolden(t *testing.T) {
	got, err := DesktopEntry(testExe)
	if err != nil {
		t.Fatal(err)
	}
	want := readFile(t, filepath.Join("testdata", DesktopFile))
	if !bytes.Equal(got, want) {
		t.Errorf("DesktopEntry(%q) =\n%s\nwant (testdata/%s)\n%s", testExe, got, DesktopFile, want)
	}
	// desktop-file-validate, from desktop-file-utils, checks it against the
	// specification where it is installed.
	if bin, err := exec.LookPath("desktop-file-validate"); err == nil {
		path := filepath.Join(t.TempDir(), DesktopFile)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, path).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("desktop-file-validate: %v\n%s", err, out)
		}
	} else {
		t.Log("desktop-file-validate not installed; entry not validated")
	}
}

func TestExecQuoting(t *testing.T) {
	tests := []struct {
		exe  string
		want string // the Exec line as written in the file
	}{
		{"/usr/bin/tandem", `Exec=/usr/bin/tandem --join %u`},
		{"/opt/my apps/tandem", `Exec="/opt/my apps/tandem" --join %u`},
		{"/opt/100%/tandem", `Exec=/opt/100%%/tandem --join %u`},
		{`/opt/a"b/tandem`, `Exec="/opt/a\\"b/tandem" --join %u`},
		{"/opt/$HOME/tandem", `Exec="/opt/\\$HOME/tandem" --join %u`},
		{`/opt/back\slash/tandem`, `Exec="/opt/back\\\\slash/tandem" --join %u`},
	}
	for _, tt := range tests {
		t.Run(tt.exe, func(t *testing.T) {
			b, err := DesktopEntry(tt.exe)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "Exec=") {
					got = l
				}
			}
			if got != tt.want {
				t.Errorf("Exec line = %s, want %s", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"tandem", "bin/tandem", "/opt/a\nb"} {
		if _, err := DesktopEntry(bad); err == nil {
			t.Errorf("DesktopEntry(%q) succeeded, want an error", bad)
		}
	}
}

func TestSetDefault(t *testing.T) {
	const entry = "x-scheme-handler/tandem=dev.tandem.player.desktop;"
	tests := []struct {
		name, in, want string
	}{
		{"no file", "",
			"[Default Applications]\n" + entry + "\n"},
		{"other groups only",
			"# mine\n[Added Associations]\ntext/plain=gedit.desktop;\n",
			"# mine\n[Added Associations]\ntext/plain=gedit.desktop;\n\n[Default Applications]\n" + entry + "\n"},
		{"group without the key",
			"[Default Applications]\ntext/html=firefox.desktop;\n\n[Added Associations]\nimage/png=eog.desktop;\n",
			"[Default Applications]\ntext/html=firefox.desktop;\n" + entry + "\n\n[Added Associations]\nimage/png=eog.desktop;\n"},
		{"key with another handler",
			"[Default Applications]\ntext/html=firefox.desktop;\nx-scheme-handler/tandem = old.desktop;\ninode/directory=nautilus.desktop;\n",
			"[Default Applications]\ntext/html=firefox.desktop;\n" + entry + "\ninode/directory=nautilus.desktop;\n"},
		{"key already right", "[Default Applications]\n" + entry + "\n",
			"[Default Applications]\n" + entry + "\n"},
		{"no final newline", "[Default Applications]\ntext/html=firefox.desktop;",
			"[Default Applications]\ntext/html=firefox.desktop;\n" + entry + "\n"},
		{"CRLF lines", "[Default Applications]\r\ntext/html=firefox.desktop;\r\n",
			"[Default Applications]\r\ntext/html=firefox.desktop;\r\n" + entry + "\r\n"},
		{"key in another group is not ours",
			"[Added Associations]\nx-scheme-handler/tandem=other.desktop;\n",
			"[Added Associations]\nx-scheme-handler/tandem=other.desktop;\n\n[Default Applications]\n" + entry + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SetDefault([]byte(tt.in), MimeType, DesktopFile)
			if string(got) != tt.want {
				t.Errorf("SetDefault(%q) =\n%q\nwant\n%q", tt.in, got, tt.want)
			}
			if again := SetDefault(got, MimeType, DesktopFile); !bytes.Equal(again, got) {
				t.Errorf("SetDefault is not idempotent:\n%q\nthen\n%q", got, again)
			}
		})
	}
}

func TestInstall(t *testing.T) {
	data, config := t.TempDir(), t.TempDir()
	const before = "# my associations\n[Default Applications]\ntext/html=firefox.desktop;\n\n[Added Associations]\nimage/png=eog.desktop;\n"
	mimeapps := filepath.Join(config, "mimeapps.list")
	if err := os.WriteFile(mimeapps, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Exec: testExe, Icon: []byte(testIcon), DataHome: data, ConfigHome: config}
	log := slog.New(slog.DiscardHandler)

	in, err := Install(t.Context(), log, opts)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	want := Installed{
		DesktopFile: filepath.Join(data, "applications", "dev.tandem.player.desktop"),
		IconFile:    filepath.Join(data, "icons", "hicolor", "scalable", "apps", "dev.tandem.player.svg"),
		MimeApps:    mimeapps,
		Changed:     true,
	}
	if in != want {
		t.Errorf("Install = %+v, want %+v", in, want)
	}
	if got, want := readFile(t, in.DesktopFile), readFile(t, filepath.Join("testdata", DesktopFile)); !bytes.Equal(got, want) {
		t.Errorf("desktop file =\n%s\nwant\n%s", got, want)
	}
	if got := readFile(t, in.IconFile); string(got) != testIcon {
		t.Errorf("icon = %q, want %q", got, testIcon)
	}
	wantList := "# my associations\n[Default Applications]\ntext/html=firefox.desktop;\nx-scheme-handler/tandem=dev.tandem.player.desktop;\n\n[Added Associations]\nimage/png=eog.desktop;\n"
	if got := readFile(t, mimeapps); string(got) != wantList {
		t.Errorf("mimeapps.list =\n%s\nwant\n%s", got, wantList)
	}
	for _, p := range []string{in.DesktopFile, in.IconFile, in.MimeApps} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o644 {
			t.Errorf("%s mode = %v, want 0644", p, got)
		}
	}
	// update-desktop-database (desktop-file-utils), where installed, indexes
	// the entry's MIME type.
	cache := filepath.Join(data, "applications", "mimeinfo.cache")
	if _, err := exec.LookPath("update-desktop-database"); err == nil {
		if got := string(readFile(t, cache)); !strings.Contains(got, "x-scheme-handler/tandem=dev.tandem.player.desktop;") {
			t.Errorf("mimeinfo.cache lacks the tandem handler:\n%s", got)
		}
	} else {
		t.Log("update-desktop-database not installed; cache not checked")
	}

	// Idempotence: a second Install changes nothing, down to the mtimes.
	stamps := map[string]time.Time{}
	for _, p := range []string{in.DesktopFile, in.IconFile, in.MimeApps} {
		fi, _ := os.Stat(p)
		stamps[p] = fi.ModTime()
	}
	snapshot := map[string][]byte{}
	for p := range stamps {
		snapshot[p] = readFile(t, p)
	}
	in2, err := Install(t.Context(), log, opts)
	if err != nil {
		t.Fatalf("second Install: %v", err)
	}
	if in2.Changed {
		t.Error("second Install reported a change")
	}
	for p, old := range snapshot {
		if got := readFile(t, p); !bytes.Equal(got, old) {
			t.Errorf("%s changed on the second Install:\n%s\nwas\n%s", p, got, old)
		}
		if fi, _ := os.Stat(p); !fi.ModTime().Equal(stamps[p]) {
			t.Errorf("%s was rewritten on the second Install", p)
		}
	}
	entries, err := os.ReadDir(filepath.Join(data, "applications"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	// A new player path rewrites the entry and nothing else.
	opts.Exec = "/usr/local/bin/tandem"
	in3, err := Install(t.Context(), log, opts)
	if err != nil {
		t.Fatalf("Install with a new path: %v", err)
	}
	if !in3.Changed {
		t.Error("Install with a new path reported no change")
	}
	if got := string(readFile(t, in.DesktopFile)); !strings.Contains(got, "\nExec=/usr/local/bin/tandem --join %u\n") {
		t.Errorf("desktop file after the move:\n%s", got)
	}
	if got := readFile(t, mimeapps); string(got) != wantList {
		t.Errorf("mimeapps.list changed on the move:\n%s", got)
	}
}

func TestInstallFromEnvironment(t *testing.T) {
	data, config := t.TempDir(), t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(config, "fresh")) // not there yet
	// No update-desktop-database on PATH: Install carries on without it.
	t.Setenv("PATH", t.TempDir())

	in, err := Install(t.Context(), nil, Options{Exec: testExe})
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if got, want := in.DesktopFile, filepath.Join(data, "applications", DesktopFile); got != want {
		t.Errorf("DesktopFile = %s, want %s", got, want)
	}
	if in.IconFile != "" {
		t.Errorf("IconFile = %q with no icon given, want none", in.IconFile)
	}
	if _, err := os.Stat(filepath.Join(data, "icons")); !os.IsNotExist(err) {
		t.Errorf("icons directory made with no icon given: %v", err)
	}
	if got, want := string(readFile(t, filepath.Join(config, "fresh", "mimeapps.list"))),
		"[Default Applications]\nx-scheme-handler/tandem=dev.tandem.player.desktop;\n"; got != want {
		t.Errorf("mimeapps.list = %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(data, "applications", "mimeinfo.cache")); !os.IsNotExist(err) {
		t.Errorf("mimeinfo.cache exists without update-desktop-database: %v", err)
	}

	if _, err := Install(t.Context(), nil, Options{Exec: "relative/player"}); err == nil {
		t.Error("Install with a relative path succeeded")
	}
}
