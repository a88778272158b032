// Package normalize turns raw identifier values from events into the normalised values the
// identity graph matches on, or says why a value must not be matched (SPEC "Identity rules"):
// e-mails are trimmed and lower-cased, phones become E.164 in a configured default region, every
// other type is trimmed; junk and blocklisted values never link anything.
//
// A Normalizer is immutable after New apart from its internally locked phone cache, so one
// instance is shared by all pipeline goroutines.
package normalize

import (
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
)

// Kind says how values of an identifier type are normalised.
type Kind uint8

const (
	Plain Kind = iota // trimmed only
	Email             // trimmed, lower-cased, must look like local@domain
	Phone             // parsed to E.164 with the default region
)

// ParseKind maps "plain", "email", "phone" (and "" → Plain) to a Kind; error otherwise.
// Matching is exact (lower case), like the rest of the configuration vocabulary.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "", "plain":
		return Plain, nil
	case "email":
		return Email, nil
	case "phone":
		return Phone, nil
	}
	return 0, fmt.Errorf("normalize: unknown kind %q (want plain, email or phone)", s)
}

// Result says whether a value is usable for matching.
type Result uint8

const (
	OK          Result = iota
	Junk               // empty or a known junk value (null, unknown, 0000, …)
	Blocked            // on the type's blocklist
	Invalid            // not a valid value of its kind (e-mail without '@', phone that is not a possible number)
	UnknownType        // the identifier type is not configured
)

