package abuse

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestLookalikeNames (defect 6): with alice present, names that look like
// hers, or hide characters, are refused with a sentence; all five were
// accepted as new users.
func TestLookalikeNames(t *testing.T) {
	h := startHub(t, []string{"alice"})
	out, err := exec.Command(h.bin, "invite", "create", "--uses", "20", "--data", h.data).CombinedOutput()
	if err != nil {
		t.Fatalf("hub invite create: %v\n%s", err, out)
	}
	code := ""
	for _, l := range strings.Split(string(out), "\n") {
		if c, ok := strings.CutPrefix(l, "invite code: "); ok {
			code = strings.TrimSpace(c)
		}
	}
	if code == "" {
		t.Fatalf("no invite code in %q", out)
	}
	redeem := func(name string) (int, string, string) {
		body, _ := json.Marshal(map[string]string{"code": code, "name": name})
		res, err := http.Post(h.url+"/api/invites/redeem", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var e struct {
			Error *struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if e.Error == nil {
			return res.StatusCode, "", ""
		}
		return res.StatusCode, e.Error.Code, e.Error.Message
	}
	for _, name := range []string{"ALICE", "a\u200blice", "\u0430lice", "alice\u202e", "\u202eecila"} {
		status, code, msg := redeem(name)
		if status/100 == 2 || (code != "ECONFLICT" && code != "EINVALID") || msg == "" {
			t.Errorf("name %q: %d %s %q, want refused with ECONFLICT or EINVALID and a sentence", name, status, code, msg)
		}
	}
	// A lone surrogate arrives as U+FFFD after JSON decoding.
	raw := []byte(`{"code":"` + code + `","name":"bo\ud800b"}`)
	res, err := http.Post(h.url+"/api/invites/redeem", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 == 2 {
		t.Errorf("a name with a lone surrogate: %d, want refused", res.StatusCode)
	}
	if status, code, msg := redeem("bob"); status/100 != 2 {
		t.Errorf("a plain new name: %d %s %q, want accepted", status, code, msg)
	}
	h.stillServes(h.tokens["alice"])
}
