package state

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The cache holds at most its size, every value it holds is the last one
// added under its key, and an entry read since the hand last passed
// outlives one that was not.
func TestClockCache(t *testing.T) {
	c := newClockCache[int](3)
	for i := range 3 {
		c.Add(fmt.Sprint(i), i)
	}
	// A full sweep clears the marks of 0, 1, 2 and takes 0; the hand then
	// stands at 1.
	c.Add("3", 3)
	if _, ok := c.Peek("0"); ok || c.Len() != 3 {
		t.Fatalf("0 kept, len %d", c.Len())
	}
	c.Get("1") // 1 read again: 2 goes next
	c.Add("4", 4)
	if _, ok := c.Peek("2"); ok {
		t.Fatal("2 kept over 1, which was read")
	}
	if v, ok := c.Get("1"); !ok || v != 1 {
		t.Fatalf("1: %d, %v", v, ok)
	}
	c.Add("1", 10)
	if v, _ := c.Peek("1"); v != 10 {
		t.Fatalf("1 after update: %d", v)
	}
	c.Remove("1")
	if _, ok := c.Get("1"); ok || c.Len() != 2 {
		t.Fatalf("1 after remove: len %d", c.Len())
	}
	c.Add("5", 5) // takes the free slot, evicts nothing
	for _, k := range []string{"3", "4", "5"} {
		if _, ok := c.Peek(k); !ok {
			t.Fatalf("%s evicted while a slot was free", k)
		}
	}
	c.Purge()
	if _, ok := c.Get("3"); ok || c.Len() != 0 {
		t.Fatal("entries after Purge")
	}

	// Random operations against a map: whatever the cache returns is right.
	c = newClockCache[int](50)
	want := map[string]int{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100000 {
		k := fmt.Sprint(rng.IntN(200))
		switch rng.IntN(4) {
		case 0:
			c.Remove(k)
			delete(want, k)
		case 1:
			c.Add(k, i)
			want[k] = i
		default:
			if v, ok := c.Get(k); ok && v != want[k] {
				t.Fatalf("%s: %d, want %d", k, v, want[k])
			}
		}
		if c.Len() > 50 || len(c.index) != c.Len() {
			t.Fatalf("len %d", c.Len())
		}
	}
}
