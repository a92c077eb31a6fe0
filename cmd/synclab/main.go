// Command synclab measures how closely Tandem's followers play together.
//
// In one process it runs a real hub, N followers (plus one that joins
// late), each a room client behind
// its own simulated network link (a delaying TCP proxy on loopback) with a
// simulated local clock (offset, drift) and a virtual audio sink steered by
// a follow.Controller, and a conductor that plays, seeks, pauses, resumes
// and changes the track. Another follower joins late, and one goes away
// and comes back. By the process's own clock (the truth, which is also the
// hub's clock) it samples every 10 ms what each member hears, and reports
// the skew between members per scenario, the convergence after the late
// join, the range of the rate trim and the hard resyncs.
//
//	synclab --profile lan|wifi|wan [--json] [--followers N] [--duration D]
//	        [--delay D] [--jitter D] [--asym D] [--loss P] [--drift-ppm X] [--offset D]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"tandem/sync/clock"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "synclab:", err)
		}
		os.Exit(1)
	}
}

// profiles are the networks of --profile.
var profiles = map[string]Net{
	"lan":  {Delay: 500 * time.Microsecond, Jitter: 200 * time.Microsecond},
	"wifi": {Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond},
	"wan":  {Delay: 80 * time.Millisecond, Jitter: 30 * time.Millisecond, Asym: 10 * time.Millisecond},
}

// ParseArgs turns command-line arguments into a Config.
func ParseArgs(args []string, stderr io.Writer) (cfg Config, asJSON bool, err error) {
	fl := flag.NewFlagSet("synclab", flag.ContinueOnError)
	fl.SetOutput(stderr)
	profile := fl.String("profile", "lan", "network profile: lan (0.5 ± 0.2 ms), wifi (5 ± 5 ms), wan (80 ± 30 ms, 10 ms asymmetry)")
	jsonOut := fl.Bool("json", false, "print one JSON object instead of a table")
	delay := fl.Duration("delay", -1, "one-way delay, overriding the profile's")
	jitter := fl.Duration("jitter", -1, "jitter (delay ± jitter, uniform), overriding the profile's")
	asym := fl.Duration("asym", -1, "extra delay of the uplink (member → hub), overriding the profile's")
	loss := fl.Float64("loss", -1, "probability that a chunk needs a retransmit (200 ms + 2·delay later), overriding the profile's")
	drift := fl.Float64("drift-ppm", 100, "members' clocks drift evenly from −X to +X ppm")
	offset := fl.Duration("offset", 500*time.Millisecond, "members' clocks are offset evenly from −D to +D")
	followers := fl.Int("followers", 3, "followers playing from the start (at least 2); one more joins late")
	duration := fl.Duration("duration", 60*time.Second, "length of the run")
	seed := fl.Uint64("seed", 1, "seed of the links' randomness")
	verbose := fl.Bool("v", false, "log progress to stderr")
	clockPeriod := fl.Duration("clock-period", 0, "followers' clock:ping period (0: the player's default)")
	clockWindow := fl.Int("clock-window", 0, "samples competing for the hub-clock estimate (0: the player's default)")
	clockBurst := fl.Int("clock-burst", 0, "clock:ping samples of the burst on connecting (0: the player's default)")
	trace := fl.String("trace", "", "write every sample (time s, scenario, then each member's error ms and trim ppm) to this file")
	if err := fl.Parse(args); err != nil {
		return Config{}, false, err
	}
	if fl.NArg() > 0 {
		return Config{}, false, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	n, ok := profiles[*profile]
	if !ok {
		return Config{}, false, fmt.Errorf("unknown profile %q: want lan, wifi or wan", *profile)
	}
	if *delay >= 0 {
		n.Delay = *delay
	}
	if *jitter >= 0 {
		n.Jitter = *jitter
	}
	if *asym >= 0 {
		n.Asym = *asym
	}
	if *loss >= 0 {
		n.Loss = *loss
	}
	if n.Loss >= 1 {
		return Config{}, false, errors.New("--loss must be below 1")
	}
	if *drift < 0 || *drift > 1000 {
		return Config{}, false, errors.New("--drift-ppm must be between 0 and 1000")
	}
	cfg = Config{Profile: *profile, Net: n, DriftPPM: *drift, Offset: *offset, Followers: *followers,
		Duration: *duration, Seed: *seed,
		Clock: clock.Config{Period: *clockPeriod, Window: *clockWindow, BurstCount: *clockBurst}}
	if *trace != "" {
		f, err := os.Create(*trace)
		if err != nil {
			return Config{}, false, fmt.Errorf("trace: %w", err)
		}
		cfg.Trace = f // closed at exit
	}
	if *verbose {
		cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return cfg, *jsonOut, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, asJSON, err := ParseArgs(args, stderr)
	if err != nil {
		return err
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		return res.WriteJSON(stdout)
	}
	return res.WriteTable(stdout)
}
