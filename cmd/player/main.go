// Command player is Tandem's desktop app: a Fyne window over the player
// core. With no hub it runs a hub inside itself, loaded with the demo
// library; the window's room view gives the invite link friends open.
//
//	player [--room lounge] [--listen :7878] [--data DIR]
//	       [--cache-dir DIR] [--cache-max-mb 2048]   (the cache of the hub's tracks)
//	player --join tandem://HOST:PORT/join/CODE [--name NAME]   (a friend's room)
//	player --invite LINK --name NAME [--room lounge]   (a hub invite; then: player --hub URL)
//	player --hub URL [--token TOKEN] --name NAME [--room lounge]
//	player --install-desktop   (register the tandem:// links with the desktop)
//
// The hub, the name, the cache size and the music folders default to the
// settings (Settings… in the window); the room to the last one.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"tandem/assets"
	"tandem/audio"
	"tandem/audio/cache"
	"tandem/audio/device"
	"tandem/cmd/player/internal/host"
	"tandem/desktop/mpris"
	"tandem/desktop/xdg"
	"tandem/player"
	"tandem/player/account"
	"tandem/player/library"
	"tandem/player/settings"
	"tandem/player/uploads"
	"tandem/ui"
)

func main() {
	restart, err := run()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "player:", err)
		}
		os.Exit(1)
	}
	if restart {
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		fmt.Fprintln(os.Stderr, "player: restart:", err)
		os.Exit(1)
	}
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tandem", "player")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "tandem", "player")
	}
	return "tandem-player-data"
}

