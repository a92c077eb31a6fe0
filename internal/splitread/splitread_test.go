package splitread

import (
	"io"
	"testing"
	"testing/iotest"
)

func TestReader(t *testing.T) {
	data := []byte("0123456789abcdefghij")
	r := New(data, []byte{3, 0, 5})
	var sizes []int
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			sizes = append(sizes, n)
		}
		if err == io.EOF {
			break
		}
	}
	want := []int{3, 1, 5, 3, 1, 5, 2}
	if len(sizes) != len(want) {
		t.Fatalf("read sizes %v, want %v", sizes, want)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("read sizes %v, want %v", sizes, want)
		}
	}
	if err := iotest.TestReader(New(data, []byte{2, 7}), data); err != nil {
		t.Fatal(err)
	}
}
