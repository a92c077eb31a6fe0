package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"tandem/store"
	"tandem/sync/hub"
	"tandem/sync/protocol"
)

// The commands here work on a data directory either way: through the
// running hub's admin socket, or, when no hub runs, on the database
// directly (the hub holds the database's lock while it runs).

// adminClient speaks the admin API over the hub's unix socket.
type adminClient struct{ http *http.Client }

// adminTimeout bounds one admin request (a backup streams for longer; its
// request has no timeout but the caller's context).
const adminTimeout = 30 * time.Second

// dialAdmin returns a client of the hub running on dir, or nil when none
// runs there (no socket, or a socket nobody listens on any more).
func dialAdmin(ctx context.Context, dir string) (*adminClient, error) {
	path := filepath.Join(dir, adminSocketName)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil
		}
		return nil, fmt.Errorf("admin socket %s: %w (run this as the hub's user)", path, err)
	}
	conn.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", path)
	}}
	return &adminClient{http: &http.Client{Transport: tr}}, nil
}

func (a *adminClient) close() { a.http.CloseIdleConnections() }

// do sends a request to the admin API and decodes a successful answer into
// out; a refusal becomes its *tandem.Error.
func (a *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hub"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var fail protocol.Ack
		if json.Unmarshal(b, &fail) == nil && fail.Error != nil {
			return fail.Error
		}
		return fmt.Errorf("admin %s %s: %s", method, path, resp.Status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	return nil
}

// withHub runs remote against the hub running on dir, or local against
// the database when no hub runs.
func withHub(ctx context.Context, dir string, remote func(*adminClient) error, local func(*store.DB) error) error {
	a, err := dialAdmin(ctx, dir)
	if err != nil {
		return err
	}
	if a != nil {
		defer a.close()
		return remote(a)
	}
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		return err
	}
	return errors.Join(local(db), db.Close())
}

// cliFlags makes a subcommand's flag set with --data.
func cliFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", defaultDataDir(), "data directory of the hub")
	return fs, data
}

// parseWithArg parses flags given before or after one positional argument,
// which it returns ("" when missing).
func parseWithArg(fs *flag.FlagSet, args []string) (string, error) {
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	arg, rest := fs.Arg(0), fs.Args()[1:]
	if err := parseFlags(fs, rest); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return arg, nil
}

func noArgs(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data := cliFlags("hub token create", stderr)
	name := fs.String("name", "", "the friend's display name")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("token create: --name is required")
	}
	var tok string
	err := withHub(ctx, *data, func(a *adminClient) error {
		var res hub.AdminToken
		err := a.do(ctx, http.MethodPost, "/tokens", map[string]string{"name": *name}, &res)
		tok = res.Token
		return err
	}, func(db *store.DB) (err error) {
		tok, err = db.CreateToken(*name)
		return err
	})
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func inviteCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data := cliFlags("hub invite create", stderr)
	uses := fs.Int("uses", 1, "how many friends may redeem the invite")
	expires := fs.String("expires", "72h", "how long the invite is good for (a duration such as 72h or 30m; 0: never)")
	public := fs.String("public-url", "", "the hub's address for friends, when no hub runs (default: derived from --addr)")
	addr := fs.String("addr", "127.0.0.1:7878", "the hub's listen address, to derive the public URL when no hub runs")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	ttl, err := hub.ParseExpiry(*expires)
	if err != nil {
		return fmt.Errorf("invite create: %w", err)
	}
	var inv hub.AdminInvite
	err = withHub(ctx, *data, func(a *adminClient) error {
		return a.do(ctx, http.MethodPost, "/invites", hub.AdminInviteRequest{Uses: *uses, Expires: *expires}, &inv)
	}, func(db *store.DB) error {
		// Without a hub, TLS is known only from the environment a
		// service shares with this command.
		tls := os.Getenv(envName("tls-cert")) != "" || os.Getenv(envName("acme-domain")) != ""
		u, err := publicURL(*public, *addr, os.Getenv(envName("acme-domain")), tls)
		if err != nil {
			return err
		}
		inv, err = hub.CreateInvite(db, u, *uses, ttl)
		return err
	})
	if err != nil {
		return fmt.Errorf("invite create: %w", err)
	}
	fmt.Fprint(stdout, inv.String())
	fmt.Fprintf(stdout, "\nThe friend joins with:\n  player --invite %s --name NAME\n", inv.URL)
	return nil
}

func userList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data := cliFlags("hub user list", stderr)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	var users []hub.AdminUser
	running := false
	err := withHub(ctx, *data, func(a *adminClient) error {
		running = true
		var res struct {
			Users []hub.AdminUser `json:"users"`
		}
		err := a.do(ctx, http.MethodGet, "/users", nil, &res)
		users = res.Users
		return err
	}, func(db *store.DB) (err error) {
		users, err = hub.ListUsers(db, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("user list: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTOKENS\tSTATUS\tCONNECTED\tCREATED")
	for _, u := range users {
		status, conn := "active", "-"
		if u.Revoked {
			status = "revoked"
		}
		if running {
			conn = fmt.Sprint(u.Connected)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", u.Name, u.Tokens, status, conn, u.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func userRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data := cliFlags("hub user revoke", stderr)
	name, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	if name == "" {
		return errors.New("user revoke: give the user's name: hub user revoke NAME")
	}
	var res hub.AdminRevoke
	err = withHub(ctx, *data, func(a *adminClient) error {
		return a.do(ctx, http.MethodPost, "/users/"+url.PathEscape(name)+"/revoke", nil, &res)
	}, func(db *store.DB) error {
		n, err := db.RevokeUser(name)
		res = hub.AdminRevoke{Name: name, Tokens: n}
		return err
	})
	if err != nil {
		return fmt.Errorf("user revoke: %w", err)
	}
	fmt.Fprintf(stdout, "revoked %s: %d token(s) deleted, %d connection(s) closed\n", res.Name, res.Tokens, res.Disconnected)
	return nil
}

func backup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, data := cliFlags("hub backup", stderr)
	out := fs.String("out", "", "file to write the backup to (replaced atomically)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("backup: --out is required")
	}
	var n int64
	err := withHub(ctx, *data, func(a *adminClient) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://hub/backup", nil)
		if err != nil {
			return err
		}
		resp, err := a.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var fail protocol.Ack
			if json.NewDecoder(resp.Body).Decode(&fail) == nil && fail.Error != nil {
				return fail.Error
			}
			return errors.New(resp.Status)
		}
		// A backup cut short ends the stream early: io.Copy then fails
		// and the temporary file is removed.
		n, err = store.WriteFileAtomic(*out, 0o600, func(w io.Writer) (int64, error) { return io.Copy(w, resp.Body) })
		return err
	}, func(db *store.DB) (err error) {
		n, err = db.Backup(*out)
		return err
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := store.CheckFile(*out); err != nil {
		return fmt.Errorf("backup: the copy does not check out: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes)\n", *out, n)
	return nil
}
