package store

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"tandem"
)

// Name rules. A new user, room or playlist name is NFC-normalised, then
// must be 1 to MaxNameLen characters of assigned, visible Unicode without
// surrounding spaces: no control (Cc), format (Cf: zero-width characters,
// bidi controls, the BOM), private-use, line or paragraph separator or
// other default-ignorable character, and no U+FFFD, which is what a
// broken character (such as a lone surrogate in JSON) decodes to. The one
// exception: an emoji-style or text-style variation selector (U+FE0F,
// U+FE0E) right after a symbol, as in "❤️".
//
// A new user name must also not be confusable with an existing one: two
// names are confusable when their skeletons (Skeletons) are equal. The
// users' skeletons are indexed (bucketUserSkeletons), so the check is two
// lookups. Room and playlist names are checked only for their characters:
// a room is entered by its invite link and shown with its host, a
// playlist with its owner; the user name is what people trust.

// maxNameBytes bounds the input that NormalizeName reads at all: room
// enough for MaxNameLen characters each decomposed into a few code points.
const maxNameBytes = 1024

// bucketUserSkeletons is the user name skeleton index, created by
// migration 6: each of Skeletons(name), with its kind's prefix ("f" or
// "v", keyFolded and keyVisual) -> user name. When old users collide, the
// first by name keeps the entry.
const bucketUserSkeletons = "userSkeletons"

// refuseName is an EINVALID error for a name.
func refuseName(format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, format, args...)
}

// NormalizeName checks name against the rules for a new user, room or
// playlist name and returns its NFC form, which is what is stored. A name
// that breaks a rule gives an EINVALID error whose message says which.
func NormalizeName(name string) (string, error) {
	switch {
	case name == "":
		return "", refuseName("The name is empty; pick one.")
	case len(name) > maxNameBytes:
		return "", refuseName("The name is longer than %d characters.", MaxNameLen)
	case !utf8.ValidString(name):
		return "", refuseName("The name is not valid UTF-8 text.")
	case strings.ContainsRune(name, utf8.RuneError):
		return "", refuseName("The name has a character that could not be read (U+FFFD, what is left of a broken character); remove it.")
	}
	n := norm.NFC.String(name)
	if utf8.RuneCountInString(n) > MaxNameLen {
		return "", refuseName("The name is longer than %d characters.", MaxNameLen)
	}
	if strings.TrimSpace(n) != n {
		return "", refuseName("The name starts or ends with a space; remove it.")
	}
	if r, ok := hiddenRune(n); ok {
		return "", refuseName("The name has an invisible or control character (%U); remove it.", r)
	}
	return n, nil
}

// ValidateName reports whether name, as it stands, is acceptable as a new
// user, playlist or room name: it follows the rules of NormalizeName and
// is already in NFC form. The error has code EINVALID.
func ValidateName(name string) error {
	n, err := NormalizeName(name)
	if err != nil {
		return err
	}
	if n != name {
		return refuseName("The name is not in Unicode normal form C (NFC).")
	}
	return nil
}

// checkStoredName is the looser check of a name that refers to something
// stored, such as a playlist's owner: names made before the rules above
// still pass. It is the rule that new names followed before schema 6.
func checkStoredName(name string) error {
	switch {
	case name == "":
		return refuseName("The name is empty.")
	case !utf8.ValidString(name):
		return refuseName("The name is not valid UTF-8 text.")
	case utf8.RuneCountInString(name) > MaxNameLen:
		return refuseName("The name is longer than %d characters.", MaxNameLen)
	case strings.TrimSpace(name) != name:
		return refuseName("The name starts or ends with a space.")
	case strings.ContainsFunc(name, unicode.IsControl):
		return refuseName("The name has control characters.")
	}
	return nil
}

// hiddenRune returns the first character of s that no name may hold.
func hiddenRune(s string) (rune, bool) {
	prev := rune(-1)
	for _, r := range s {
		if hidden(r, prev) {
			return r, true
		}
		prev = r
	}
	return 0, false
}

// hidden reports whether r, after prev, is a character no name may hold.
func hidden(r, prev rune) bool {
	switch {
	case r == '\uFE0E' || r == '\uFE0F':
		// Text or emoji style, right after a symbol ("❤️").
		return prev < 0 || !unicode.In(prev, unicode.S)
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector,
		unicode.Noncharacter_Code_Point):
		return true
	case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs):
		return true // unassigned
	}
	return false
}

