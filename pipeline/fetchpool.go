package pipeline

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchPools gives the Kafka client the memory it decodes fetched batches
// into — the decompressed bytes of a batch and its Records — and takes it
// back once the consume loop recycles the batch's records (kgo's
// Record.Recycle; the client returns a batch's memory with its last
// record). Without them every fetched batch is allocated afresh: at
// 100,000 customers ~1.2 GB per run, an eighth of what the service
// allocates, which its collector pays for under the heap limit.
//
// What is safe: a record's Key and Value point into the pooled bytes, so
// nothing may keep them, or the record, past its recycling. Decoders copy
// what they keep (event.Decoder, the source mappings), and dead letters
// are copied into the state batch when enqueued; the consume loop recycles
// a batch's records only after it is committed and its offsets marked. A
// batch not recycled (a revoked partition's held records, a failed batch,
// a fetch the client drops for a paused partition) is left to the
// collector, and the pool allocates anew.
//
// Buffers are kept by power-of-two capacity, so a Get from class c is
// served by any buffer put back there (capacity ≥ 1<<c).
type fetchPools struct {
	bytes [maxPoolClass + 1]sync.Pool // *[]byte
	recs  [maxPoolClass + 1]sync.Pool // *[]kgo.Record

	returned atomic.Int64 // batches whose records all came back
}

const (
	minBytesClass = 12 // 4 KiB: the smallest buffer handed out
	minRecsClass  = 4  // 16 records
	maxPoolClass  = 27 // a batch over 128 MiB (or 2^27 records) is not pooled
)

var (
	_ kgo.PoolDecompressBytes = (*fetchPools)(nil)
	_ kgo.PoolRecords         = (*fetchPools)(nil)
)

// getClass is the class whose buffers all hold n: ceil(log2 n), at least
// least.
func getClass(n, least int) int { return max(least, bits.Len(uint(max(n, 1)-1))) }

// putClass is the class a buffer of capacity c serves: floor(log2 c).
func putClass(c int) int { return bits.Len(uint(c)) - 1 }

// GetDecompressBytes returns a buffer for the batch's decompressed data:
// snappy (what franz-go and most producers send) states its length, the
// other codecs are guessed at four times the compressed size; the client
// grows a buffer that is short.
func (p *fetchPools) GetDecompressBytes(compressed []byte, codec kgo.CompressionCodecType) []byte {
	n := 4 * len(compressed)
	if codec == kgo.CodecSnappy {
		if l, err := s2.DecodedLen(compressed); err == nil {
			n = l // xerial framing fails here and keeps the guess
		}
	}
	c := getClass(n, minBytesClass)
	if c > maxPoolClass {
		return nil
	}
	if b, ok := p.bytes[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// PutDecompressBytes takes back a buffer the client has zeroed.
func (p *fetchPools) PutDecompressBytes(b []byte) {
	if c := putClass(cap(b)); c >= minBytesClass && c <= maxPoolClass {
		b = b[:0]
		p.bytes[c].Put(&b)
	}
}

// GetRecords returns a slice of at least n records, zeroed.
func (p *fetchPools) GetRecords(n int) []kgo.Record {
	c := getClass(n, minRecsClass)
	if c > maxPoolClass {
		return nil
	}
	if rs, ok := p.recs[c].Get().(*[]kgo.Record); ok {
		return (*rs)[:0]
	}
	return make([]kgo.Record, 0, 1<<c)
}

// PutRecords takes back a batch's records once each is recycled (and so
// zeroed by Recycle).
func (p *fetchPools) PutRecords(rs []kgo.Record) {
	p.returned.Add(1)
	if c := putClass(cap(rs)); c >= minRecsClass && c <= maxPoolClass {
		rs = rs[:0]
		p.recs[c].Put(&rs)
	}
}
