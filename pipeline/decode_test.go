package pipeline

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
)

// A batch large enough to be decoded in two halves at once gives, record
// by record, what the decoders give one record at a time: the same events
// and the same errors for the bad records among them.
func TestDecodeLargeBatchInHalves(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	decoders, err := Decoders(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i, r := range gen.All(gen.Options{Seed: 5, Customers: 300}) {
		topic, raw, err := gen.RawLine(r.Line)
		if err != nil {
			topic, raw = eventsTopic, r.Line // the generator's malformed lines
		}
		if i%50 == 0 {
			raw = append(raw[:len(raw):len(raw)], "}}"...) // bad JSON on a source topic
		}
		recs = append(recs, &kgo.Record{Topic: topic, Value: raw})
	}
	if len(recs) < 2048 {
		t.Fatalf("only %d records", len(recs))
	}
	s := &Service{o: Options{Decoders: decoders}}
	jobs := make([]*alignEntry, len(recs))
	for i, r := range recs {
		jobs[i] = &alignEntry{rec: r}
	}
	s.decode(jobs)
	bad := 0
	for i, r := range recs {
		want, wantErr := decoders[r.Topic](r.Value)
		if fmt.Sprint(jobs[i].err) != fmt.Sprint(wantErr) {
			t.Fatalf("record %d: error %v, want %v", i, jobs[i].err, wantErr)
		}
		if wantErr != nil {
			bad++
			continue
		}
		if fmt.Sprintf("%+v", jobs[i].ev) != fmt.Sprintf("%+v", want) {
			t.Fatalf("record %d: event %+v, want %+v", i, jobs[i].ev, want)
		}
	}
	if bad < len(recs)/50 {
		t.Fatalf("%d bad records, want at least %d", bad, len(recs)/50)
	}
}
