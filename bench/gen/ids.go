package gen

import (
	"math/bits"
	"strconv"
)

// Identifier values are derived from per-namespace counters through bijections (a 64-bit mixer
// or an affine permutation of a decimal range), so two allocations never produce the same value
// and no set of used values has to be kept: memory stays O(persons) however long the stream is.

type idType uint8

const (
	idCookie idType = iota
	idDevice
	idUser
	idEmail
	idPhone
	idLoyalty
	idCRM
	numIDTypes
)

var idTypeName = [numIDTypes]string{"cookie", "device", "user", "email", "phone", "loyalty", "crm"}

// idRef names one of a person's identifier values: type plus index into that person's values of
// the type (always 0 for the single-valued crm, user and loyalty).
type idRef struct {
	t idType
	i uint8
}

const (
	nsCookie = iota
	nsDevice
	nsUser
	nsLoyalty
	nsCRM
	nsEmail
	nsWebEvent
	nsESPEvent
	numNamespaces
)

type idAlloc struct {
	key [numNamespaces]uint64
	n   [numNamespaces]uint64
	// phone counters per area code and subscriber length (7 or 8 digits)
	phone [len(phoneAreas)][2]uint64
}

func newIDAlloc(seed uint64) idAlloc {
	var a idAlloc
	for i := range a.key {
		a.key[i] = mix64(seed ^ (0xa0761d6478bd642f * uint64(i+1)))
	}
	return a
}

func (a *idAlloc) next(ns int) uint64 {
	v := a.n[ns]
	a.n[ns]++
	return v
}

// hex64 returns a unique, random-looking 64-bit value for the namespace (cookie, device, event ids).
func (a *idAlloc) hex64(ns int) uint64 { return mix64(a.next(ns) + a.key[ns]) }

// digits returns a unique decimal number with at least width digits (no leading zero).
func (a *idAlloc) digits(ns, width int) uint64 { return permDigits(a.next(ns), width, a.key[ns]) }

// mix64 is the splitmix64 finaliser; it is a bijection on uint64, which is what makes the
// counter-derived values unique.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// permMul is odd, not divisible by 3 or 5, so it is coprime with every 9*10^k and the affine map
// below is a permutation of [0, 9*10^k).
const permMul = 2654435761

// affine maps n in [0,N) to (n*m + key) mod N, a permutation of [0,N) when gcd(m,N)=1.
func affine(n, N, key uint64) uint64 {
	hi, lo := bits.Mul64(n, permMul%N)
	x := bits.Rem64(hi, lo, N)
	return (x + key%N) % N
}

// permDigits maps counter n to a unique number: the first 9*10^(width-1) counters get the
// width-digit numbers in shuffled order, the next ones width+1 digits, and so on.
func permDigits(n uint64, width int, key uint64) uint64 {
	lo := uint64(1)
	for range width - 1 {
		lo *= 10
	}
	for {
		cnt := 9 * lo
		if n < cnt {
			return lo + affine(n, cnt, key)
		}
		n -= cnt
		lo *= 10
	}
}

const hexDigits = "0123456789abcdef"

func appendHex16(b []byte, v uint64) []byte {
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hexDigits[(v>>uint(s))&15])
	}
	return b
}

