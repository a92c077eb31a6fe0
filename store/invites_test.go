package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// openClock opens a database whose clock the test moves with the returned
// function.
func openClock(t *testing.T) (*DB, func(time.Duration)) {
	t.Helper()
	var offset atomic.Int64
	d, err := Open(t.TempDir(), Options{Timeout: testTimeout,
		Now: func() time.Time { return testNow.Add(time.Duration(offset.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		checkFile(t, d.Path())
	})
	return d, func(by time.Duration) { offset.Add(int64(by)) }
}

func TestInviteRedeem(t *testing.T) {
	d, _ := openClock(t)
	code, exp, err := d.CreateInvite(2, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := stamp(testNow).Add(72 * time.Hour); !exp.Equal(want) {
		t.Errorf("expires %v, want %v", exp, want)
	}
	if len(code) != 22 {
		t.Errorf("code %q: want 22 characters (128 bits)", code)
	}

	// Only the code's hash is stored.
	err = d.db.View(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketInvites)
		if b.Get([]byte(code)) != nil {
			return errors.New("the code itself is a key")
		}
		h := sha256.Sum256([]byte(code))
		if b.Get(h[:]) == nil {
			return errors.New("no record under the code's sha256")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	u, tok, err := d.RedeemInvite(code, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "ann" || !u.CreatedAt.Equal(stamp(testNow)) {
		t.Errorf("user %+v", u)
	}
	if got, err := d.Authenticate(tok); err != nil || got.Name != "ann" {
		t.Fatalf("Authenticate(redeemed token) = %+v, %v", got, err)
	}

	// A taken name does not spend a use.
	_, _, err = d.RedeemInvite(code, "ann")
	wantCode(t, err, tandem.ECONFLICT)
	_, _, err = d.RedeemInvite(code, " bad name")
	wantCode(t, err, tandem.EINVALID)

	if _, _, err := d.RedeemInvite(code, "bob"); err != nil {
		t.Fatalf("second use: %v", err)
	}
	_, _, err = d.RedeemInvite(code, "cid")
	wantCode(t, err, tandem.EFORBIDDEN)
	if !errors.Is(err, ErrInviteUsedUp) {
		t.Errorf("third use: %v, want ErrInviteUsedUp", err)
	}
	if _, err := d.User("cid"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("refused redemption created a user: %v", err)
	}

	_, _, err = d.RedeemInvite("not-a-code", "dan")
	wantCode(t, err, tandem.EFORBIDDEN)
	if !errors.Is(err, ErrInviteUnknown) {
		t.Errorf("unknown code: %v", err)
	}

	invs, err := d.Invites()
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 || invs[0].Used != 2 || invs[0].MaxUses != 2 || fmt.Sprint(invs[0].RedeemedBy) != "[ann bob]" {
		t.Errorf("Invites() = %+v", invs)
	}
}

func TestInviteExpires(t *testing.T) {
	d, advance := openClock(t)
	code, _, err := d.CreateInvite(5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forever, exp, err := d.CreateInvite(1, 0)
	if err != nil || !exp.IsZero() {
		t.Fatalf("CreateInvite(1, 0) = %v, %v", exp, err)
	}
	advance(time.Hour)
	_, _, err = d.RedeemInvite(code, "ann")
	wantCode(t, err, tandem.EFORBIDDEN)
	if !errors.Is(err, ErrInviteExpired) {
		t.Errorf("expired code: %v", err)
	}
	advance(1000 * time.Hour)
	if _, _, err := d.RedeemInvite(forever, "ann"); err != nil {
		t.Errorf("invite without expiry: %v", err)
	}
}

func TestCreateInviteInvalid(t *testing.T) {
	d := openTest(t, t.TempDir())
	for _, c := range []struct {
		uses int
		ttl  time.Duration
	}{{0, time.Hour}, {-1, time.Hour}, {MaxInviteUses + 1, time.Hour}, {1, -time.Second}} {
		_, _, err := d.CreateInvite(c.uses, c.ttl)
		wantCode(t, err, tandem.EINVALID)
	}
}

// TestInviteRedeemConcurrent checks that redemption is atomic: an invite
// with n uses makes exactly n users however many friends race for it.
func TestInviteRedeemConcurrent(t *testing.T) {
	d := openTest(t, t.TempDir())
	const uses, racers = 3, 12
	code, _, err := d.CreateInvite(uses, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, refused atomic.Int32
	for i := range racers {
		wg.Go(func() {
			_, _, err := d.RedeemInvite(code, fmt.Sprintf("friend%d", i))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrInviteUsedUp):
				refused.Add(1)
			default:
				t.Errorf("friend%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != uses || refused.Load() != racers-uses {
		t.Errorf("%d redeemed, %d refused; want %d and %d", ok.Load(), refused.Load(), uses, racers-uses)
	}
	users, err := d.Users()
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != uses {
		t.Errorf("%d users, want %d", len(users), uses)
	}
}

func TestRedeemRoomCode(t *testing.T) {
	d, _ := openClock(t)
	if err := d.PutRoom(tandem.Room{Name: "lounge", Host: "ann", Code: "MZXW6YTBOI3DAMRQ"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateToken("ann"); err != nil {
		t.Fatal(err)
	}
	u, token, err := d.RedeemRoomCode("MZXW6YTBOI3DAMRQ", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "bob" {
		t.Errorf("user %+v", u)
	}
	if got, err := d.Authenticate(token); err != nil || got.Name != "bob" {
		t.Fatalf("the new token authenticates %+v (%v)", got, err)
	}
	// A taken name, an unknown code and a bad name change nothing.
	if _, _, err := d.RedeemRoomCode("MZXW6YTBOI3DAMRQ", "ann"); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Errorf("taken name: %v", err)
	}
	if _, _, err := d.RedeemRoomCode("AAAAAAAAAAAAAAAA", "cat"); tandem.ErrorCode(err) != tandem.EFORBIDDEN || !errors.Is(err, ErrInviteUnknown) {
		t.Errorf("unknown code: %v", err)
	}
	if _, _, err := d.RedeemRoomCode("MZXW6YTBOI3DAMRQ", " cat"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("bad name: %v", err)
	}
	users, err := d.Users()
	if err != nil || len(users) != 2 {
		t.Errorf("users %+v (%v), want ann and bob", users, err)
	}
}
