package abuse

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestUnknownEventFlood (defect 7): unknown events count against the
// connection's rate limit: a burst of 1,000 gets ELIMIT after the
// budget, and the connection stays up. All 1,000 were answered EUNKNOWN.
func TestUnknownEventFlood(t *testing.T) {
	h := startHub(t, []string{"ann"}, "--rate-limit", "10", "--rate-burst", "20")
	w := h.dialWS(t)
	w.connectSIO(h.tokens["ann"])
	var burst []byte
	for i := range 1000 {
		burst = append(burst, frame([]byte(fmt.Sprintf(`42%d["no:such:event",{}]`, i)))...)
	}
	w.writeParts(burst)
	unknown, limited := 0, 0
	for range 1000 {
		got := w.read()
		switch {
		case strings.Contains(got, `"EUNKNOWN"`):
			unknown++
		case strings.Contains(got, `"ELIMIT"`):
			limited++
		default:
			t.Fatalf("answer %.100q", got)
		}
	}
	if limited == 0 || unknown > 100 {
		t.Errorf("of 1,000 unknown events %d were answered EUNKNOWN and %d ELIMIT; want the rate limit to stop most", unknown, limited)
	}
	h.stillServes(h.tokens["ann"])
}

// TestFailedSignInsThrottled (defect 7): bad tokens from one address are
// counted in /metrics and, past the budget, refused without being
// checked (HTTP 429 with Retry-After); the log names no token.
func TestFailedSignInsThrottled(t *testing.T) {
	h := startHub(t, []string{"ann"})
	const bad = "not-a-real-token-0123456789abcdef"
	statuses := map[int]int{}
	retry := ""
	for range 15 {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/api/tracks/"+strings.Repeat("0", 64), nil)
		req.Header.Set("Authorization", "Bearer "+bad)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		statuses[res.StatusCode]++
		if res.StatusCode == http.StatusTooManyRequests {
			retry = res.Header.Get("Retry-After")
		}
	}
	if statuses[http.StatusUnauthorized] == 0 || statuses[http.StatusTooManyRequests] == 0 || retry == "" {
		t.Errorf("15 bad tokens: statuses %v, Retry-After %q; want 401s, then 429 with Retry-After", statuses, retry)
	}
	res, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(m), "tandem_hub_auth_failures_total") || !strings.Contains(string(m), "tandem_hub_auth_throttled_total") {
		t.Errorf("/metrics does not count failed sign-ins")
	}
	if strings.Contains(h.logs.String(), bad) {
		t.Errorf("the hub's log holds the token that was tried")
	}
	// This address is throttled now, so a normal client from it would be
	// refused; the hub must still serve /healthz at once.
	res, err = http.Get(h.url + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/healthz after the failures: %v %v", res, err)
	}
	res.Body.Close()
}

// TestDocsAgree (defect 8): `hub user --help` prints its usage and exits
// 0, and an empty playlist's answer carries "entries":[].
func TestDocsAgree(t *testing.T) {
	bin := startHub(t, []string{"ann"})
	out, err := exec.Command(bin.bin, "user", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hub user list") {
		t.Errorf("hub user --help: %v\n%s", err, out)
	}
	w := bin.dialWS(t)
	w.connectSIO(bin.tokens["ann"])
	w.writeParts(frame([]byte(`421["playlist:create",{"opId":"op-1","name":"Empty"}]`)))
	got := w.read()
	if !strings.HasPrefix(got, "431[") || !strings.Contains(got, `"entries":[]`) {
		t.Errorf("playlist:create of an empty playlist answered %q, want \"entries\":[]", got)
	}
	bin.stillServes(bin.tokens["ann"])
}
