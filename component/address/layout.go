package address

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// FormatHelp documents the time formats NewLayout takes.
const FormatHelp = "How times are written: `auto` (RFC 3339, `2006-01-02 15:04:05` with a T or " +
	"fractional seconds, or Unix seconds, or milliseconds when the number is that large), `unix`, " +
	"`unix_ms`, or a Go time layout. Times without a zone are UTC."

// Layout parses a field value (text, or a number for the Unix formats) as
// a time.
type Layout func(v any) (time.Time, error)

var autoLayouts = []string{
	time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04", "2006-01-02",
}

// NewLayout returns the parser of a time format: auto, unix, unix_ms or a
// Go time layout.
func NewLayout(format string) (Layout, error) {
	switch format {
	case "unix":
		return func(v any) (time.Time, error) { return unixValue(v, time.Second) }, nil
	case "unix_ms":
		return func(v any) (time.Time, error) { return unixValue(v, time.Millisecond) }, nil
	case "auto":
		var last atomic.Int32 // the layout that worked last: sources are consistent
		return func(v any) (time.Time, error) {
			s, isText := v.(string)
			if !isText {
				return autoNumber(v)
			}
			s = strings.TrimSpace(s)
			l := int(last.Load())
			if t, err := time.Parse(autoLayouts[l], s); err == nil {
				return t, nil
			}
			for i, l := range autoLayouts {
				if t, err := time.Parse(l, s); err == nil {
					last.Store(int32(i))
					return t, nil
				}
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return autoNumber(f)
			}
			return time.Time{}, fmt.Errorf("cannot parse time %q", s)
		}, nil
	case "":
		return nil, fmt.Errorf("empty time format")
	}
	// Text with no layout elements formats to itself; a layout must also
	// read back what it writes. (Not the layout's own reference time,
	// 2006-01-02 15:04:05, which every layout formats to itself.)
	ref := time.Date(2009, 11, 13, 21, 31, 7, 0, time.UTC)
	if out := ref.Format(format); out == format {
		return nil, fmt.Errorf("%q is not auto, unix, unix_ms or a Go time layout such as 2006-01-02 15:04:05", format)
	} else if _, err := time.Parse(format, out); err != nil {
		return nil, fmt.Errorf("%q is not auto, unix, unix_ms or a Go time layout", format)
	}
	return func(v any) (time.Time, error) {
		s, ok := v.(string)
		if !ok {
			return time.Time{}, fmt.Errorf("want text in the layout %q, got %T", format, v)
		}
		return time.Parse(format, strings.TrimSpace(s))
	}, nil
}

// autoNumber reads Unix seconds, or milliseconds when the number is too
// large for seconds (1e11 s is the year 5138).
func autoNumber(v any) (time.Time, error) {
	f, err := number(v)
	if err != nil {
		return time.Time{}, err
	}
	if f > 1e11 || f < -1e11 {
		return unixValue(f, time.Millisecond)
	}
	return unixValue(f, time.Second)
}

// unixValue reads a number, or number text, of units since the Unix epoch.
func unixValue(v any, unit time.Duration) (time.Time, error) {
	f, err := number(v)
	if err != nil {
		return time.Time{}, err
	}
	whole, frac := math.Modf(f)
	if unit == time.Millisecond {
		return time.UnixMilli(int64(whole)).Add(time.Duration(frac * 1e6)).UTC(), nil
	}
	return time.Unix(int64(whole), int64(frac*1e9)).UTC(), nil
}

func number(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, fmt.Errorf("cannot parse Unix time %q", x)
		}
	default:
		return 0, fmt.Errorf("want a time as text or a number, got %T", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e17 {
		return 0, fmt.Errorf("%v is not a finite Unix time", f)
	}
	return f, nil
}
