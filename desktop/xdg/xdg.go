// Package xdg registers the player with a freedesktop desktop as the handler
// of tandem:// links: it writes the player's desktop entry and icon under
// $XDG_DATA_HOME and makes the entry the default handler in
// $XDG_CONFIG_HOME/mimeapps.list, so that clicking an invite link starts
// "player --join <link>". Everything goes into the user's own directories;
// nothing needs root. The package needs no cgo and no UI toolkit.
package xdg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"tandem/internal/atomicfile"
)

const (
	// AppID is the application id: the Fyne app id, the desktop entry's
	// name without ".desktop" (so MPRIS's DesktopEntry) and its icon name.
	AppID = "dev.tandem.player"
	// WMClass is the entry's StartupWMClass: the X11 WM_CLASS of the
	// player's window, by which docks and task switchers match the window to
	// the entry. Fyne's GLFW driver sets no class of its own, so GLFW uses
	// the window's first title, which cmd/player sets to "Tandem"; `fyne
	// package` writes the same (StartupWMClass is the app's Name).
	WMClass = "Tandem"
	// Scheme is the URL scheme of invite links.
	Scheme = "tandem"
	// MimeType is the pseudo MIME type that desktops use for Scheme.
	MimeType = "x-scheme-handler/" + Scheme
	// DesktopFile is the desktop entry's file name.
	DesktopFile = AppID + ".desktop"
	// JoinFlag is the player's flag that takes an invite link.
	JoinFlag = "--join"
)

// Options say what to install and where.
type Options struct {
	// Exec is the absolute path of the player binary (os.Executable).
	Exec string
	// Icon is the app icon as SVG. When nil no icon file is written; the
	// entry still names the icon AppID, which a packaged install provides.
	Icon []byte
	// DataHome overrides $XDG_DATA_HOME (default ~/.local/share).
	DataHome string
	// ConfigHome overrides $XDG_CONFIG_HOME (default ~/.config).
	ConfigHome string
}

// Installed reports where Install wrote, and what it changed.
type Installed struct {
	DesktopFile string // the desktop entry
	IconFile    string // the icon; empty when Options.Icon was nil
	MimeApps    string // the mimeapps.list that names the default handler
	Changed     bool   // whether any file's content changed
}

// Install writes the desktop entry and the icon, makes the entry the default
// handler of tandem:// links, and runs update-desktop-database on the
// entry's directory when that command exists. Files whose content is already
// right are left untouched, so calling Install at every start is cheap.
func Install(ctx context.Context, log *slog.Logger, opts Options) (Installed, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var in Installed
	desktop, err := DesktopEntry(opts.Exec)
	if err != nil {
		return in, err
	}
	dataHome, err := baseDir(opts.DataHome, "XDG_DATA_HOME", ".local/share")
	if err != nil {
		return in, err
	}
	configHome, err := baseDir(opts.ConfigHome, "XDG_CONFIG_HOME", ".config")
	if err != nil {
		return in, err
	}

	appsDir := filepath.Join(dataHome, "applications")
	in.DesktopFile = filepath.Join(appsDir, DesktopFile)
	entryChanged, err := writeIfChanged(in.DesktopFile, desktop)
	if err != nil {
		return in, err
	}
	in.Changed = entryChanged

	if opts.Icon != nil {
		in.IconFile = filepath.Join(dataHome, "icons", "hicolor", "scalable", "apps", AppID+".svg")
		changed, err := writeIfChanged(in.IconFile, opts.Icon)
		if err != nil {
			return in, err
		}
		in.Changed = in.Changed || changed
	}

	in.MimeApps = filepath.Join(configHome, "mimeapps.list")
	old, err := os.ReadFile(in.MimeApps)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return in, fmt.Errorf("xdg: read %s: %w", in.MimeApps, err)
	}
	changed, err := writeIfChanged(in.MimeApps, SetDefault(old, MimeType, DesktopFile))
	if err != nil {
		return in, err
	}
	in.Changed = in.Changed || changed

	if entryChanged {
		updateDatabase(ctx, log, appsDir)
	}
	log.Debug("xdg: tandem:// handler installed", "entry", in.DesktopFile, "changed", in.Changed)
	return in, nil
}

// baseDir resolves an XDG base directory: the override, else the
// environment variable when it holds an absolute path (the specification
// says to ignore a relative one), else fallback under the home directory.
func baseDir(override, env, fallback string) (string, error) {
	if override != "" {
		return override, nil
	}
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("xdg: find %s: %w", env, err)
	}
	return filepath.Join(home, fallback), nil
}