// ignorable reports whether r is default-ignorable: it is dropped from
// skeletons, so that an old name that holds one still collides with its
// visible twin.
func ignorable(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// The kinds of skeleton, as the prefixes of their keys in the index.
const (
	keyFolded = 'f' // the skeleton of the case-folded name
	keyVisual = 'v' // the case-folded skeleton of the name as it stands
)

// Skeletons returns the two forms under which names that look alike are
// equal. Both start from the name without its default-ignorable
// characters, and use Unicode's confusables table (TR39's skeleton: NFD,
// each character to its prototype, NFD again) and full case folding, with
// runs of white space made one space, repeated until the form no longer
// changes (a few rounds at most):
//
//   - folded: case folding, then the skeleton; "ALICE", "аlice" (Cyrillic
//     а) and "ａｌｉｃｅ" share alice's;
//   - visual: the skeleton of the name as it stands, then case folding,
//     for lookalikes that only the letter case shows: "aIice" (capital I)
//     and alice, "НАСК" (Cyrillic) and HACK.
//
// A skeleton is for comparing only, never for showing.
func Skeletons(name string) (folded, visual string) {
	s := strings.Map(func(r rune) rune {
		if ignorable(r) {
			return -1
		}
		return r
	}, name)
	folded = fixpoint(s, func(s string) string { return confusables.Skeleton(cases.Fold().String(s)) })
	visual = fixpoint(s, func(s string) string { return cases.Fold().String(confusables.Skeleton(s)) })
	return folded, visual
}

// fixpoint applies f to s, with runs of white space made one space, until
// the result no longer changes, at most 8 times.
func fixpoint(s string, f func(string) string) string {
	for range 8 {
		next := strings.Join(strings.Fields(f(s)), " ")
		if next == s {
			break
		}
		s = next
	}
	return s
}

// skeletonKeys returns a name's two keys in the skeleton index.
func skeletonKeys(name string) [2][]byte {
	folded, visual := Skeletons(name)
	return [2][]byte{append([]byte{keyFolded}, folded...), append([]byte{keyVisual}, visual...)}
}

// shown quotes a name for a message: “name”, or, for an old name that
// holds characters no new name may, Go's escaped form, so the message
// shows what is there.
func shown(name string) string {
	if _, bad := hiddenRune(name); bad || !utf8.ValidString(name) {
		return fmt.Sprintf("%+q", name)
	}
	return "“" + name + "”"
}

// CheckNewName checks, inside tx, that name may be taken by a new user, or
// by the user called except when that user is renamed ("" for none), and
// returns the name's NFC form, which is what to store. A name that breaks
// the rules of NormalizeName gives EINVALID; a name that is taken, or
// confusable with another user's (see Skeleton), gives ECONFLICT with a
// message naming that user.
func CheckNewName(tx *bolt.Tx, name, except string) (string, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return "", err
	}
	if n != except && bucket(tx, bucketUsers).Get([]byte(n)) != nil {
		return "", tandem.Errorf(tandem.ECONFLICT, "The name %s is taken; pick another.", shown(n))
	}
	skeletons := bucket(tx, bucketUserSkeletons)
	for _, k := range skeletonKeys(n) {
		if other := skeletons.Get(k); other != nil {
			if o := string(other); o != except && o != n {
				return "", tandem.Errorf(tandem.ECONFLICT,
					"The name %s is too like %s, which someone already uses; pick another.", shown(n), shown(o))
			}
		}
	}
	return n, nil
}

// indexUserName records a user's skeletons, each unless another user
// holds it (a collision among users made before the index: the first
// keeps it). It returns the name of a user that held one, or "".
func indexUserName(tx *bolt.Tx, name string) (string, error) {
	b := bucket(tx, bucketUserSkeletons)
	held := ""
	for _, k := range skeletonKeys(name) {
		if other := b.Get(k); other != nil {
			if string(other) != name {
				held = string(other)
			}
			continue
		}
		if err := b.Put(k, []byte(name)); err != nil {
			return "", err
		}
	}
	return held, nil
}

// migrateUserSkeletons (schema 6) builds the user name skeleton index.
// Users are read in name order; of users made earlier whose names collide,
// the first keeps the index entry and the others are logged: they keep
// their names, but no new name may look like any of them.
func migrateUserSkeletons(log *slog.Logger) migration {
	return func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(bucketUserSkeletons)); err != nil {
			return fmt.Errorf("create bucket %s: %w", bucketUserSkeletons, err)
		}
		return bucket(tx, bucketUsers).ForEach(func(k, _ []byte) error {
			name := string(k)
			like, err := indexUserName(tx, name)
			if err != nil {
				return fmt.Errorf("index user %q: %w", name, err)
			}
			if like != "" {
				log.Warn("store: two users have lookalike names; both keep them, and new names are checked against the first",
					"user", name, "like", like)
			}
			return nil
		})
	}
}
