package state

// clockCache holds up to a fixed number of values by string key and, when
// full, evicts by the CLOCK policy: a hand sweeps the slots and takes the
// first not used since it last passed, clearing the marks it passes. It
// keeps about what an LRU keeps at a fraction of the memory: per entry
// one slot (key, value, two flags) and one map entry, ~60 bytes and three
// pointers, where golang-lru's simplelru keeps ~160 bytes and seven
// pointers (list links, expiry fields). At 1,000,000 customers the two
// caches hold 500,000 entries whose bookkeeping was a third of the live
// heap the collector marks over and over (bench/RESULTS.md). A hit sets a
// flag instead of moving a list element.
//
// Not safe for concurrent use: the Store's single writer owns it.
type clockCache[V any] struct {
	index map[string]int32
	slots []clockSlot[V]
	hand  int
	max   int
}

type clockSlot[V any] struct {
	key  string
	val  V
	used bool // read or written since the hand last passed
	live bool // false: free (removed)
}

func newClockCache[V any](size int) *clockCache[V] {
	return &clockCache[V]{index: make(map[string]int32), max: size}
}

// Get returns k's value and marks it used.
func (c *clockCache[V]) Get(k string) (V, bool) {
	i, ok := c.index[k]
	if !ok {
		var zero V
		return zero, false
	}
	s := &c.slots[i]
	s.used = true
	return s.val, true
}

// Peek returns k's value without marking it.
func (c *clockCache[V]) Peek(k string) (V, bool) {
	i, ok := c.index[k]
	if !ok {
		var zero V
		return zero, false
	}
	return c.slots[i].val, true
}

// Add sets k's value, evicting another entry when the cache is full.
func (c *clockCache[V]) Add(k string, v V) {
	if i, ok := c.index[k]; ok {
		s := &c.slots[i]
		s.val, s.used = v, true
		return
	}
	if len(c.slots) < c.max {
		c.index[k] = int32(len(c.slots))
		c.slots = append(c.slots, clockSlot[V]{key: k, val: v, used: true, live: true})
		return
	}
	// At most two sweeps: the first clears every mark it passes.
	for {
		s := &c.slots[c.hand]
		if !s.live || !s.used {
			break
		}
		s.used = false
		c.advance()
	}
	s := &c.slots[c.hand]
	if s.live {
		delete(c.index, s.key)
	}
	*s = clockSlot[V]{key: k, val: v, used: true, live: true}
	c.index[k] = int32(c.hand)
	c.advance()
}

func (c *clockCache[V]) advance() {
	if c.hand++; c.hand == len(c.slots) {
		c.hand = 0
	}
}

// Remove drops k; its slot is taken by a later Add.
func (c *clockCache[V]) Remove(k string) {
	i, ok := c.index[k]
	if !ok {
		return
	}
	delete(c.index, k)
	c.slots[i] = clockSlot[V]{} // no value kept alive
}

// Purge drops every entry.
func (c *clockCache[V]) Purge() {
	clear(c.index)
	clear(c.slots)
	c.slots, c.hand = c.slots[:0], 0
}

// Len is the number of entries.
func (c *clockCache[V]) Len() int { return len(c.index) }