// String returns the lower-case name used in metrics labels and dead-letter reasons.
func (r Result) String() string {
	switch r {
	case OK:
		return "ok"
	case Junk:
		return "junk"
	case Blocked:
		return "blocked"
	case Invalid:
		return "invalid"
	case UnknownType:
		return "unknown_type"
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}

// Limits on value sizes. They bound the memory a single hostile identifier can cost
// (lower-casing copies the value, the graph stores it) and keep the phone parser, which is
// regular-expression heavy, away from inputs no real phone number has.
const (
	maxValueLen           = 512 // bytes, plain and e-mail values after trimming
	maxPhoneLen           = 64  // bytes, phone values after trimming
	defaultPhoneCacheSize = 65536
)

// TypeOptions configures one identifier type.
type TypeOptions struct {
	Kind Kind
	// Blocklist holds values that must never link anything for this type (e.g. a shop's own
	// test address). Entries are normalised with the type's Kind at New time, so
	// "Test@Test.com " blocks "test@test.com". An entry that is junk anyway is ignored; an entry
	// that is not a valid value of the kind is a configuration error.
	Blocklist []string
}

// Options configures a Normalizer. The zero value is valid and knows no identifier types.
type Options struct {
	// DefaultRegion is the ISO 3166-1 alpha-2 region ("DE") national phone numbers are read in.
	// Required when any type has Kind Phone. Case-insensitive.
	DefaultRegion string
	// ExtraJunk lists junk values on top of the built-in ones (see IsJunk). Entries and values
	// are trimmed and compared case-insensitively with Unicode simple folding, exactly as
	// strings.EqualFold does.
	ExtraJunk []string
	// Types is keyed by identifier type name ("email", "cookie", …). Normalize reports
	// UnknownType for any other name.
	Types map[string]TypeOptions
	// PhoneCacheSize is the number of entries in the LRU of folded phone spelling → result
	// (a number takes one per folding it was seen in, and one for its E.164 form).
	// 0 means 65536 (about 10 MB at typical value sizes).
	PhoneCacheSize int
}

// Normalizer normalises identifier values. It is safe for concurrent use.
type Normalizer struct {
	types  map[string]typeRules
	region string // upper-case, validated against phonenumbers' metadata
	idd    string // the region's international dialling prefix ("00"), when it is a fixed digit string

	// Extra junk is looked up by fold key (see foldKey). Computing the key costs about as
	// much as the rest of Normalize, so two exact pre-filters skip it for almost every real
	// value: extraLens[l] says whether some entry has a fold-equal spelling of l bytes, and
	// extraFirst[b] whether one starts with byte b.
	extraJunk     map[string]struct{}
	extraLens     []bool
	extraFirst    [256]bool
	extraMaxRunes int

	// phones caches parsePhone by folded spelling (appendPhoneKey); nil when no type has Kind
	// Phone. The cache locks internally. Keys are fresh strings, so a cached key never pins
	// the (possibly large) buffer the raw value was sliced from.
	phones *lru.Cache[string, phoneResult]
}

type typeRules struct {
	kind    Kind
	blocked map[string]struct{} // normalised entries; nil when empty
}

type phoneResult struct {
	value string
	res   Result
}

// New validates the options (unknown region → error naming it) and builds a Normalizer.
func New(o Options) (*Normalizer, error) {
	n := &Normalizer{types: make(map[string]typeRules, len(o.Types))}

	if o.PhoneCacheSize < 0 {
		return nil, fmt.Errorf("normalize: PhoneCacheSize %d is negative", o.PhoneCacheSize)
	}
	if o.DefaultRegion != "" {
		region := strings.ToUpper(strings.TrimSpace(o.DefaultRegion))
		if !phonenumbers.GetSupportedRegions()[region] {
			return nil, fmt.Errorf("normalize: unknown DefaultRegion %q (want an ISO 3166-1 alpha-2 code such as \"DE\")", o.DefaultRegion)
		}
		n.region = region
		n.idd = internationalPrefix(region)
	}

	for _, e := range o.ExtraJunk {
		n.addExtraJunk(strings.TrimSpace(e))
	}

	// Sorted so that the first configuration error reported does not depend on map order.
	for _, name := range slices.Sorted(maps.Keys(o.Types)) {
		to := o.Types[name]
		if to.Kind > Phone {
			return nil, fmt.Errorf("normalize: type %q: unknown kind %d", name, to.Kind)
		}
		if to.Kind == Phone && n.phones == nil {
			if n.region == "" {
				return nil, fmt.Errorf("normalize: type %q has kind phone but DefaultRegion is empty", name)
			}
			size := o.PhoneCacheSize
			if size == 0 {
				size = defaultPhoneCacheSize
			}
			c, err := lru.New[string, phoneResult](size)
			if err != nil {
				return nil, fmt.Errorf("normalize: phone cache: %w", err)
			}
			n.phones = c
		}
		tr := typeRules{kind: to.Kind}
		for _, b := range to.Blocklist {
			v, res := n.normalizeKind(to.Kind, b)
			switch res {
			case OK:
				if tr.blocked == nil {
					tr.blocked = make(map[string]struct{}, len(to.Blocklist))
				}
				tr.blocked[v] = struct{}{}
			case Junk:
				// Never matched anyway.
			default:
				return nil, fmt.Errorf("normalize: type %q: blocklist entry %q is %s for kind %s", name, b, res, kindName(to.Kind))
			}
		}
		n.types[name] = tr
	}
	return n, nil
}

func kindName(k Kind) string {
	switch k {
	case Plain:
		return "plain"
	case Email:
		return "email"
	case Phone:
		return "phone"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Normalize returns the normalised value and OK, or "" and the reason it is unusable.
// Safe for concurrent use. Never panics on any input (invalid UTF-8, NUL bytes, huge strings).
//
// It does not allocate for plain values, for junk values, or for phone values already in the
// cache; e-mails allocate only when they contain upper case.
func (n *Normalizer) Normalize(idType, raw string) (string, Result) {
	t, ok := n.types[idType]
	if !ok {
		return "", UnknownType
	}
	v, res := n.normalizeKind(t.kind, raw)
	if res != OK {
		return "", res
	}
	if _, blocked := t.blocked[v]; blocked {
		return "", Blocked
	}
	return v, OK
}

// normalizeKind applies everything but the blocklist, which New needs for the blocklist
// entries themselves.
func (n *Normalizer) normalizeKind(kind Kind, raw string) (string, Result) {
	v := strings.TrimSpace(raw)
	if n.isJunk(v) {
		return "", Junk
	}
	switch kind {
	case Plain:
		if len(v) > maxValueLen || strings.IndexByte(v, 0) >= 0 {
			return "", Invalid
		}
		return v, OK
	case Email:
		out, res := normalizeEmail(v)
		// Lower-casing can turn a value into junk ("İNFO@…" does not fold-equal an extra junk
		// "info@…", but lower-cases to it). Checking the output too keeps Normalize idempotent:
		// an OK output normalises to itself. Phones do the same inside their cache.
		if res == OK && out != v && n.isJunk(out) {
			return "", Junk
		}
		return out, res
	case Phone:
		return n.normalizePhone(v)
	}
	return "", Invalid
}

// normalizeEmail checks the local@domain shape and lower-cases. Invalid UTF-8 is rejected
// rather than passed on: strings.ToLower would replace each bad byte with U+FFFD and so
// merge addresses that differ only in their bad bytes.
//
// The spellings source systems export for one address become that address: a mailto: link
// ("mailto:anna@x.de?subject=…"), a name and address ("Anna Muster <anna@x.de>", as mail
// headers and many CRMs write them), a quoted local part that needs no quotes
// ("\"anna\"@x.de", parsed by net/mail) and the root dot of a fully qualified domain
// ("anna@x.de."). Provider rules (Gmail's dots and +tags) are left alone: they hold for some
// domains only.
func normalizeEmail(v string) (string, Result) {
	if len(v) > maxValueLen || strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
		return "", Invalid
	}
	if len(v) > 7 && strings.EqualFold(v[:7], "mailto:") {
		for len(v) > 7 && strings.EqualFold(v[:7], "mailto:") {
			v = v[7:]
		}
		if q := strings.IndexByte(v, '?'); q >= 0 {
			v = v[:q]
		}
	}
	v = trimRootDot(v)
	if strings.ContainsAny(v, "<\"(") {
		if a, err := mail.ParseAddress(v); err == nil {
			// The address alone, its local part quoted only where it must be.
			v = (&mail.Address{Address: a.Address}).String()
			v = trimRootDot(v[1 : len(v)-1])
		}
	}
	at := strings.IndexByte(v, '@')
	if at <= 0 {
		return "", Invalid
	}
	domain := v[at+1:]
	if domain == "" || strings.IndexByte(domain, '@') >= 0 || hasSpace(domain) {
		return "", Invalid
	}
	// A domain without a dot ("user@localhost", "0@0") or with a one-letter top level
	// ("x@x.x") reaches no mailbox on the internet: such values are typed to fill a field.
	// Letters, not bytes, are counted: lower-casing may change the bytes, never the count.
	if dot := strings.LastIndexByte(domain, '.'); dot < 0 || utf8.RuneCountInString(domain[dot+1:]) < 2 {
		return "", Invalid
	}
	if placeholderLocal(v[:at]) {
		return "", Junk
	}
	// No rune lower-cases to '@', a space or a dot, so the checks above hold for the output.
	out := strings.ToLower(v)
	if at = strings.IndexByte(out, '@'); needsIDNA(out[at+1:]) {
		out = out[:at+1] + unicodeDomain(out[at+1:], maxValueLen-at-1)
	}
	return out, OK
}

// needsIDNA reports whether a lower-cased domain has a label that IDNA may spell otherwise:
// a non-ASCII letter, or an ASCII-compatible ("xn--") label.
func needsIDNA(d string) bool {
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			return true
		}
	}
	return strings.Contains(d, "xn--")
}

