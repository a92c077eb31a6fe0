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
//	hub help [CMD]              (or hub CMD --help)
//
// Every flag can also be set by its TANDEM_* environment variable
// (--public-url by TANDEM_PUBLIC_URL); flags win. The commands other than
// serve talk to the running hub over the admin socket in its data
// directory, or open the database themselves when no hub runs. See
// docs/SELF-HOSTING.md.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
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

// cmd is one of hub's commands: the words that name it, what follows
// them, and what runs it.
type cmd struct {
	path, synopsis string
	run            func(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) error
}

var commands = []cmd{
	{"serve", `[--addr 127.0.0.1:7878] [--data DIR] [--public-url URL] [--demo]
            [--tls-cert FILE --tls-key FILE | --acme-domain DOMAIN [--acme-http-addr :80]]
            [--log-format text|json] [--log-level debug|info|warn|error]`,
		func(ctx context.Context, args []string, _, stderr io.Writer, ready chan<- string) error {
			return serve(ctx, args, stderr, ready)
		}},
	{"invite create", "[--uses 1] [--expires 72h] [--data DIR]", cliCmd(inviteCreate)},
	{"user list", "[--data DIR]", cliCmd(userList)},
	{"user revoke", "NAME [--data DIR]", cliCmd(userRevoke)},
	{"token create", "--name NAME [--data DIR]", cliCmd(tokenCreate)},
	{"backup", "--out FILE [--data DIR]", cliCmd(backup)},
}

func cliCmd(fn func(context.Context, []string, io.Writer, io.Writer) error) func(context.Context, []string, io.Writer, io.Writer, chan<- string) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer, _ chan<- string) error {
		return fn(ctx, args, stdout, stderr)
	}
}

func (c cmd) line() string { return "  hub " + c.path + " " + c.synopsis + "\n" }

// usage lists the commands whose path starts with prefix ("" for all).
func usage(prefix string) string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range commands {
		if prefix == "" || c.path == prefix || strings.HasPrefix(c.path, prefix+" ") {
			b.WriteString(c.line())
		}
	}
	if prefix == "" {
		b.WriteString(`Every flag may also be set by its TANDEM_* environment variable, e.g.
TANDEM_ADDR, TANDEM_DATA, TANDEM_PUBLIC_URL; flags win. Run "hub help CMD" or
"hub CMD --help" for a command's flags, and see docs/SELF-HOSTING.md.
`)
	} else {
		b.WriteString("Run \"hub " + prefix + " ... --help\" for a command's flags.\n")
	}
	return b.String()
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" || arg == "--h" }

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelp(a) {
			return true
		}
	}
	return false
}

// help prints a command's usage and flags to w. The command parses "-h",
// which prints its flags and stops it before it does anything.
func (c cmd) help(ctx context.Context, w io.Writer) error {
	var flags bytes.Buffer
	if err := c.run(ctx, []string{"-h"}, &flags, &flags, nil); !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%s: help: %v", c.path, err)
	}
	_, rest, _ := strings.Cut(flags.String(), "\n") // after flag's "Usage of hub ...:"
	fmt.Fprintf(w, "usage:\n%sflags:\n%s", c.line(), rest)
	return nil
}

// find returns the command named by the first words of args, and the rest.
func find(args []string) (cmd, []string, bool) {
	for _, c := range commands {
		words := strings.Fields(c.path)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return c, args[len(words):], true
		}
	}
	return cmd{}, nil, false
}

// isGroup reports whether word is the first of several words naming
// commands ("user" of "user list" and "user revoke").
func isGroup(word string) bool {
	return slices.ContainsFunc(commands, func(c cmd) bool { return strings.HasPrefix(c.path, word+" ") })
}

// run is the testable main. ready, when set, receives the address the hub
// listens on. "hub CMD --help" and "hub help CMD" print CMD's usage to
// stdout and return nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage(""))
		return errors.New("missing command")
	}
	if isHelp(args[0]) || args[0] == "help" && len(args) == 1 {
		fmt.Fprint(stdout, usage(""))
		return nil
	}
	if args[0] == "help" {
		if c, rest, ok := find(args[1:]); ok && len(rest) == 0 {
			return c.help(ctx, stdout)
		}
		if len(args) == 2 && isGroup(args[1]) {
			fmt.Fprint(stdout, usage(args[1]))
			return nil
		}
		fmt.Fprint(stderr, usage(""))
		return fmt.Errorf("help: unknown command %q", strings.Join(args[1:], " "))
	}
	if c, rest, ok := find(args); ok {
		if wantsHelp(rest) {
			return c.help(ctx, stdout)
		}
		return c.run(ctx, rest, stdout, stderr, ready)
	}
	if isGroup(args[0]) {
		switch {
		case len(args) == 1:
			fmt.Fprint(stderr, usage(args[0]))
			return fmt.Errorf("%s: missing command", args[0])
		case wantsHelp(args[1:2]):
			fmt.Fprint(stdout, usage(args[0]))
			return nil
		}
		fmt.Fprint(stderr, usage(args[0]))
		return fmt.Errorf("unknown command %q", args[0]+" "+args[1])
	}
	fmt.Fprint(stderr, usage(""))
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
