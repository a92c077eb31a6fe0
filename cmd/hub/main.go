// Command hub is Tandem's self-hosted server: it relays friends' playback
// commands between their players over Socket.IO and keeps accounts, tracks,
// playlists and rooms in a bbolt file in its data directory.
//
//	hub serve [--addr 127.0.0.1:7878] [--data DIR] [--demo]
//	hub token create --name NAME [--data DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"tandem/audio"
	"tandem/store"
	"tandem/sync/hub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hub:", err)
		}
		os.Exit(2)
	}
}

const usage = `usage:
  hub serve [--addr 127.0.0.1:7878] [--data DIR] [--demo]
  hub token create --name NAME [--data DIR]
`

// run is the testable main. ready, when set, receives the address the hub
// listens on.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, ready)
	case "token":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, usage)
			return errors.New("unknown token command")
		}
		return tokenCreate(args[2:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// defaultDataDir is $XDG_DATA_HOME/tandem/hub, or ~/.local/share/tandem/hub.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tandem", "hub")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "tandem", "hub")
	}
	return "tandem-hub-data"
}

func serve(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("hub serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7878", "address to listen on (host:port); use 0.0.0.0:7878 to let friends on the LAN in")
	data := fs.String("data", defaultDataDir(), "data directory (holds tandem.db)")
	demo := fs.Bool("demo", false, "load the demo library and a Demo playlist that empty rooms play")
	verbose := fs.Bool("v", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	db, err := store.Open(*data, store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	cfg := hub.Config{Store: db, Logger: log}
	if *demo {
		pl, err := hub.SeedDemo(db, audio.DemoTracks())
		if err != nil {
			return err
		}
		cfg.FallbackPlaylist = pl.ID
		log.Info("demo library loaded", "playlist", pl.Name, "tracks", len(pl.Entries))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	h := hub.New(cfg)
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("hub listening", "addr", ln.Addr().String(), "data", *data)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		h.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("hub shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // hijacked websockets are closed by the hub
	if err := h.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func tokenCreate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", defaultDataDir(), "data directory (holds tandem.db)")
	name := fs.String("name", "", "the friend's display name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("token create: --name is required")
	}
	db, err := store.Open(*data, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	tok, err := db.CreateToken(*name)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
