package codec

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// decodeFlatJSON decodes the common sensor payload, a JSON object whose
// values are numbers, strings without escapes, true, false or null, into
// what encoding/json would make of it (numbers as float64; a repeated key
// keeps its last value). ok is false for anything else — nesting, escapes,
// invalid UTF-8, a number out of float64's range, any syntax error — and the
// caller then decodes with encoding/json, which also words the error. The
// fast path is why the json decoder costs a fraction of encoding/json's
// reflection-driven Unmarshal at tens of thousands of readings a second.
// The fields go into into (empty), or a new map when it is nil; on failure
// into may hold some of them.
func decodeFlatJSON(p []byte, into map[string]any) (fields map[string]any, ok bool) {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return nil, false
	}
	fields = into
	if fields == nil {
		fields = make(map[string]any, 4)
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return fields, skipSpace(p, i+1) == len(p)
	}
	for {
		kb, next, ok := plainString(p, i)
		if !ok {
			return nil, false
		}
		i = skipSpace(p, next)
		if i >= len(p) || p[i] != ':' {
			return nil, false
		}
		i = skipSpace(p, i+1)
		var v any
		if v, i, ok = flatValue(p, i); !ok {
			return nil, false
		}
		fields[internKey(kb)] = v
		i = skipSpace(p, i)
		if i >= len(p) {
			return nil, false
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case '}':
			return fields, skipSpace(p, i+1) == len(p)
		default:
			return nil, false
		}
	}
}

// flatValue reads the scalar at p[i:], returning it and the index after it.
func flatValue(p []byte, i int) (any, int, bool) {
	if i >= len(p) {
		return nil, i, false
	}
	switch c := p[i]; {
	case c == '"':
		s, next, ok := plainString(p, i)
		if !ok {
			return nil, i, false
		}
		return internValue(s), next, true
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok := numberEnd(p, i)
		if !ok {
			return nil, i, false
		}
		f, err := strconv.ParseFloat(string(p[i:end]), 64) // no allocation: the conversion does not escape
		return f, end, err == nil
	case hasWord(p, i, "true"):
		return true, i + 4, true
	case hasWord(p, i, "false"):
		return false, i + 5, true
	case hasWord(p, i, "null"):
		return nil, i + 4, true
	}
	return nil, i, false
}

// plainString returns the contents of the string starting at p[i] (a
// quote) and the index after its closing quote. It refuses escapes, control
// characters and invalid UTF-8, which encoding/json rewrites or rejects.
func plainString(p []byte, i int) ([]byte, int, bool) {
	if i >= len(p) || p[i] != '"' {
		return nil, i, false
	}
	ascii := true
	for j := i + 1; j < len(p); j++ {
		switch c := p[j]; {
		case c == '"':
			s := p[i+1 : j]
			return s, j + 1, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, i, false
}

// numberEnd returns the end of the JSON number at p[i:]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(p []byte, i int) (int, bool) {
	if p[i] == '-' {
		i++
	}
	switch {
	case i < len(p) && p[i] == '0':
		i++
	case i < len(p) && p[i] >= '1' && p[i] <= '9':
		i = digits(p, i)
	default:
		return i, false
	}
	if i < len(p) && p[i] == '.' {
		j := digits(p, i+1)
		if j == i+1 {
			return i, false
		}
		i = j
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		j := digits(p, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

func digits(p []byte, i int) int {
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	return i
}

func hasWord(p []byte, i int, w string) bool {
	return len(p)-i >= len(w) && string(p[i:i+len(w)]) == w
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// maxInterned bounds the field names internKey keeps: payloads of a stream
// repeat a handful of names, and a stream of ever new names must not grow
// the table without end.
const maxInterned = 256

var (
	interned   atomic.Pointer[map[string]string]
	internedMu sync.Mutex // serialises the copy-on-write updates
)

// internKey returns b as a string, shared with earlier payloads that had
// the same field name, so that a reading's names cost no allocation. The
// table is read without a lock and replaced, copied, when a name is added.
func internKey(b []byte) string {
	if t := interned.Load(); t != nil {
		if s, ok := (*t)[string(b)]; ok {
			return s
		}
	}
	s := string(b)
	internedMu.Lock()
	defer internedMu.Unlock()
	old := interned.Load()
	if old != nil && len(*old) >= maxInterned {
		return s
	}
	t := map[string]string{}
	if old != nil {
		t = maps.Clone(*old)
	}
	t[s] = s
	interned.Store(&t)
	return s
}
