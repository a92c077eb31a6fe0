package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"tandem/audio"
	"tandem/internal/hubmedia"
	"tandem/internal/netguard"
	"tandem/store"
	"tandem/sync/hub"
)

// The database satisfies the interfaces the hub defines for it.
var (
	_ hub.Store    = (*store.DB)(nil)
	_ hub.Accounts = (*store.DB)(nil)
)

// serveConfig is what `hub serve` is told by its flags and TANDEM_*
// variables.
type serveConfig struct {
	addr, data, publicURL string
	demo, verbose         bool
	logFormat, logLevel   string
	tlsCert, tlsKey       string
	acmeDomain, acmeEmail string
	acmeHTTPAddr, acmeDir string
	shutdownTimeout       time.Duration
	openRooms             bool
	roomLinksAdmit        bool
	rateLimit             float64
	rateBurst             int
	allowedOrigins        string
	maxUploadMB           int64
	gcPercent             int
	idleTimeout           time.Duration
	bodyTimeout           time.Duration
	connectTimeout        time.Duration
	maxConnsPerIP         int
}

// defaultGCPercent is the hub's GOGC. Go's default, 100, lets the heap grow
// to twice what is live before collecting; a hub's heap is mostly idle
// connections, and at 50 each costs about 4.3 KB of RSS instead of 5.4–5.9
// KB, for CPU within the noise of the benchmarks (BENCHMARKS.md).
const defaultGCPercent = 50

func serveFlags(stderr io.Writer) (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("hub serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7878", "address to listen on (host:port); use 0.0.0.0:7878 to let friends on the LAN in")
	fs.StringVar(&c.data, "data", defaultDataDir(), "data directory (holds tandem.db, admin.sock and acme/)")
	fs.StringVar(&c.publicURL, "public-url", "", "the hub's address for friends, http(s)://HOST[:PORT], used in invite links (default: derived from --addr)")
	fs.BoolVar(&c.demo, "demo", false, "load the demo library and a Demo playlist that empty rooms play")
	fs.BoolVar(&c.verbose, "v", false, "log debug messages (same as --log-level debug)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	fs.StringVar(&c.acmeDomain, "acme-domain", "", "get and renew a certificate for this domain from an ACME CA (Let's Encrypt); listen on :443")
	fs.StringVar(&c.acmeEmail, "acme-email", "", "contact address given to the ACME CA (optional)")
	fs.StringVar(&c.acmeHTTPAddr, "acme-http-addr", "", "also serve ACME HTTP-01 challenges and redirects to HTTPS on this address, e.g. :80 (optional)")
	fs.StringVar(&c.acmeDir, "acme-directory", "", "ACME directory URL (default Let's Encrypt production)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	fs.BoolVar(&c.openRooms, "open-rooms", false, "let every friend into every room, without the room's invite code")
	fs.BoolVar(&c.roomLinksAdmit, "room-links-admit", false, "let anyone with a room's invite link make an account on this hub (otherwise only hub invites do)")
	fs.Float64Var(&c.rateLimit, "rate-limit", hub.DefaultRateLimit, "commands a second one connection may send, sustained")
	fs.IntVar(&c.rateBurst, "rate-burst", hub.DefaultRateBurst, "commands one connection may send at once")
	fs.Int64Var(&c.maxUploadMB, "max-upload-mb", hub.DefaultMaxUpload>>20, "largest music file a friend may upload, in MiB")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", "", "comma-separated web origins (https://app.example.org) whose pages may connect from a browser; * for any; default: same host only")
	fs.IntVar(&c.gcPercent, "gc-percent", defaultGCPercent, "the garbage collector's target, as GOGC (10 to 1000): lower holds less memory per connection, higher spends less CPU collecting; without this flag a GOGC variable wins")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", netguard.DefaultIdleTimeout, "how long a keep-alive HTTP connection may wait for its next request")
	fs.DurationVar(&c.bodyTimeout, "body-timeout", netguard.DefaultBodyTimeout, "how long a request body (an upload, a polling POST) may send nothing before it is cut off")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", hub.DefaultConnectTimeout, "how long a new Socket.IO connection may take to send its CONNECT and be let in before it is closed")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", netguard.DefaultMaxConnsPerIP, "connections open at once from one IPv4 address or IPv6 /64 (loopback not counted); more are closed at once; 0: no limit")
	return fs, c
}

// adminSocketName is the admin API's unix socket in the data directory.
const adminSocketName = "admin.sock"

func serve(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs, c := serveFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if c.verbose {
		c.logLevel = "debug"
	}
	log, err := newLogger(stderr, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	if c.gcPercent < 10 || c.gcPercent > 1000 {
		return fmt.Errorf("serve: --gc-percent %d: want 10 to 1000", c.gcPercent)
	}
	gcGiven := false
	fs.Visit(func(f *flag.Flag) { gcGiven = gcGiven || f.Name == "gc-percent" })
	if gcGiven || os.Getenv("GOGC") == "" {
		debug.SetGCPercent(c.gcPercent)
		log.Debug("garbage collector target", "gogc", c.gcPercent)
	}
	if c.maxConnsPerIP < 0 {
		return fmt.Errorf("serve: --max-conns-per-ip %d: want 0 (no limit) or more", c.maxConnsPerIP)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"idle-timeout", c.idleTimeout}, {"body-timeout", c.bodyTimeout}, {"connect-timeout", c.connectTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("serve: --%s %v: want a positive duration", d.name, d.v)
		}
	}
	raiseFileLimit(log)
	tlsCfg, err := c.tlsConfig(log)
	if err != nil {
		return err
	}

	metrics := hub.NewMetrics()
	db, err := store.Open(c.data, store.Options{Logger: log, ObserveTx: metrics.ObserveStoreTx})
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("close database", "err", err)
		}
	}()
	cfg := hub.Config{Store: db, Accounts: db, Metrics: metrics, Logger: log,
		OpenRooms: c.openRooms, RoomLinksAdmit: c.roomLinksAdmit, RateLimit: c.rateLimit, RateBurst: c.rateBurst, MaxUpload: c.maxUploadMB << 20,
		ConnectTimeout: c.connectTimeout}
	for _, o := range strings.Split(c.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.Engine.AllowedOrigins = append(cfg.Engine.AllowedOrigins, o)
		}
	}
	if err := hubmedia.Wire(&cfg, db, c.data, log); err != nil { // the music API
		return err
	}
	if c.demo {
		pl, err := hub.SeedDemo(db, audio.DemoTracks())
		if err != nil {
			return err
		}
		cfg.FallbackPlaylist = pl.ID
		log.Info("demo library loaded", "playlist", pl.Name, "tracks", len(pl.Entries))
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.PublicURL, err = publicURL(c.publicURL, ln.Addr().String(), c.acmeDomain, tlsCfg != nil); err != nil {
		ln.Close()
		return err
	}
	h := hub.New(cfg)
	// One guard for every server: idle and body timeouts, and the cap on
	// connections per source address across the hub's ports.
	guard := netguard.New(netguard.Config{IdleTimeout: c.idleTimeout, BodyTimeout: c.bodyTimeout,
		MaxConnsPerIP: c.maxConnsPerIP, Logger: log})
	if err := metrics.WatchConns(guard); err != nil {
		log.Error("connection metrics", "err", err)
	}
	errorLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	ln = guard.Listener(ln)
	srv := guard.Server(h.Handler(), errorLog)
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg.Config
	}
	errc := make(chan error, 3)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	servers := []*http.Server{srv}

	admin, err := listenAdmin(filepath.Join(c.data, adminSocketName))
	if err != nil {
		log.Error("admin socket; hub CLI commands will not reach this hub", "err", err)
	} else {
		asrv := guard.Server(h.AdminHandler(), errorLog)
		go func() { errc <- asrv.Serve(admin) }()
		servers = append(servers, asrv)
	}
	if c.acmeHTTPAddr != "" {
		m := tlsCfg.acme
		hsrv := guard.Server(m.HTTPHandler(nil), errorLog)
		hln, err := net.Listen("tcp", c.acmeHTTPAddr)
		if err != nil {
			log.Error("ACME HTTP listener", "addr", c.acmeHTTPAddr, "err", err)
		} else {
			go func() { errc <- hsrv.Serve(guard.Listener(hln)) }()
			servers = append(servers, hsrv)
		}
	}

	log.Info("hub listening", "addr", ln.Addr().String(), "public", cfg.PublicURL, "tls", tlsCfg != nil, "data", c.data)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("serve: %w", err)
		log.Error("hub server failed; shutting down", "err", err)
	case <-ctx.Done():
		log.Info("hub shutting down", "timeout", c.shutdownTimeout)
	}
	return errors.Join(serveErr, shutdown(h, servers, c.shutdownTimeout, log))
}

