package schemas

// Byte-class scans eight bytes at a time ("SIMD within a register"). Every message is scanned
// byte by byte several times on its way through Kafka — its strings when it is encoded, again
// when it is decoded, and its hashes, scripts and addresses when it is validated on both sides
// — and one byte at a time that was a third of the CPU the sink spent per block
// (BenchmarkPublishConsume in sinks/kafka). Each function here has a byte-table twin that
// handles the tail and that the tests compare it with, for every byte value in every lane.
//
// The lane arithmetic below is exact only for bytes below 0x80: each test first checks that no
// lane has its high bit set, and a word with one goes to the byte loop instead.

const (
	lanes1  = 0x0101010101010101 // 0x01 in every byte
	lanesHi = 0x8080808080808080 // the high bit of every byte
	lanesLo = 0x7f7f7f7f7f7f7f7f // the low seven bits of every byte
)

// word8 loads s[i:i+8] as a little-endian word (the compiler merges the loads into one).
func word8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// word8b is word8 for a byte slice.
func word8b(b []byte, i int) uint64 {
	_ = b[i+7]
	return uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
		uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
}

// atLeast returns the high bit of each lane of x whose byte is >= c; every byte of x must be
// below 0x80 and c at most 0x80 (no lane then carries into the next).
func atLeast(x uint64, c byte) uint64 {
	return (x + (0x80-uint64(c))*lanes1) & lanesHi
}

// between returns the high bit of each lane of x whose byte is in [lo, hi]; every byte of x
// must be below 0x80 and hi below 0x7f.
func between(x uint64, lo, hi byte) uint64 {
	return atLeast(x, lo) &^ atLeast(x, hi+1)
}

// equal returns the high bit of each lane of x whose byte is c; every byte of x must be below
// 0x80.
func equal(x uint64, c byte) uint64 {
	y := x ^ uint64(c)*lanes1                         // zero in the lanes equal to c
	return ^(((y & lanesLo) + lanesLo) | y) & lanesHi // high bit only in the zero lanes
}

// isLowerHex reports whether every byte of s is 0-9 or a-f.
func isLowerHex(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := word8(s, i)
		if x&lanesHi != 0 || between(x, '0', '9')|between(x, 'a', 'f') != lanesHi {
			return false
		}
	}
	for ; i < len(s); i++ {
		if !lowerHex[s[i]] {
			return false
		}
	}
	return true
}

// alnum marks the ASCII letters and digits.
var alnum = func() (t [256]bool) {
	for c := range 256 {
		t[c] = '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	return t
}()

// isAlnum reports whether every byte of s is an ASCII letter or digit.
func isAlnum(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := word8(s, i)
		if x&lanesHi != 0 || between(x, '0', '9')|between(x, 'a', 'z')|between(x, 'A', 'Z') != lanesHi {
			return false
		}
	}
	for ; i < len(s); i++ {
		if !alnum[s[i]] {
			return false
		}
	}
	return true
}

// plainRun returns how many bytes from d[i] on are plainASCII (printable ASCII other than '"'
// and '\\'), counting whole words of eight and stopping before the first word that holds
// another byte: the caller goes on byte by byte from there.
func plainRun(d []byte, i int) int {
	start := i
	for ; i+8 <= len(d); i += 8 {
		x := word8b(d, i)
		if x&lanesHi != 0 || atLeast(x, 0x20) != lanesHi || equal(x, '"')|equal(x, '\\') != 0 {
			break
		}
	}
	return i - start
}

// htmlSafeRun returns how many bytes from s[i] on are htmlSafe (printable ASCII other than '"',
// '\\', '<', '>' and '&'), counting whole words of eight as plainRun does.
func htmlSafeRun(s string, i int) int {
	start := i
	for ; i+8 <= len(s); i += 8 {
		x := word8(s, i)
		if x&lanesHi != 0 || atLeast(x, 0x20) != lanesHi ||
			equal(x, '"')|equal(x, '\\')|equal(x, '<')|equal(x, '>')|equal(x, '&') != 0 {
			break
		}
	}
	return i - start
}
