package jsonscan

import (
	"encoding/json"
	"testing"
)

func TestField(t *testing.T) {
	f := func(obj, key, want string) {
		t.Helper()
		got := Field([]byte(obj), key)
		if (got == nil) != (want == "<nil>") || (got != nil && string(got) != want) {
			t.Fatalf("Field(%s, %q) = %q, want %q", obj, key, got, want)
		}
	}
	f(`{"store_id":"S12","total":59.90}`, "total", "59.90")
	f(` { "total" : "59.90" , "x":1}`, "total", `"59.90"`)
	f(`{"a":{"total":1},"b":[1,{"total":2}],"total":3}`, "total", "3")
	f(`{"a":"x\"total\":9","total":-1e3}`, "total", "-1e3")
	f(`{"a":[],"b":{},"total":null}`, "total", "null")
	f(`{"a":1}`, "total", "<nil>")
	f(`{}`, "total", "<nil>")
	f(`[{"total":1}]`, "total", "<nil>")
	f(`{"total":`, "total", "<nil>")
	f(`{"a":1 "total":2}`, "total", "<nil>")
	f(``, "total", "<nil>")
}

// FuzzField: never panics; on valid JSON objects it agrees with
// encoding/json about the field's value.
func FuzzField(f *testing.F) {
	f.Add([]byte(`{"store_id":"S12","total":59.90}`), "total")
	f.Add([]byte(`{"a":{"b":[1,2,{"c":"\"}"}]},"total":"1"}`), "total")
	f.Add([]byte(`{"total":1,"total":2}`), "total")
	f.Fuzz(func(t *testing.T, obj []byte, key string) {
		got := Field(obj, key)
		var m map[string]json.RawMessage
		if json.Unmarshal(obj, &m) != nil || !json.Valid([]byte(`"`+key+`"`)) {
			return
		}
		for k := range m {
			if b, _ := json.Marshal(k); string(b) != `"`+k+`"` {
				return // escaped names compare raw; out of scope
			}
		}
		want, ok := m[key]
		if !ok {
			if got != nil {
				t.Fatalf("Field found %q for absent key %q in %s", got, key, obj)
			}
			return
		}
		if got == nil {
			t.Fatalf("Field missed key %q in %s", key, obj)
		}
		var a, b any
		if json.Unmarshal(got, &a) != nil || json.Unmarshal(want, &b) != nil {
			t.Fatalf("Field(%s, %q) = %q, not a JSON value", obj, key, got)
		}
	})
}
