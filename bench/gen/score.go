package gen

// Score compares an engine's grouping with the truth: pred maps event_id → customer id for the events the
// engine kept; it returns pairwise precision, recall and F1 over the valid non-dup events (pairs of events
// in the same truth group vs. same predicted customer), computed in O(n) with contingency counts, not O(n²).
// Events missing from pred count as singletons.
//
// Conventions: an empty customer id counts as missing; ids in pred that are not valid non-dup
// events of recs are ignored; with no predicted pairs precision is 1, with no true pairs recall
// is 1 (nothing to get wrong / nothing to find), and F1 is 0 when both precision and recall are 0.
func Score(recs []Record, pred map[string]string) (precision, recall, f1 float64) {
	type cell struct {
		truth int
		cust  string
	}
	truthN := make(map[int]int64)
	predN := make(map[string]int64)
	cellN := make(map[cell]int64)
	for i := range recs {
		r := &recs[i]
		if !r.Valid || r.Dup || r.Truth < 0 {
			continue
		}
		truthN[r.Truth]++
		c := pred[r.EventID]
		if c == "" {
			continue // a singleton: in no predicted pair
		}
		predN[c]++
		cellN[cell{r.Truth, c}]++
	}
	var truePairs, predPairs, both float64
	for _, n := range truthN {
		truePairs += pairs(n)
	}
	for _, n := range predN {
		predPairs += pairs(n)
	}
	for _, n := range cellN {
		both += pairs(n)
	}
	precision, recall = 1, 1
	if predPairs > 0 {
		precision = both / predPairs
	}
	if truePairs > 0 {
		recall = both / truePairs
	}
	if precision+recall > 0 {
		f1 = 2 * precision * recall / (precision + recall)
	}
	return precision, recall, f1
}

func pairs(n int64) float64 { return float64(n) * float64(n-1) / 2 }
