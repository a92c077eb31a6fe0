// Command player is Tandem's desktop app: a Fyne window over the player
// core. With no --hub it runs a hub inside itself, loaded with the demo
// library, and shows the command friends run to join it.
//
//	player [--room lounge] [--listen :7878] [--data DIR]
//	       [--cache-dir DIR] [--cache-max-mb 2048]   (the cache of the hub's tracks)
//	player --hub URL --token TOKEN --name NAME [--room lounge]
//	player --invite LINK --name NAME [--room lounge]   (then: player --hub URL)
//	player --join tandem://HOST:PORT/join/CODE         (a room, on a hub joined before)
package main

import (
	"context"
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
	"tandem/player"
	"tandem/player/account"
	"tandem/ui"
)

func main() {
	if err := run(); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "player:", err)
		}
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

func run() error {
	fs := flag.NewFlagSet("player", flag.ContinueOnError)
	hubURL := fs.String("hub", "", "hub to join, e.g. http://192.168.1.20:7878; empty runs a hub inside the player")
	token := fs.String("token", "", "your token on that hub (default: the one saved by --invite)")
	invite := fs.String("invite", "", "invite link (tandem://… or https://…/invite/CODE) to join a hub as --name; the token is saved for later runs")
	name := fs.String("name", defaultName(), "your name")
	roomName := fs.String("room", "lounge", "room to join")
	joinLink := fs.String("join", "", "a room's invite link (tandem://HOST:PORT/join/CODE): join that room on that hub as a new member")
	listen := fs.String("listen", ":7878", "address of the built-in hub (without --hub)")
	data := fs.String("data", defaultDataDir(), "data directory of the built-in hub")
	cacheDir := fs.String("cache-dir", "", "directory of the cache of the hub's tracks (default: DATA/cache, DATA being the --data directory)")
	cacheMaxMB := fs.Int64("cache-max-mb", cache.DefaultMaxBytes>>20, "the most megabytes the cache of the hub's tracks keeps")
	audioBuffer := fs.Int("audio-buffer-ms", int(device.DefaultDeviceBuffer/time.Millisecond), "the sound card's buffer: larger survives a busy machine, smaller is heard sooner (sync is kept either way)")
	verbose := fs.Bool("v", false, "log debug messages")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var err error
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	hosting := ""
	code := ""
	if *joinLink != "" {
		hubs, c, err := account.ParseRoomLink(*joinLink)
		if err != nil {
			return err
		}
		code, *roomName = c, ""
		if *hubURL == "" && *invite == "" {
			*hubURL = savedHub(hubs)
		}
	}
	if *invite != "" || (*hubURL != "" && *token == "") {
		if *hubURL, *token, err = joinHub(ctx, *invite, *hubURL, *name, log); err != nil {
			return err
		}
	}
	if *hubURL == "" {
		h, err := host.Start(*data, *listen, *name, log)
		if err != nil {
			return err
		}
		defer h.Close()
		*hubURL, *token = h.URL, h.HostToken
		hosting = fmt.Sprintf("Hosting room %q · friends join with: player --hub %s --token %s --name NAME --room %s",
			*roomName, h.JoinURL, h.GuestToken, *roomName)
	} else if *token == "" {
		return errors.New("--token is required with --hub")
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
		return err
	}
	lib := player.TieredLibrary{Local: audio.DemoLibrary(), Remote: tracks}

	core := player.New(player.Config{HubURL: *hubURL, Token: *token, Name: *name, Room: *roomName, Code: code,
		Audio: engine, Library: lib, Logger: log, Hosting: hosting})
	defer core.Close()
	// Deferred after core.Close, so it runs first: closing the cache ends
	// the downloads a track's load may be waiting for.
	defer tracks.Close()

	a := app.NewWithID("dev.tandem.player")
	a.SetIcon(fyne.NewStaticResource("tandem.svg", assets.AppIcon))
	w := a.NewWindow("Tandem")
	win := ui.NewWindow(w, core, log)
	defer win.Close()

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
	return nil
}

// savedHub picks, among the addresses a room link may mean, the first on
// which the player has an account, or else the first.
func savedHub(hubs []string) string {
	path, err := account.DefaultPath()
	if err != nil {
		return hubs[0]
	}
	for _, h := range hubs {
		if tok, err := account.TokenFor(path, h); err == nil && tok != "" {
			return h
		}
	}
	return hubs[0]
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
			err = errors.New("--token is required with --hub, unless you joined that hub with --invite")
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
