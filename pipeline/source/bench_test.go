package source

import (
	"testing"
)

// BenchmarkMap maps a typical sample record per source (the longest valid
// line of each sample file, 250-450 bytes); the target is well under 2 µs
// and no allocation per record.
func BenchmarkMap(b *testing.B) {
	for _, m := range Default() {
		var rec []byte
		for _, l := range sampleLines(b, m.Channel()) {
			if _, err := m.Map(l, nil); err == nil && len(l) > len(rec) {
				rec = l
			}
		}
		b.Run(m.Name(), func(b *testing.B) {
			dst := make([]byte, 0, 1024)
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = m.Map(rec, dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rec)), "rawbytes")
		})
	}
}
