package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"tandem/internal/testhub"
	"testing"
	"time"
)

// fdChildEnv, when set, makes TestServeAtFileLimit the hub itself: it
// names the data directory.
const fdChildEnv = "TANDEM_TEST_FD_CHILD"

// The file descriptor limits the child hub runs under: serve raises the
// soft one to the hard one.
const childSoftFDs, childHardFDs = 40, 64

// fdChild serves a hub under a low RLIMIT_NOFILE, printing its address on
// standard output, until SIGTERM.
func fdChild(dir string) {
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: childSoftFDs, Max: childHardFDs}); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ready := make(chan string, 1)
	go func() { fmt.Printf("ADDR %s\n", <-ready) }()
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--idle-timeout", "3s"}, os.Stdout, os.Stderr, ready)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// cpuTime returns the user and system CPU time pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: utime is
	// the 12th, stime the 13th, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// A hub out of file descriptors goes on accepting once some are free,
// without spinning meanwhile: keep-alive connections fill it past its
// limit, the hub closes the idle ones after --idle-timeout, and then
// serves those that waited, while its accept loop backs off.
func TestServeAtFileLimit(t *testing.T) {
	if dir := os.Getenv(fdChildEnv); dir != "" {
		fdChild(dir)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeAtFileLimit$")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var logs testhub.LockedBuffer
	atLimit := make(chan struct{})
	var acceptErrs struct {
		sync.Mutex
		n int
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&logs, line)
			if strings.Contains(line, "Accept error") && strings.Contains(line, "too many open files") {
				acceptErrs.Lock()
				if acceptErrs.n++; acceptErrs.n == 1 {
					close(atLimit)
				}
				acceptErrs.Unlock()
			}
		}
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addrc <- a
			}
		}
		exited <- cmd.Wait() // after the pipes are read to the end
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("hub: %v\n%s", err, logs.String())
			}
		case <-time.After(limitWait):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("hub did not stop on SIGTERM")
		}
		<-scanned
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-exited:
		t.Fatalf("hub exited: %v\n%s", err, logs.String())
	case <-time.After(limitWait):
		t.Fatalf("hub did not start\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("nofile=%d", childHardFDs)) {
		t.Errorf("the hub did not log its raised file limit %d:\n%s", childHardFDs, logs.String())
	}

	// More keep-alive requests than the hub has descriptors for; each is
	// answered on a goroutine, and the connections stay open.
	const n = 2 * childHardFDs
	answered := make(chan int, n)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(3 * limitWait))
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil && resp.StatusCode == http.StatusOK {
				answered <- i
			} else {
				answered <- -1
			}
		}()
	}
	select {
	case <-atLimit:
	case <-time.After(limitWait):
		t.Fatalf("the hub never ran out of descriptors\n%s", logs.String())
	}
	start, cpu0 := time.Now(), cpuTime(t, cmd.Process.Pid)
	acceptErrs.Lock()
	errs0 := acceptErrs.n
	acceptErrs.Unlock()
	for range n {
		if i := <-answered; i < 0 {
			t.Fatalf("a request waiting for a descriptor was not answered\n%s", logs.String())
		}
	}
	wall, cpu := time.Since(start), cpuTime(t, cmd.Process.Pid)-cpu0
	acceptErrs.Lock()
	errs := acceptErrs.n - errs0
	acceptErrs.Unlock()
	t.Logf("at the limit for %v: %d accept retries, %v CPU", wall.Round(time.Millisecond), errs, cpu)
	// Backing off from 5 ms to 1 s, the accept loop retries about ten
	// times in the two seconds after each accept, then once a second; a
	// loop that spins retries thousands of times a second and burns a core.
	if limit := 20 * (1 + int(wall.Seconds())); errs > limit {
		t.Errorf("%d accept retries in %v, want at most %d: the accept loop spins", errs, wall, limit)
	}
	if cpu > wall/2 {
		t.Errorf("the hub used %v of CPU in %v at its file limit: it spins", cpu, wall)
	}

	// And it serves newcomers.
	resp, err := (&http.Client{Timeout: limitWait}).Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("after the limit: %v", err)
	}
	resp.Body.Close()
}
