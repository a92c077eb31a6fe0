// Command hub is Tandem's self-hosted server: it relays friends' playback
// commands between their players over Socket.IO and keeps accounts, tracks,
// playlists and rooms in a bbolt file in its data directory.
//
//	hub serve [--addr 127.0.0.1:7878] [--data DIR] [--public-url URL] [--demo]
//	          [--tls-cert FILE --tls-key FILE | --acme-domain DOMAIN]
//	          [--log-format text|json] [--log-level info]
//	hub invite create [--uses 1] [--expires 72h]
//	hub user list
//	hub user revoke NAME
//	hub token create --name NAME
//	hub backup --out FILE
//
// Every flag can also be set by its TANDEM_* environment variable
// (--public-url by TANDEM_PUBLIC_URL); flags win. The commands other than
// serve talk to the running hub over the admin socket in its data
// directory, or open the database themselves when no hub runs. See
// docs/SELF-HOSTING.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
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
  hub serve [--addr 127.0.0.1:7878] [--data DIR] [--public-url URL] [--demo]
            [--tls-cert FILE --tls-key FILE | --acme-domain DOMAIN [--acme-http-addr :80]]
            [--log-format text|json] [--log-level debug|info|warn|error]
  hub invite create [--uses 1] [--expires 72h] [--data DIR]
  hub user list [--data DIR]
  hub user revoke NAME [--data DIR]
  hub token create --name NAME [--data DIR]
  hub backup --out FILE [--data DIR]
Every flag may also be set by its TANDEM_* environment variable, e.g.
TANDEM_ADDR, TANDEM_DATA, TANDEM_PUBLIC_URL; flags win. Run "hub serve -h"
for all of serve's flags, and see docs/SELF-HOSTING.md.
`

// run is the testable main. ready, when set, receives the address the hub
// listens on.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	sub := ""
	if len(args) > 1 {
		sub = args[1]
	}
	switch args[0] + " " + sub {
	case "token create":
		return tokenCreate(ctx, args[2:], stdout, stderr)
	case "invite create":
		return inviteCreate(ctx, args[2:], stdout, stderr)
	case "user list":
		return userList(ctx, args[2:], stdout, stderr)
	case "user revoke":
		return userRevoke(ctx, args[2:], stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, ready)
	case "backup":
		return backup(ctx, args[1:], stdout, stderr)
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