// shutdown stops the hub gracefully: it drains (readiness fails, commands
// in flight finish, every client gets a Socket.IO DISCONNECT), stops
// accepting and waits for HTTP requests in flight, closes the hub, and
// closes the admin socket. The caller closes the database after.
func shutdown(h *hub.Hub, servers []*http.Server, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if err := h.Drain(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	if err := h.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		log.Info("hub stopped")
	}
	return errors.Join(errs...)
}

// listenAdmin listens on the admin API's unix socket, readable and
// writable by the hub's user only. A socket left by a hub that died is
// removed first: the caller holds the database lock, so no other hub uses
// this data directory.
func listenAdmin(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	// The data directory is 0700 already; this keeps the socket private
	// even if someone loosens it.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return ln, nil
}

// hubTLS is the TLS configuration of the hub, and its ACME manager when it
// gets certificates by ACME.
type hubTLS struct {
	*tls.Config
	acme *autocert.Manager
}

// tlsConfig returns the TLS configuration that --tls-cert/--tls-key or
// --acme-domain ask for, or nil for plain HTTP.
func (c *serveConfig) tlsConfig(log *slog.Logger) (*hubTLS, error) {
	files := c.tlsCert != "" || c.tlsKey != ""
	switch {
	case files && c.acmeDomain != "":
		return nil, errors.New("use either --tls-cert/--tls-key or --acme-domain, not both")
	case files && (c.tlsCert == "" || c.tlsKey == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	case c.acmeHTTPAddr != "" && c.acmeDomain == "":
		return nil, errors.New("--acme-http-addr needs --acme-domain")
	case files:
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
		return &hubTLS{Config: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}, nil
	case c.acmeDomain != "":
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(c.acmeDomain),
			Cache:      autocert.DirCache(filepath.Join(c.data, "acme")),
			Email:      c.acmeEmail,
		}
		if c.acmeDir != "" {
			m.Client = &acme.Client{DirectoryURL: c.acmeDir}
		}
		cfg := m.TLSConfig()
		cfg.MinVersion = tls.VersionTLS12
		log.Info("ACME certificates", "domain", c.acmeDomain, "cache", filepath.Join(c.data, "acme"))
		return &hubTLS{Config: cfg, acme: m}, nil
	}
	return nil, nil
}
