package config

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the config structs and their comments")

const referenceFile = "../../docs/configuration.md"

// sourceDocs extracts the doc comments of the struct types of this
// package's source, and of their fields (the comment above a field and the
// one after it on its line), keyed as FieldDocs expects.
func sourceDocs(t *testing.T) FieldDocs {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs := FieldDocs{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				docs[ts.Name.Name] = text(doc)
				for _, fld := range st.Fields.List {
					d := strings.TrimSpace(text(fld.Doc) + " " + text(fld.Comment))
					for _, n := range fld.Names {
						docs[ts.Name.Name+"."+n.Name] = d
					}
				}
			}
		}
	}
	if len(docs) == 0 {
		t.Fatal("no struct types found in the package's source")
	}
	return docs
}

func text(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

// TestReference keeps docs/configuration.md equal to what Reference renders
// from the structs, Default() and the comments in config.go.
func TestReference(t *testing.T) {
	got := Reference(sourceDocs(t))
	if *update {
		if err := os.WriteFile(referenceFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatalf("%v\nrun: go test ./internal/config -run TestReference -update", err)
	}
	if string(want) != got {
		t.Fatalf("docs/configuration.md is out of date with internal/config (first difference at line %d)\n"+
			"run: go test ./internal/config -run TestReference -update", firstDiffLine(string(want), got))
	}
}

func firstDiffLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

// TestReferenceNamesEveryField checks that every field the loader reads
// from a file has a row, under its YAML path.
func TestReferenceNamesEveryField(t *testing.T) {
	ref := Reference(nil)
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, ok := yamlName(f)
			if !ok {
				continue
			}
			p := join(path, name)
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(p, f.Type)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				if !strings.Contains(ref, "| `"+p+"` |") {
					t.Errorf("no row for %s", p)
				}
				walk(p+"[]", f.Type.Elem())
			default:
				if !strings.Contains(ref, "| `"+p+"` |") {
					t.Errorf("no row for %s", p)
				}
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	walk("", reflect.TypeFor[Identity]())
	// The identity file is a section of its own, not a field of the main file.
	if strings.Contains(ref, "`identity.") {
		t.Error("the identity rules appear under a path of the main file")
	}
}

// A field comment that states a default must agree with Default(): the
// comment is what a reader of config.go trusts.
var defaultInComment = regexp.MustCompile(`(?:^|[;,] )default (.+?)(?:;|$)`)

func TestFieldCommentDefaultsMatchDefault(t *testing.T) {
	docs := sourceDocs(t)
	def := Default()
	checked := 0
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		typ := v.Type()
		for i := range typ.NumField() {
			f := typ.Field(i)
			if _, ok := yamlName(f); !ok && f.Name != "Identity" {
				continue
			}
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct {
				walk(fv)
				continue
			}
			m := defaultInComment.FindStringSubmatch(docs[typ.Name()+"."+f.Name])
			if m == nil {
				continue
			}
			said := strings.TrimSpace(regexp.MustCompile(`\s*\(.*\)$`).ReplaceAllString(m[1], ""))
			if got := formatValue(fv); got != said {
				t.Errorf("%s.%s: the comment says default %s, Default() has %s", typ.Name(), f.Name, said, got)
			}
			checked++
		}
	}
	walk(reflect.ValueOf(*def))
	if checked < 10 {
		t.Errorf("only %d comments with a default found; is the pattern still right?", checked)
	}
}

func TestFormatValue(t *testing.T) {
	f := func(in any, want string) {
		t.Helper()
		if got := formatValue(reflect.ValueOf(in)); got != want {
			t.Errorf("formatValue(%#v) = %s, want %s", in, got, want)
		}
	}
	f("", `""`)
	f("data/state", `"data/state"`)
	f(100000, "100000")
	f(false, "false")
	f([]string{}, "[]")
	f([]string{"web", "store"}, "[web, store]")
	f([]string{"127.0.0.1:9092", "test@test.com"}, "[127.0.0.1:9092, test@test.com]")
	f([]string{"", "-", "a, b", "n/a", "[object object]"}, `["", "-", "a, b", n/a, "[object object]"]`)
}
