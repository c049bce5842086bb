package schemas

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// scalarRun counts the bytes from s[i] on that ok accepts, byte by byte: the reference the
// word-at-a-time runs must never exceed, and must reach to the last whole word.
func scalarRun(s string, i int, ok *[256]bool) int {
	n := 0
	for i+n < len(s) && ok[s[i+n]] {
		n++
	}
	return n
}

func allOf(s string, ok *[256]bool) bool { return scalarRun(s, 0, ok) == len(s) }

// checkAgainstTables compares every word-at-a-time scan on s with its byte-table twin.
func checkAgainstTables(t *testing.T, s string) {
	t.Helper()
	if got, want := isLowerHex(s), allOf(s, &lowerHex); got != want {
		t.Fatalf("isLowerHex(%q) = %v, byte table says %v", s, got, want)
	}
	if got, want := isAlnum(s), allOf(s, &alnum); got != want {
		t.Fatalf("isAlnum(%q) = %v, byte table says %v", s, got, want)
	}
	for i := 0; i <= len(s); i++ {
		for _, c := range []struct {
			name string
			got  int
			ok   *[256]bool
		}{
			{"plainRun", plainRun([]byte(s), i), &plainASCII},
			{"htmlSafeRun", htmlSafeRun(s, i), &htmlSafe},
		} {
			want := scalarRun(s, i, c.ok)
			// A run counts whole words only and stops at the first word with another byte.
			if c.got%8 != 0 || c.got > want || want-c.got >= 8 && i+c.got+8 <= len(s) {
				t.Fatalf("%s(%q, %d) = %d, byte table accepts %d", c.name, s, i, c.got, want)
			}
		}
	}
}

// TestWordScansMatchByteTables puts every byte value in every lane of one and two words (and a
// tail) of otherwise accepted bytes, for each class, and checks that the word-at-a-time scans
// decide exactly as the byte tables do.
func TestWordScansMatchByteTables(t *testing.T) {
	for _, base := range []string{
		strings.Repeat("0123456789abcdef", 2)[:19], // lower hex
		"abcxyzABCXYZ0189qQ",                       // letters and digits
		"plain text, with ~ and { } ]",             // printable, no specials
	} {
		for pos := range len(base) {
			for c := range 256 {
				b := []byte(base)
				b[pos] = byte(c)
				checkAgainstTables(t, string(b))
			}
		}
	}
}

// TestWordScansRandom compares the scans with the byte tables on random strings drawn mostly
// from the bytes near the class boundaries.
func TestWordScansRandom(t *testing.T) {
	edge := []byte("/09:@AZ[`afgz{\x1f\x20\x7e\x7f\x80\xff\"\\<>&")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			if rng.IntN(4) == 0 {
				b[j] = edge[rng.IntN(len(edge))]
			} else {
				b[j] = "0123456789abcdefXYZ "[rng.IntN(20)]
			}
		}
		checkAgainstTables(t, string(b))
	}
}

func BenchmarkIsLowerHex(b *testing.B) {
	s := strings.Repeat("0123456789abcdef", 4)
	b.SetBytes(int64(len(s)))
	for range b.N {
		if !isLowerHex(s) {
			b.Fatal("not hex")
		}
	}
}