// updateDatabase refreshes the MIME cache of dir. The entry works without it
// on most desktops, so a missing command is ignored and a failure is only
// logged.
func updateDatabase(ctx context.Context, log *slog.Logger, dir string) {
	bin, err := exec.LookPath("update-desktop-database")
	if err != nil {
		log.Debug("xdg: update-desktop-database not found; skipped")
		return
	}
	out, err := exec.CommandContext(ctx, bin, dir).CombinedOutput()
	if err != nil {
		log.Warn("xdg: update-desktop-database failed", "dir", dir, "err", err, "output", string(out))
	}
}

// writeIfChanged writes data to path, creating directories, unless the file
// already holds exactly data. The write goes through a temporary file and a
// rename, so readers never see half a file.
func writeIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := atomicfile.Write(path, data, 0o644, 0o755); err != nil {
		return false, fmt.Errorf("xdg: %w", err)
	}
	return true, nil
}

// DesktopEntry returns the desktop entry that starts the player at exe with
// "--join <link>" for tandem:// links. exe must be an absolute path.
func DesktopEntry(exe string) ([]byte, error) {
	if !filepath.IsAbs(exe) {
		return nil, fmt.Errorf("xdg: player path %q is not absolute", exe)
	}
	if strings.ContainsAny(exe, "\n\r\x00") {
		return nil, fmt.Errorf("xdg: player path %q has a control character", exe)
	}
	var b bytes.Buffer
	b.WriteString("[Desktop Entry]\n")
	b.WriteString("Type=Application\n")
	b.WriteString("Version=1.4\n")
	b.WriteString("Name=Tandem\n")
	b.WriteString("GenericName=Music Player\n")
	b.WriteString("Comment=Listen to music together with friends\n")
	b.WriteString("Exec=" + execArg(exe) + " " + JoinFlag + " %u\n")
	b.WriteString("Icon=" + AppID + "\n")
	b.WriteString("Terminal=false\n")
	b.WriteString("Categories=AudioVideo;Audio;Player;\n")
	b.WriteString("Keywords=music;player;friends;listen;together;\n")
	b.WriteString("MimeType=" + MimeType + ";\n")
	b.WriteString("StartupWMClass=" + WMClass + "\n")
	return b.Bytes(), nil
}

// execArg quotes one argument of an Exec key as the Desktop Entry
// Specification asks: double quotes around an argument with reserved
// characters, a backslash before ", `, $ and \ inside them, and %% for %.
// The string-value escaping (\ written as \\) is applied on top.
func execArg(s string) string {
	const reserved = " \t\"'\\><~|&;$*?#()`"
	if strings.ContainsAny(s, reserved) {
		var q strings.Builder
		q.WriteByte('"')
		for _, r := range s {
			if strings.ContainsRune("\"`$\\", r) {
				q.WriteByte('\\')
			}
			q.WriteRune(r)
		}
		q.WriteByte('"')
		s = q.String()
	}
	s = strings.ReplaceAll(s, "%", "%%")
	return strings.ReplaceAll(s, `\`, `\\`)
}

// SetDefault returns the mimeapps.list content list with desktopID as the
// default application for mime, in the [Default Applications] group. Other
// lines, groups and comments are kept as they are; an existing entry for
// mime is replaced in place, and a missing group is appended. Applied twice,
// it changes nothing the second time.
func SetDefault(list []byte, mime, desktopID string) []byte {
	const group = "[Default Applications]"
	entry := mime + "=" + desktopID + ";"
	text := string(list)
	nl := "\n"
	if strings.Contains(text, "\r\n") {
		nl = "\r\n"
	}
	lines := strings.Split(strings.TrimSuffix(text, nl), nl)
	if text == "" {
		lines = nil
	}

	start := -1 // index of the group header
	for i, l := range lines {
		if strings.TrimSpace(l) == group {
			start = i
			break
		}
	}
	if start < 0 {
		if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) != "" {
			lines = append(lines, "")
		}
		lines = append(lines, group, entry)
		return []byte(strings.Join(lines, nl) + nl)
	}

	last := start // index of the group's last non-blank line
	for i := start + 1; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if strings.HasPrefix(t, "[") {
			break // the next group
		}
		if t == "" {
			continue
		}
		last = i
		if k, _, ok := strings.Cut(t, "="); ok && strings.TrimSpace(k) == mime {
			lines[i] = entry
			return []byte(strings.Join(lines, nl) + nl)
		}
	}
	lines = append(lines[:last+1], append([]string{entry}, lines[last+1:]...)...)
	return []byte(strings.Join(lines, nl) + nl)
}
