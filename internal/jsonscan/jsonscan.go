// Package jsonscan finds one top-level field of a JSON object without
// decoding the rest: the engine reads a single numeric prop (the revenue of
// a purchase) on the hot path, where unmarshalling the whole props object
// into a map would cost more than stitching the event.
package jsonscan

// Field returns the raw value of the top-level field key of the JSON object
// obj, or nil when obj is not an object or has no such field. The key is
// compared with the raw (still escaped) field name, which is exact for the
// plain names configuration allows. Malformed input gives nil, never a
// panic.
func Field(obj []byte, key string) []byte {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return nil
		}
		nameEnd := skipString(obj, i)
		if nameEnd < 0 {
			return nil
		}
		name := obj[i+1 : nameEnd-1]
		i = skipSpace(obj, nameEnd)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		i = skipSpace(obj, i+1)
		end := skipValue(obj, i, 0)
		if end < 0 {
			return nil
		}
		if string(name) == key {
			return obj[i:end]
		}
		i = skipSpace(obj, end)
		if i >= len(obj) {
			return nil
		}
		switch obj[i] {
		case ',':
			i++
		default:
			return nil
		}
	}
}

const maxDepth = 1000

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"', or
// -1 when it does not end.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1.
func skipValue(b []byte, i, depth int) int {
	if i >= len(b) || depth > maxDepth {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		closing := byte('}')
		if b[i] == '[' {
			closing = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1
		}
		for {
			if closing == '}' {
				if i >= len(b) || b[i] != '"' {
					return -1
				}
				if i = skipString(b, i); i < 0 {
					return -1
				}
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return -1
				}
				i = skipSpace(b, i+1)
			}
			if i = skipValue(b, i, depth+1); i < 0 {
				return -1
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1
			}
			if b[i] == closing {
				return i + 1
			}
			if b[i] != ',' {
				return -1
			}
			i = skipSpace(b, i+1)
		}
	default: // number, true, false, null
		start := i
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
}
