// Command hubbench is a load generator for Tandem's hub and for the
// reference Node.js Socket.IO server in bench/node: it connects many
// clients spread over rooms, has some of them send playback:changeTrack
// through the server's real command path, and measures connect times,
// the delivery latency of the changeTrack events that follow, whether
// every member got every event exactly once, and, given the server's pid,
// its CPU time and memory from /proc.
//
//	hubbench [--url URL] [--clients N] [--rooms N] [--senders N] [--messages N] [--rate R]
//	         [--transport websocket|polling] [--token T | --tokens FILE] [--pid PID]
//	         [--idle D] [--label NAME] [--json FILE]
//	hubbench tokens --data DIR [--users N] [--prefix NAME]   (the hub must be stopped)
//	hubbench compare RESULT.json...
//	hubbench floor [--conns N] [--rounds N] [--size B] [--pause D]
//
// Deliveries are matched to commands by room and version, and latency is
// the receive time minus the send time on this process's monotonic clock.
// bench/run.sh runs it against both servers and bench/RESULTS.md records
// what it measured.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"tandem/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hubbench:", err)
		}
		os.Exit(2)
	}
}

// errMismatch is returned when a run completed but its figures do not add
// up: deliveries missing, failed commands or lost connections.
var errMismatch = errors.New("the run has problems (see PROBLEM lines)")

// run is the testable main.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "tokens":
			return tokens(args[1:], stdout, stderr)
		case "compare":
			return compare(stdout, args[1:])
		case "floor":
			return floor(ctx, args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("hubbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:7878", "server address")
	fs.StringVar(&cfg.Label, "label", "server", "the server's name in the report")
	fs.StringVar(&cfg.Transport, "transport", "websocket", "websocket or polling")
	fs.IntVar(&cfg.Clients, "clients", 1000, "connections")
	fs.IntVar(&cfg.Rooms, "rooms", 10, "rooms; client i joins room i mod rooms")
	fs.StringVar(&cfg.RoomPrefix, "room-prefix", "bench-", "prefix of the room names")
	fs.IntVar(&cfg.Senders, "senders", 1, "clients per room that send commands")
	fs.IntVar(&cfg.Messages, "messages", 20, "commands per sender")
	fs.Float64Var(&cfg.Rate, "rate", 50, "commands per second over all senders (0: each sender waits for its previous ack)")
	fs.IntVar(&cfg.PID, "pid", 0, "server process to sample from /proc (0: none)")
	fs.DurationVar(&cfg.Idle, "idle", 5*time.Second, "idle time after every client joined, before the memory sample")
	fs.IntVar(&cfg.Dial, "dial", 64, "connections dialled at once")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 30*time.Second, "limit of one connect + join")
	fs.DurationVar(&cfg.AckTimeout, "ack-timeout", 30*time.Second, "limit of one command's ack")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "how long to wait for deliveries after the last ack")
	token := fs.String("token", "", "token for every client (the hub's `hub token create`)")
	tokenFile := fs.String("tokens", "", "file of tokens, one a line, used round-robin (from `hubbench tokens`)")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file (- for stdout)")
	quiet := fs.Bool("q", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *token != "" && *tokenFile != "":
		return errors.New("give --token or --tokens, not both")
	case *token != "":
		cfg.Tokens = []string{*token}
	case *tokenFile != "":
		toks, err := readTokens(*tokenFile)
		if err != nil {
			return err
		}
		cfg.Tokens = toks
	}
	if !*quiet {
		cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		if res != nil {
			res.check()
			res.Print(stdout)
		}
		return err
	}
	if *jsonOut != "" && *jsonOut != "-" {
		res.Print(stdout)
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if *jsonOut == "-" {
			_, err = stdout.Write(b)
		} else {
			err = os.WriteFile(*jsonOut, b, 0o644)
		}
		if err != nil {
			return err
		}
	} else {
		res.Print(stdout)
	}
	if !res.OK {
		fmt.Fprintf(stderr, "hubbench: %s: %s\n", res.Label, strings.Join(res.Problems, "; "))
		return errMismatch
	}
	return nil
}

func readTokens(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var toks []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			toks = append(toks, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%s holds no tokens", path)
	}
	return toks, nil
}

// tokens creates users in the data directory of a stopped hub and prints
// one token for each.
func tokens(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hubbench tokens", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "the hub's data directory (the hub must be stopped)")
	users := fs.Int("users", 1, "users to create")
	prefix := fs.String("prefix", "bench", "user names are PREFIX-N")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *users < 1 {
		return errors.New("tokens: --data is required and --users must be at least 1")
	}
	db, err := store.Open(*data, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	w := bufio.NewWriter(stdout)
	for i := range *users {
		tok, err := db.CreateToken(fmt.Sprintf("%s-%05d", *prefix, i))
		if err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		fmt.Fprintln(w, tok)
	}
	return w.Flush()
}
