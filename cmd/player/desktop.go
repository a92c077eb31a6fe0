package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"fyne.io/fyne/v2"

	"tandem"
	"tandem/desktop/mpris"
	"tandem/player"
	"tandem/sync/event"
	"tandem/ui"
)

// mprisPlayer is the player as MPRIS sees it: media keys and the
// desktop's widgets.
type mprisPlayer struct {
	core *player.Core
	win  fyne.Window
	app  fyne.App
	log  *slog.Logger
}

func (p mprisPlayer) State() mpris.State {
	n, r := p.core.Now(), p.core.RoomView()
	st := mpris.State{TrackID: n.EntryID, Title: n.Title, Album: n.Album, Length: n.Duration, Position: n.Position,
		Volume: p.core.Volume(), Shuffle: r.Shuffle, CanControl: r.Name != "" && (!r.HostOnly || r.IsHost)}
	if st.TrackID == "" {
		st.TrackID = n.TrackID
	}
	if n.Artist != "" {
		st.Artist = []string{n.Artist}
	}
	switch {
	case n.Playing:
		st.Status = mpris.Playing
	case st.TrackID != "":
		st.Status = mpris.Paused
	}
	switch r.Repeat {
	case player.RepeatAll:
		st.Loop = mpris.LoopPlaylist
	case player.RepeatOne:
		st.Loop = mpris.LoopTrack
	}
	return st
}

func (p mprisPlayer) playback(state tandem.PlayState) {
	player.Playback.Emit(p.core.Emitter(), player.PlaybackChange{Origin: player.Local, Room: p.core.Room(),
		State: state, Position: p.core.Now().Position})
}

func (p mprisPlayer) Play()                  { p.playback(tandem.Playing) }
func (p mprisPlayer) Pause()                 { p.playback(tandem.Paused) }
func (p mprisPlayer) Stop()                  { p.playback(tandem.Paused) }
func (p mprisPlayer) Next()                  { p.core.Next() }
func (p mprisPlayer) Previous()              { p.core.Previous() }
func (p mprisPlayer) Seek(pos time.Duration) { p.core.Seek(pos) }
func (p mprisPlayer) SetVolume(v float64)    { p.core.SetVolume(v) }
func (p mprisPlayer) SetShuffle(on bool)     { p.core.SetShuffle(on) }
func (p mprisPlayer) Raise()                 { fyne.Do(func() { p.win.Show(); p.win.RequestFocus() }) }
func (p mprisPlayer) Quit()                  { fyne.Do(p.app.Quit) }

// OpenURI joins the room of a link clicked on the desktop (handed over by
// a second player, or sent by the desktop), and shows the window. A link
// it cannot open here (another hub's) is refused: the second player then
// opens it itself.
func (p mprisPlayer) OpenURI(uri string) error {
	if err := p.core.JoinLink(uri); err != nil {
		p.log.Info("mpris: a link this player does not open", "uri", uri, "err", err)
		return err
	}
	fyne.Do(func() {
		p.win.Show()
		p.win.RequestFocus()
	})
	return nil
}

func (p mprisPlayer) SetLoop(l mpris.Loop) {
	r := player.RepeatOff
	switch l {
	case mpris.LoopPlaylist:
		r = player.RepeatAll
	case mpris.LoopTrack:
		r = player.RepeatOne
	}
	p.core.SetRepeat(r)
}

// startMPRIS serves MPRIS on the session bus, updated on every change of
// the core, and returns the function that stops it, and whether the
// session bus is there. Without a session bus the player runs without it,
// and says so once.
func startMPRIS(ctx context.Context, log *slog.Logger, core *player.Core, w fyne.Window, a fyne.App) (func(), bool) {
	srv, err := mpris.Start(ctx, log, mprisPlayer{core: core, win: w, app: a, log: log}, mpris.Options{})
	if err != nil {
		log.Info("no media keys, tray or desktop controls: no session bus", "err", err)
		return func() {}, false
	}
	em := core.Emitter()
	update := func() { srv.Update() }
	ls := []event.Listener{
		player.ChangeTrack.On(em, func(player.TrackChange) { update() }),
		player.Playback.On(em, func(player.PlaybackChange) { update() }),
		player.State.On(em, func(string) { update() }),
	}
	return func() {
		for _, l := range ls {
			em.Off(l)
		}
		if err := srv.Close(); err != nil {
			log.Warn("mpris: close", "err", err)
		}
	}, true
}

// debugState is what GET /debug/state answers: what the window shows, for
// end-to-end tests.
type debugState struct {
	Room    string         `json:"room"`
	Link    string         `json:"link"`
	Members []string       `json:"members"`
	Now     ui.NowPlaying  `json:"now"`
	Row     *debugRowPlace `json:"row,omitempty"` // with ?row=N
}

// debugRowPlace is where a row of the table is drawn, in pixels from the
// window's top left corner.
type debugRowPlace struct {
	X, Y float32
}

// serveDebug serves GET /debug/state on addr, a loopback address, and
// returns the function that stops it.
func serveDebug(addr string, core *player.Core, win *ui.Window, log *slog.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--debug-addr %q: want a loopback address such as 127.0.0.1:0", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr: %w", err)
	}
	log.Info("debug state", "url", "http://"+ln.Addr().String()+"/debug/state")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/state", func(w http.ResponseWriter, r *http.Request) {
		rv := core.RoomView()
		st := debugState{Room: rv.Name, Link: rv.Link, Now: core.Now()}
		for _, m := range rv.Members {
			st.Members = append(st.Members, m.Name)
		}
		if s := r.URL.Query().Get("row"); s != "" {
			row, err := strconv.Atoi(s)
			if err != nil {
				http.Error(w, "row: want a number", http.StatusBadRequest)
				return
			}
			fyne.DoAndWait(func() {
				if x, y, ok := win.RowCenter(row); ok {
					st.Row = &debugRowPlace{X: x, Y: y}
				}
			})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	// Profiles, for the benchmarks of the player's idle CPU.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug state server", "err", err)
		}
	}()
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
