package store

import "fmt"

// Order keys sort a playlist's entries as plain strings (bytewise). An
// append takes orderKey(seq), 20 decimal digits of the playlist's append
// counter, which sorts after every key the playlist has ever had. An
// insert between two entries takes a key strictly between theirs, made by
// keyBetween from the digits below; such a key is always smaller than the
// next entry's, so it also sorts before every later append.
//
// The hub applies every edit in one bbolt transaction, so two friends who
// insert at the same place at the same time get two distinct keys, the
// second between the first and its successor, and every client sorts the
// same keys the same way.

// orderKey returns the key of the seq-th entry appended to a playlist:
// seq zero-padded to 20 digits, the width of the largest uint64.
func orderKey(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// keyDigits are the digits of order keys, in ascending byte order.
const keyDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// maxKeyLen bounds an order key; a longer one makes the playlist
// renumber its keys instead (see rebalance).
const maxKeyLen = 48

func digitOf(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

// keyBetween returns a key k with a < k < b, where a == "" means no lower
// bound and b == "" no upper bound. The key never ends in the smallest
// digit, so that there is always room before it. It reports false when a
// and b are not in order, hold a byte that is not a key digit, or leave no
// room (b is a followed only by zeros), or when the key would be longer
// than maxKeyLen.
func keyBetween(a, b string) (string, bool) {
	if b != "" && a >= b {
		return "", false
	}
	const base = len(keyDigits)
	out := make([]byte, 0, max(len(a), len(b))+1)
	upper := b != "" // still bounded by b
	for i := 0; i < maxKeyLen; i++ {
		lo := 0
		if i < len(a) {
			if lo = digitOf(a[i]); lo < 0 {
				return "", false
			}
		}
		hi := base
		if upper {
			if i >= len(b) {
				return "", false // a has b as a prefix, or b is a followed by zeros
			}
			if hi = digitOf(b[i]); hi < 0 {
				return "", false
			}
		}
		switch {
		case hi-lo >= 2:
			// A digit strictly between: done, and it is not the smallest.
			return string(append(out, keyDigits[(lo+hi)/2])), true
		case hi-lo == 1:
			// Take lo; whatever follows is below b, so b no longer bounds.
			out = append(out, keyDigits[lo])
			upper = false
		default: // equal digits
			out = append(out, keyDigits[lo])
		}
	}
	return "", false
}