func defaultName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "host"
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// run runs the player until its window closes; restart asks main to start
// it again (after the settings changed the hub or the name).
func run() (restart bool, err error) {
	prefsPath, err := settings.DefaultPath()
	if err != nil {
		return false, err
	}
	prefs, err := settings.Open(prefsPath)
	if err != nil {
		return false, err
	}
	saved := prefs.Get()

	fs := flag.NewFlagSet("player", flag.ContinueOnError)
	hubURL := fs.String("hub", saved.Hub, "hub to join, e.g. http://192.168.1.20:7878; empty runs a hub inside the player")
	token := fs.String("token", "", "your token on that hub (default: the one saved when you joined it)")
	invite := fs.String("invite", "", "invite link (tandem://… or https://…/invite/CODE) to join a hub as --name; the token is saved for later runs")
	name := fs.String("name", or(saved.Name, defaultName()), "your name")
	roomName := fs.String("room", or(saved.LastRoom, "lounge"), "room to join")
	joinLink := fs.String("join", "", "a room's invite link (tandem://HOST:PORT/join/CODE): join that room on that hub")
	listen := fs.String("listen", ":7878", "address of the built-in hub (without --hub)")
	data := fs.String("data", defaultDataDir(), "data directory: the built-in hub, the library, the cache")
	cacheDir := fs.String("cache-dir", "", "directory of the cache of the hub's tracks (default: DATA/cache, DATA being the --data directory)")
	cacheMaxMB := fs.Int64("cache-max-mb", or(saved.CacheMB, cache.DefaultMaxBytes>>20), "the most megabytes the cache of the hub's tracks keeps")
	audioBuffer := fs.Int("audio-buffer-ms", int(device.DefaultDeviceBuffer/time.Millisecond), "the sound card's buffer: larger survives a busy machine, smaller is heard sooner (sync is kept either way)")
	installDesktop := fs.Bool("install-desktop", false, "register Tandem with the desktop (menu entry, icon, tandem:// links) and exit")
	debugAddr := fs.String("debug-addr", "", "serve the window's state as JSON on this loopback address (for tests)")
	verbose := fs.Bool("v", false, "log debug messages")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return false, err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *installDesktop {
		exe, err := os.Executable()
		if err != nil {
			return false, err
		}
		in, err := xdg.Install(ctx, log, xdg.Options{Exec: exe, Icon: assets.AppIcon})
		if err != nil {
			return false, err
		}
		fmt.Printf("installed %s; tandem:// links now open Tandem\n", in.DesktopFile)
		return false, nil
	}

	if *joinLink != "" {
		// A link clicked while Tandem runs goes to the running player.
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		ok, err := mpris.HandOff(hctx, nil, *joinLink)
		cancel()
		if err != nil {
			log.Info("the running player does not open this link; starting another", "err", err)
		} else if ok {
			fmt.Println("the link went to the Tandem already running")
			return false, nil
		}
	}
	code := ""
	if *joinLink != "" {
		if *hubURL, *token, code, err = joinRoomLink(ctx, *joinLink, *hubURL, *token, *name, log); err != nil {
			return false, err
		}
		*roomName = ""
	} else if *invite != "" || (*hubURL != "" && *token == "") {
		if *hubURL, *token, err = joinHub(ctx, *invite, *hubURL, *name, log); err != nil {
			return false, err
		}
	}
	hosting, publicURL := "", ""
	if *hubURL == "" {
		h, err := host.Start(*data, *listen, *name, log)
		if err != nil {
			return false, err
		}
		defer h.Close()
		*hubURL, *token, publicURL = h.URL, h.HostToken, h.JoinURL
		hosting = "Hosting on " + h.JoinURL + " · invite friends from the room view (Room ▸ Room and invite link)"
		log.Info("built-in hub", "join", h.JoinURL)
	} else if *token == "" {
		return false, errors.New("--token is required with --hub")
	}

	out, err := device.OpenWith(ctx, log, device.Options{DeviceBuffer: time.Duration(*audioBuffer) * time.Millisecond})
	if err != nil {
		log.Warn("no audio output device; playing muted", "err", err)
		out = audio.NewMuted()
	}
	engine := audio.New(log, out)
	defer engine.Close()

	if *cacheDir == "" {
		*cacheDir = filepath.Join(*data, "cache")
	}
	tracks, err := cache.Open(cache.Options{Dir: *cacheDir, URL: *hubURL, Token: *token, MaxBytes: *cacheMaxMB << 20, Logger: log})
	if err != nil {
		return false, err
	}
	lib := player.TieredLibrary{Local: audio.DemoLibrary(), Remote: tracks}

	// The playlist edits not yet sent are kept per hub and account.
	sum := sha256.Sum256([]byte(*hubURL + "\x00" + *token))
	outbox := filepath.Join(*data, "outbox", hex.EncodeToString(sum[:8])+".json")
	core := player.New(player.Config{HubURL: *hubURL, PublicURL: publicURL, Token: *token, Name: *name, Room: *roomName, Code: code,
		Audio: engine, Library: lib, Logger: log, Hosting: hosting, OutboxPath: outbox})
	defer core.Close()
	// Deferred after core.Close, so it runs first: closing the cache ends
	// the downloads a track's load may be waiting for.
	defer tracks.Close()

	changed := func(what string) func() { return func() { player.State.Emit(core.Emitter(), what) } }
	music, err := library.Open(library.Config{Path: filepath.Join(*data, "library"), Folders: saved.MusicFolders, Logger: log,
		OnChange: changed("library"),
		SaveFolders: func(dirs []string) error {
			return prefs.Update(func(s *settings.Settings) { s.MusicFolders = dirs })
		}})
	if err != nil {
		return false, err
	}
	defer music.Close()
	ups := uploads.New(uploads.Config{HubURL: *hubURL, Token: *token, Logger: log, OnChange: changed("uploads"),
		AddTracks: core.AddTracks, Hashed: music.SetHash,
		Play: func(id string) {
			player.ChangeTrack.Emit(core.Emitter(), player.TrackChange{Origin: player.Local, Room: core.Room(), TrackID: id})
		}})
	defer ups.Close()

	a := app.NewWithID("dev.tandem.player")
	a.SetIcon(fyne.NewStaticResource("tandem.svg", assets.AppIcon))
	w := a.NewWindow("Tandem")
	win := ui.NewWindow(w, core, ui.Options{Uploads: ups, Library: music, Settings: prefs, Name: *name, Logger: log,
		Restart: func() {
			restart = true
			a.Quit()
		}})
	defer win.Close()
	stopMPRIS, bus := startMPRIS(ctx, log, core, w, a)
	defer stopMPRIS()
	if bus {
		// The tray needs the session bus too (fyne's systray fails at
		// quit without one).
		win.SetupTray()
	}
	if *debugAddr != "" {
		stopDebug, err := serveDebug(*debugAddr, core, win, log)
		if err != nil {
			return false, err
		}
		defer stopDebug()
	}

	// Connect in the background: the window shows the state as it comes.
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := core.Start(sctx); err != nil {
			log.Error("connect to hub", "hub", *hubURL, "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		fyne.Do(a.Quit)
	}()
	w.ShowAndRun()
	stop() // ends the signal goroutine if the window was closed
	return restart, nil
}

// joinRoomLink finds the hub of a room's invite link and the account to
// use there: the one given, one saved, or a new one made with the link
// (on hubs whose room links admit newcomers). It returns the hub, the
// token and the room's code.
func joinRoomLink(ctx context.Context, link, hubURL, token, name string, log *slog.Logger) (string, string, string, error) {
	hubs, code, err := account.ParseRoomLink(link)
	if err != nil {
		return "", "", "", err
	}
	if hubURL != "" && token != "" {
		return hubURL, token, code, nil
	}
	path, err := account.DefaultPath()
	if err != nil {
		return "", "", "", err
	}
	for _, h := range hubs {
		if tok, err := account.TokenFor(path, h); err == nil && tok != "" {
			return h, tok, code, nil
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a, err := account.JoinByRoomLink(rctx, path, link, name)
	if err != nil {
		return "", "", "", fmt.Errorf("join with the room's link: %w", err)
	}
	log.Info("joined hub with a room link; token saved", "hub", a.Hub, "name", a.Name, "file", path)
	return a.Hub, a.Token, code, nil
}

// joinHub redeems an invite link and saves the account (player/account),
// or finds the saved token for hubURL. It returns the hub and token to use.
func joinHub(ctx context.Context, invite, hubURL, name string, log *slog.Logger) (string, string, error) {
	path, err := account.DefaultPath()
	if err != nil {
		return "", "", err
	}
	if invite == "" {
		tok, err := account.TokenFor(path, hubURL)
		if err == nil && tok == "" {
			err = errors.New("--token is required with --hub, unless you joined that hub with --invite or a room link")
		}
		return hubURL, tok, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a, err := account.Join(rctx, path, invite, name)
	if err != nil {
		return "", "", fmt.Errorf("join with the invite: %w", err)
	}
	log.Info("joined hub; token saved", "hub", a.Hub, "name", a.Name, "file", path)
	return a.Hub, a.Token, nil
}