// appendPadded appends v in decimal, left-padded with zeros to at least width digits.
func appendPadded(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendUint(tmp[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// German numbers, default country DE. The area codes are prefix-free (no code is the start of
// another), so distinct (area, subscriber) pairs never normalise to the same E.164 number.
var phoneAreas = [...]struct {
	code   string
	weight float64
}{
	{"30", 0.26},  // Berlin
	{"89", 0.18},  // Munich
	{"40", 0.10},  // Hamburg
	{"151", 0.16}, // mobile
	{"160", 0.14}, // mobile
	{"170", 0.16}, // mobile
}

type phoneNum struct {
	area uint8
	sub  uint32
}

// newPhone allocates a unique German number with a 7- or 8-digit subscriber part. 9 million
// 7-digit numbers per area; past that the 8-digit range (90 million per area) takes over.
func (a *idAlloc) newPhone(area int, eight bool) phoneNum {
	c := &a.phone[area]
	key := a.key[nsUser] ^ uint64(area)*0x9e3779b97f4a7c15
	if !eight && c[0] < 9_000_000 {
		v := 1_000_000 + affine(c[0], 9_000_000, key)
		c[0]++
		return phoneNum{uint8(area), uint32(v)}
	}
	v := 10_000_000 + affine(c[1], 90_000_000, key>>7)
	c[1]++
	return phoneNum{uint8(area), uint32(v)}
}

// Phone layouts seen in the source systems. A correct normaliser (default country 49) maps all of
// them to +49<area><subscriber>.
var phoneFormats = [...]func(b []byte, area string, sub []byte) []byte{
	func(b []byte, a string, s []byte) []byte {
		return append(append(append(append(b, "+49 "...), a...), ' '), s...)
	},
	func(b []byte, a string, s []byte) []byte {
		return append(append(append(append(b, "0049 "...), a...), ' '), s...)
	},
	func(b []byte, a string, s []byte) []byte {
		return append(append(append(append(b, '0'), a...), ' '), s...)
	},
	func(b []byte, a string, s []byte) []byte {
		return append(append(append(append(b, "(0"...), a...), ") "...), s...)
	},
	func(b []byte, a string, s []byte) []byte {
		return append(append(append(append(b, "+49-"...), a...), '-'), s...)
	},
	func(b []byte, a string, s []byte) []byte {
		return append(append(append(append(b, "+49 (0)"...), a...), ' '), s...)
	},
	func(b []byte, a string, s []byte) []byte { return append(append(append(b, "+49"...), a...), s...) },
}

func appendPhone(b []byte, p phoneNum, format int) []byte {
	var tmp [12]byte
	sub := strconv.AppendUint(tmp[:0], uint64(p.sub), 10)
	return phoneFormats[format](b, phoneAreas[p.area].code, sub)
}

var firstNames = [...]string{
	"anna", "lena", "marie", "sophie", "laura", "julia", "lea", "hannah", "emma", "mia", "sarah",
	"lisa", "katharina", "johanna", "clara", "paula", "sabine", "petra", "claudia", "elif", "ayse",
	"lukas", "leon", "finn", "jonas", "paul", "felix", "max", "elias", "noah", "ben", "tim", "jan",
	"david", "niklas", "tobias", "florian", "moritz", "stefan", "thomas", "michael", "mehmet",
}

var lastNames = [...]string{
	"mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "schulz",
	"hoffmann", "schaefer", "koch", "bauer", "richter", "klein", "wolf", "schroeder", "neumann",
	"schwarz", "zimmermann", "braun", "krueger", "hartmann", "lange", "werner", "krause", "lehmann",
	"yilmaz", "kaya", "nowak", "kowalski", "rossi",
}

var emailDomains = [...]string{"example.org", "example.com", "example.net"}

// emailAddr is stored compactly; the canonical (normalised) form is first.last<n>@domain, unique
// because n comes from a global counter.
type emailAddr struct {
	n      uint64
	domain uint8
}

func appendEmail(b []byte, first, last string, e emailAddr) []byte {
	b = append(b, first...)
	b = append(b, '.')
	b = append(b, last...)
	b = strconv.AppendUint(b, e.n, 10)
	b = append(b, '@')
	return append(b, emailDomains[e.domain]...)
}

// Junk identifier values per SPEC ("Junk values never link anything"); test@test.com is on the
// default e-mail blocklist. Each is junk by the SPEC rules after trimming and lower-casing.
var junkIDs = [...]struct{ t, v string }{
	{"email", "null"}, {"email", "test@test.com"}, {"email", "undefined"}, {"email", "N/A"},
	{"phone", "0000000"}, {"phone", "-"}, {"phone", "00-00-00"},
	{"loyalty", "unknown"}, {"loyalty", "0"},
	{"cookie", "undefined"}, {"cookie", "null"},
	{"crm", "-1"}, {"crm", "NaN"},
	{"user", "anonymous"}, {"user", "guest"},
	{"device", "[object Object]"}, {"device", "nil"},
}
