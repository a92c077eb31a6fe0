package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// envPrefix starts the environment variable of every flag: --public-url is
// TANDEM_PUBLIC_URL, --data TANDEM_DATA.
const envPrefix = "TANDEM_"

// envName returns the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args into fs, then fills each flag not given on the
// command line from its TANDEM_* environment variable: flags win over the
// environment, which wins over defaults.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}

// newLogger returns the logger that --log-format and --log-level ask for.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// publicURL returns the address friends use: explicit when given, else
// derived from the address the hub listens on (or the ACME domain): https
// with TLS, the host (a LAN address when the hub listens on all
// interfaces), and the port unless it is the scheme's default.
func publicURL(explicit, listenAddr, acmeDomain string, tls bool) (string, error) {
	if explicit != "" {
		u, err := url.Parse(strings.TrimSuffix(explicit, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return "", fmt.Errorf("--public-url %q: want http(s)://HOST[:PORT], without a path", explicit)
		}
		return u.Scheme + "://" + u.Host, nil
	}
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: %w", listenAddr, err)
	}
	scheme, defPort := "http", "80"
	if tls {
		scheme, defPort = "https", "443"
	}
	switch {
	case acmeDomain != "":
		host = acmeDomain
	case host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
		host = lanAddress()
	}
	if port == defPort {
		return scheme + "://" + hostForURL(host), nil
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("--addr %q: port %q is not a number", listenAddr, port)
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// hostForURL brackets an IPv6 address.
func hostForURL(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// lanAddress returns the first private IPv4 address of this machine, or
// its host name, or loopback.
func lanAddress() string {
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsPrivate() {
				return n.IP.String()
			}
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "127.0.0.1"
}
