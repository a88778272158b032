package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// FieldDocs holds the documentation of the configuration structs, keyed by
// Go name: "State" for a type, "State.Dir" for a field. The comments live in
// this package's source, which a running binary does not have, so the
// caller extracts them (reference_test.go does, with go/ast) and Reference
// only renders.
type FieldDocs map[string]string

// Reference renders the configuration reference as Markdown: one table per
// section of omnistitch.yaml and of the identity file, each row giving the
// YAML path, the type, the default (from Default) and the description (from
// docs). The field names come from the yaml tags, so the reference cannot
// name a field the loader does not accept.
func Reference(docs FieldDocs) string {
	r := &refWriter{docs: docs}
	def := Default()
	r.printf("# Configuration reference\n\n")
	r.printf("<!-- Generated from internal/config/config.go by `go test ./internal/config -run TestReference -update`; do not edit by hand. -->\n\n")
	r.printf("Omnistitch reads two YAML files: the main file (`omnistitch.yaml`, given with `--config`) and the\n")
	r.printf("identity rules file it names (`identity_file`). A field left out keeps the default shown here\n")
	r.printf("(the defaults are the embedded files in `configs/`); a list given replaces the default list\n")
	r.printf("entirely. Unknown fields, wrong types and out-of-range values stop the service at start-up with\n")
	r.printf("`FILE:LINE: FIELD: what is wrong`. Command-line flags of `omnistitch run` (`--brokers`,\n")
	r.printf("`--group`, `--state-dir`, `--http-addr`, `--clickhouse`) override the file.\n\n")
	r.printf("The commented default files are [`configs/omnistitch.yaml`](../configs/omnistitch.yaml) and\n")
	r.printf("[`configs/identity.yaml`](../configs/identity.yaml).\n")

	r.printf("\n## omnistitch.yaml\n")
	r.section("", "Config", "", reflect.ValueOf(*def), true)
	r.printf("\n## identity.yaml (the file named by `identity_file`)\n")
	r.section("", "Identity", "", reflect.ValueOf(def.Identity), true)
	return r.b.String()
}

type refWriter struct {
	b    strings.Builder
	docs FieldDocs
}

func (r *refWriter) printf(format string, args ...any) { fmt.Fprintf(&r.b, format, args...) }

// section writes the table of the struct v found at path (dotted YAML path,
// "" at the top of a file), then the sections of its nested structs and
// lists of structs, depth first in field order. Without defaults (the
// entries of a list) the default column shows a dash.
func (r *refWriter) section(path, typeName, intro string, v reflect.Value, defaults bool) {
	title := "Top level"
	if path != "" {
		title = "`" + path + "`"
	}
	r.printf("\n### %s\n\n", title)
	if intro == "" {
		intro = r.docs[typeName]
	}
	if intro != "" {
		r.printf("%s\n\n", intro)
	}
	r.printf("| YAML path | type | default | description |\n|---|---|---|---|\n")

	type sub struct {
		path, typeName, intro string
		v                     reflect.Value
		elems                 bool // a list of structs: v is the default list
	}
	var subs []sub
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := yamlName(f)
		if !ok {
			continue
		}
		p := join(path, name)
		doc := r.docs[t.Name()+"."+f.Name]
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			// A nested section: the field's own comment says what this
			// use of the type is for; else the type's comment.
			subs = append(subs, sub{p, f.Type.Name(), doc, fv, false})
			continue
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			ep := p + "[]"
			r.row(p, "list of objects (see `"+ep+"`)", fmt.Sprintf("%d entries (below)", fv.Len()), doc)
			subs = append(subs, sub{ep, f.Type.Elem().Name(), "", fv, true})
			continue
		}
		def := "—"
		if defaults {
			def = "`" + formatValue(fv) + "`"
		}
		r.row(p, typeOf(f.Type), def, doc)
	}
	for _, s := range subs {
		if !s.elems {
			r.section(s.path, s.typeName, s.intro, s.v, defaults)
			continue
		}
		// Element fields have no default of their own; the default list is
		// shown whole after the table.
		elem := reflect.New(s.v.Type().Elem()).Elem()
		r.section(s.path, s.typeName, "Each entry of `"+strings.TrimSuffix(s.path, "[]")+"`. "+r.docs[s.typeName], elem, false)
		r.defaultList(s.path, s.v)
	}
}

// defaultList writes the default entries of a list of structs as a table
// with one column per field.
func (r *refWriter) defaultList(path string, list reflect.Value) {
	et := list.Type().Elem()
	var names []string
	var idx []int
	for i := range et.NumField() {
		if n, ok := yamlName(et.Field(i)); ok {
			names = append(names, n)
			idx = append(idx, i)
		}
	}
	r.printf("\nDefault `%s`:\n\n| %s |\n|%s\n", strings.TrimSuffix(path, "[]"), strings.Join(names, " | "), strings.Repeat("---|", len(names)))
	for i := range list.Len() {
		cells := make([]string, len(idx))
		for j, k := range idx {
			cells[j] = "`" + formatValue(list.Index(i).Field(k)) + "`"
		}
		r.printf("| %s |\n", strings.Join(cells, " | "))
	}
}

func (r *refWriter) row(path, typ, def, doc string) {
	if doc == "" {
		doc = "—"
	}
	r.printf("| `%s` | %s | %s | %s |\n", path, typ, cell(def), cell(doc))
}

// yamlName returns the YAML key of a struct field, ok=false for fields the
// loader does not read from the file (yaml:"-", unexported).
func yamlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(f.Name), true
	}
	return name, true
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func typeOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Float64, reflect.Float32:
		return "number"
	case reflect.Slice:
		return "list of " + typeOf(t.Elem()) + "s"
	}
	return t.String()
}

// formatValue writes a value as it would appear in a YAML file: strings
// quoted, lists in flow style.
func formatValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			e := v.Index(i)
			if e.Kind() == reflect.String {
				// Flow-style YAML needs no quotes for these plain values;
				// quoting only what needs it keeps long lists readable.
				parts[i] = plainOrQuoted(e.String())
				continue
			}
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

func plainOrQuoted(s string) string {
	if s == "" || strings.ContainsAny(s, ",[]{}#&*!|>'\"%`") || strings.ContainsAny(s[:1], "@- ") || strings.Contains(s, ": ") {
		return strconv.Quote(s)
	}
	return s
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
