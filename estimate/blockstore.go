package estimate

import "time"

// blockStore holds the chain's blocks by height in pages of consecutive heights: each block is
// a pointer-free 24-byte record (header time, work, interned pool), so the garbage collector
// never scans them and a block costs 24 bytes instead of a map entry of a BlockObs with its
// string and time headers (about 110 bytes with the map's own overhead). Heights are dense in
// practice (every block of a history), but the schema admits heights up to 2^32, so the pages
// sit in a map: a stray height costs one page, not the whole range below it. A hash (live
// blocks only) is kept beside, by height.
type blockStore struct {
	pages  map[int64]*blockPage // by height >> pageBits
	hashes map[int64]string
	n      int
	// the page last used, and its key: blocks come mostly in height order
	last    *blockPage
	lastKey int64
}

const pageBits = 9 // 512 heights, 12 KiB a page

type blockPage struct {
	recs [1 << pageBits]blockRec
	n    int // records held
}

// blockRec is one held block; work 0 marks an empty slot (a held block's work is positive).
type blockRec struct {
	sec  int64 // header time, Unix seconds
	work float64
	pool int32 // index in Chain.poolNames
	nsec int32 // header time, nanoseconds within the second
}

func newBlockStore() blockStore {
	return blockStore{pages: map[int64]*blockPage{}, hashes: map[int64]string{}}
}

// page returns the page of height h, made when create is set and it is missing (else nil).
func (s *blockStore) page(h int64, create bool) *blockPage {
	key := h >> pageBits
	if s.last != nil && s.lastKey == key {
		return s.last
	}
	p := s.pages[key]
	if p == nil {
		if !create {
			return nil
		}
		p = &blockPage{}
		s.pages[key] = p
	}
	s.last, s.lastKey = p, key
	return p
}

func (s *blockStore) get(h int64) (blockRec, bool) {
	p := s.page(h, false)
	if p == nil {
		return blockRec{}, false
	}
	r := p.recs[h&(1<<pageBits-1)]
	return r, r.work != 0
}

func (s *blockStore) put(h int64, r blockRec, hash string) {
	p := s.page(h, true)
	slot := &p.recs[h&(1<<pageBits-1)]
	if slot.work == 0 {
		p.n++
		s.n++
	}
	*slot = r
	if hash != "" {
		s.hashes[h] = hash
	} else {
		delete(s.hashes, h)
	}
}

func (s *blockStore) del(h int64) {
	p := s.page(h, false)
	if p == nil || p.recs[h&(1<<pageBits-1)].work == 0 {
		return
	}
	p.recs[h&(1<<pageBits-1)] = blockRec{}
	p.n--
	s.n--
	if p.n == 0 {
		delete(s.pages, h>>pageBits)
		s.last = nil
	}
	delete(s.hashes, h)
}

func (r blockRec) time() time.Time { return time.Unix(r.sec, int64(r.nsec)).UTC() }