// unicodeDomain is an internationalised domain in the one spelling it is matched by: its
// Unicode form as IDNA's lookup mapping gives it, so that "anna@müller.de",
// "anna@xn--mller-kva.de" and "anna@MÜLLER.de" are one address (ESP webhooks and mail
// headers report the ASCII form, forms and CRMs what was typed). A domain IDNA rejects, or
// whose Unicode form would fail the shape checks of normalizeEmail or be longer than room
// bytes, stays as it is, so that normalising again gives the same value.
func unicodeDomain(d string, room int) string {
	u, err := idna.Lookup.ToUnicode(d)
	if err != nil || u == d || u == "" || len(u) > room || !utf8.ValidString(u) || strings.ContainsAny(u, "@\x00") || hasSpace(u) {
		return d
	}
	if dot := strings.LastIndexByte(u, '.'); dot < 0 || utf8.RuneCountInString(u[dot+1:]) < 2 || strings.ToLower(u) != u {
		return d
	}
	return u
}

// placeholderLocal reports whether an e-mail's local part is one typed when there is no
// address to give: "none@none.com", "keine@email.de", "noreply@shop.de". Such a value is
// shared by everyone who had none, so it must link nobody, whatever its domain.
func placeholderLocal(l string) bool {
	if len(l) > 16 {
		return false
	}
	if isBuiltinJunk(l) {
		return true
	}
	var buf [16]byte
	k := buf[:0]
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case 'A' <= c && c <= 'Z':
			k = append(k, c+'a'-'A')
		case c == '-' || c == '_' || c == '.':
			// "no-email", "no_email" and "no.email" are one word
		default:
			k = append(k, c)
		}
	}
	switch string(k) {
	case "noemail", "nomail", "noreply", "donotreply", "dontreply", "nobody", "dummy", "fake",
		"keine", "kein", "keinemail", "keineemail", "keinmail", "unbekannt", "ohne", "nichts":
		return true
	}
	return false
}

