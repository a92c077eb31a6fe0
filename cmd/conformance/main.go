// Command conformance serves the server that the official Engine.IO and
// Socket.IO protocol test suites expect (package tandem/test/conformance):
// an Engine.IO echo server at /engine.io/ and a Socket.IO server at
// /socket.io/. The suites look for it at localhost:3000:
//
//	go run ./cmd/conformance --addr :3000
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
	"syscall"
	"time"

	"tandem/test/conformance"
)

// shutdownTimeout bounds the wait for open requests after a signal.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

// run parses the flags and serves until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":3000", "address to listen on")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	h, closeHandler := conformance.NewHandler(log)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("conformance: listening", "addr", ln.Addr().String())

	select {
	case err = <-served:
		_ = closeHandler()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("conformance: shutting down")
	// Closing the sessions first ends pending long-polling requests, which
	// Shutdown would otherwise wait for.
	err = closeHandler()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = errors.Join(err, srv.Shutdown(sctx))
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
