package pipeline

import (
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestPoolClasses(t *testing.T) {
	for _, c := range []struct{ n, get int }{
		{0, 12}, {1, 12}, {4096, 12}, {4097, 13}, {1 << 20, 20}, {1<<20 + 1, 21},
	} {
		if got := getClass(c.n, minBytesClass); got != c.get {
			t.Errorf("getClass(%d) = %d, want %d", c.n, got, c.get)
		}
	}
	// A buffer is put back in the class whose every Get it can serve.
	for _, c := range []struct{ cap, put int }{{4096, 12}, {8191, 12}, {8192, 13}} {
		if got := putClass(c.cap); got != c.put {
			t.Errorf("putClass(%d) = %d, want %d", c.cap, got, c.put)
		}
	}
}

func TestPoolDecompressBytes(t *testing.T) {
	var p fetchPools
	data := make([]byte, 100_000)
	b := p.GetDecompressBytes(s2.EncodeSnappy(nil, data), kgo.CodecSnappy)
	if len(b) != 0 || cap(b) < len(data) {
		t.Fatalf("snappy of %d bytes: buffer len %d cap %d", len(data), len(b), cap(b))
	}
	// Other codecs state no length: a guess, which the client grows.
	if b := p.GetDecompressBytes(make([]byte, 1000), kgo.CodecZstd); cap(b) < 4000 {
		t.Fatalf("zstd of 1000 bytes: cap %d", cap(b))
	}
	// A batch beyond the largest class is the client's to allocate.
	if b := p.GetDecompressBytes(make([]byte, 1<<26), kgo.CodecLz4); b != nil {
		t.Fatalf("a 256 MiB guess was pooled (cap %d)", cap(b))
	}
	// What comes back serves the next Get of its class. (Several: under
	// the race detector sync.Pool drops a quarter of what it is given.)
	for range 8 {
		p.PutDecompressBytes(make([]byte, 5, 1<<17))
	}
	if b := p.GetDecompressBytes(make([]byte, 20_000), kgo.CodecGzip); cap(b) != 1<<17 || len(b) != 0 {
		t.Fatalf("after a put of a 128 KiB buffer, a get of 80 KB: len %d cap %d", len(b), cap(b))
	}
}

func TestPoolRecords(t *testing.T) {
	var p fetchPools
	rs := p.GetRecords(1000)
	if len(rs) != 0 || cap(rs) < 1000 {
		t.Fatalf("GetRecords(1000): len %d cap %d", len(rs), cap(rs))
	}
	for range 8 {
		p.PutRecords(make([]kgo.Record, 1000, cap(rs)))
	}
	if p.returned.Load() != 8 {
		t.Fatalf("returned %d, want 8", p.returned.Load())
	}
	if again := p.GetRecords(600); cap(again) != cap(rs) || len(again) != 0 {
		t.Fatalf("after a put of %d records, GetRecords(600): len %d cap %d", cap(rs), len(again), cap(again))
	}
}
