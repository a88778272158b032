package clickhouse

import (
	"reflect"
	"testing"
	"unsafe"
)

// reset must empty every column of every table (a column left out would
// misalign the next round's rows) and every key index, while keeping the
// slices' room. Checked by reflection, so a column added later is covered.
func TestColumnsResetEmptiesEverything(t *testing.T) {
	var c columns
	fill(t, reflect.ValueOf(&c).Elem())
	c.jIdx, c.pIdx, c.iIdx = map[string]int{"a": 0}, map[string]int{"b": 0}, map[string]int{"c": 0}
	c.reset()
	check(t, reflect.ValueOf(&c).Elem(), "columns")
	if len(c.jIdx)+len(c.pIdx)+len(c.iIdx) != 0 {
		t.Fatal("reset left keys in an index")
	}
}

// fill gives every slice field (at any depth of structs) three elements.
func fill(t *testing.T, v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			fill(t, f)
		case reflect.Slice:
			// Unexported: set through its address.
			f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			f.Set(reflect.MakeSlice(f.Type(), 3, 3))
		}
	}
}

func check(t *testing.T, v reflect.Value, path string) {
	for i := range v.NumField() {
		f, name := v.Field(i), path+"."+v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.Struct:
			check(t, f, name)
		case reflect.Slice:
			if f.Len() != 0 || f.Cap() != 3 {
				t.Errorf("%s: len %d cap %d after reset, want 0 and 3", name, f.Len(), f.Cap())
			}
		}
	}
}