// trimRootDot drops the root dot of a fully qualified domain ("x.de." → "x.de"), one only.
func trimRootDot(v string) string {
	if n := len(v); n > 1 && v[n-1] == '.' && v[n-2] != '.' && v[n-2] != '@' {
		return v[:n-1]
	}
	return v
}

// hasSpace is strings.IndexFunc(s, unicode.IsSpace) >= 0 without a function call per ASCII
// byte. s is valid UTF-8.
func hasSpace(s string) bool {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c == ' ' || ('\t' <= c && c <= '\r') {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			return true
		}
		i += size
	}
	return false
}

// isJunk applies the built-in rules and Options.ExtraJunk to a trimmed value.
func (n *Normalizer) isJunk(v string) bool {
	return isBuiltinJunk(v) || n.isExtraJunk(v)
}

func (n *Normalizer) isExtraJunk(v string) bool {
	if len(v) == 0 || len(v) >= len(n.extraLens) || !n.extraLens[len(v)] || !n.extraFirst[v[0]] {
		return false
	}
	var buf [64]byte
	key, ok := foldKey(buf[:0], v, n.extraMaxRunes)
	if !ok {
		return false
	}
	_, junk := n.extraJunk[string(key)]
	return junk
}

// addExtraJunk records a trimmed entry and widens the pre-filters of isExtraJunk to every
// spelling strings.EqualFold would accept for it.
func (n *Normalizer) addExtraJunk(e string) {
	if isBuiltinJunk(e) {
		return // empty, or junk anyway
	}
	if n.extraJunk == nil {
		n.extraJunk = make(map[string]struct{})
	}
	runes := utf8.RuneCountInString(e)
	key, _ := foldKey(nil, e, runes)
	n.extraJunk[string(key)] = struct{}{}
	n.extraMaxRunes = max(n.extraMaxRunes, runes)

	lo, hi := 0, 0
	first := true
	for _, r := range e {
		rlo, rhi := 4, 1
		for f := r; ; {
			var enc [utf8.UTFMax]byte
			l := utf8.EncodeRune(enc[:], f)
			rlo, rhi = min(rlo, l), max(rhi, l)
			if first {
				n.extraFirst[enc[0]] = true
			}
			if f = unicode.SimpleFold(f); f == r {
				break
			}
		}
		if r == utf8.RuneError {
			// EqualFold reads any invalid byte of the value as U+FFFD, so an entry holding
			// U+FFFD (or an invalid byte) also matches a single stray byte at that position.
			rlo = 1
			if first {
				for b := 0x80; b < 0x100; b++ {
					n.extraFirst[b] = true
				}
			}
		}
		lo, hi = lo+rlo, hi+rhi
		first = false
	}
	if hi >= len(n.extraLens) {
		n.extraLens = append(n.extraLens, make([]bool, hi+1-len(n.extraLens))...)
	}
	for l := lo; l <= hi; l++ {
		n.extraLens[l] = true
	}
}
