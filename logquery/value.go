package logquery

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// kind is the type of a value during execution.
type kind uint8

const (
	kNull kind = iota
	kStr
	kInt
	kFloat
	kTime // i holds Unix nanoseconds, UTC
)

// value is one field value. It is a small struct rather than an any so that
// reading fields from millions of events does not allocate.
type value struct {
	k kind
	s string
	i int64
	f float64
}

var nullValue value

func strValue(s string) value    { return value{k: kStr, s: s} }
func intValue(i int64) value     { return value{k: kInt, i: i} }
func floatValue(f float64) value { return value{k: kFloat, f: f} }
func timeValue(ns int64) value   { return value{k: kTime, i: ns} }
func (v value) isNull() bool     { return v.k == kNull }
func timeOf(t time.Time) value {
	// The zero time means the store did not supply one; Unix nanoseconds
	// cover 1678 to 2262, which is every log event we will ever see.
	if t.IsZero() {
		return nullValue
	}
	return timeValue(t.UnixNano())
}

// toAny converts v to the type Result rows carry.
func (v value) toAny() any {
	switch v.k {
	case kStr:
		return v.s
	case kInt:
		return v.i
	case kFloat:
		return v.f
	case kTime:
		return time.Unix(0, v.i).UTC()
	}
	return nil
}

// timeLayout is how Insights displays timestamps.
const timeLayout = "2006-01-02 15:04:05.000"

// str returns the string form of v, used by like, in and string
// comparisons.
func (v value) str() string {
	switch v.k {
	case kStr:
		return v.s
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kFloat:
		return formatFloat(v.f)
	case kTime:
		return time.Unix(0, v.i).UTC().Format(timeLayout)
	}
	return ""
}

func formatFloat(f float64) string {
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// number is a numeric view of a value.
type number struct {
	isInt bool
	i     int64
	f     float64
}

// num reports v as a number: ints and floats are numbers, and so are
// strings that are entirely a decimal number, because Insights compares
// "500" and 500 numerically. Times are not numbers here; see cmpValues.
func (v value) num() (number, bool) {
	switch v.k {
	case kInt:
		return number{isInt: true, i: v.i, f: float64(v.i)}, true
	case kFloat:
		return number{f: v.f}, true
	case kStr:
		return parseNumber(v.s)
	}
	return number{}, false
}

// parseNumber parses s if it is a decimal number in JSON syntax (optional
// minus, digits, optional fraction and exponent; leading zeros allowed).
// Unlike strconv.ParseFloat it rejects "NaN", "Inf", hex and underscores,
// which are not numbers to a person reading a log.
func parseNumber(s string) (number, bool) {
	if !isNumberText(s) {
		return number{}, false
	}
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return number{isInt: true, i: i, f: float64(i)}, true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return number{}, false
	}
	return number{f: f}, true
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func isNumberText(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		es := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == es {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func cmpNumbers(a, b number) int {
	if a.isInt && b.isInt {
		return cmp3(a.i, b.i)
	}
	switch {
	case a.f < b.f:
		return -1
	case a.f > b.f:
		return 1
	case a.f == b.f:
		return 0
	}
	// NaN cannot come from a query or from JSON; order it first to stay total.
	return cmp3(boolInt(!math.IsNaN(a.f)), boolInt(!math.IsNaN(b.f)))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmp3[T int | int64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// timeLayouts are the forms a string may take to compare with a timestamp.
var timeLayouts = []string{time.RFC3339Nano, timeLayout, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

func parseTimeString(s string) (int64, bool) {
	if len(s) < 10 || !isDigit(s[0]) {
		return 0, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixNano(), true
		}
	}
	return 0, false
}

// cmpValues compares a and b for the filter operators. ok is false when the
// two cannot be compared: either is null, or a timestamp meets something
// that is neither a number (epoch milliseconds, as Insights stores
// @timestamp) nor a date string. Two numbers, or numeric strings, compare
// numerically; anything else compares as strings, byte by byte.
func cmpValues(a, b value) (c int, ok bool) {
	if a.k == kNull || b.k == kNull {
		return 0, false
	}
	if a.k == kTime || b.k == kTime {
		return cmpTime(a, b)
	}
	if na, ok := a.num(); ok {
		if nb, ok := b.num(); ok {
			return cmpNumbers(na, nb), true
		}
	}
	return strings.Compare(a.str(), b.str()), true
}

func cmpTime(a, b value) (int, bool) {
	if a.k == kTime && b.k == kTime {
		return cmp3(a.i, b.i), true
	}
	flip := 1
	if b.k == kTime {
		a, b = b, a
		flip = -1
	}
	if n, ok := b.num(); ok {
		ms := number{f: float64(a.i) / 1e6}
		if a.i%1e6 == 0 {
			ms = number{isInt: true, i: a.i / 1e6, f: ms.f}
		}
		return flip * cmpNumbers(ms, n), true
	}
	if b.k == kStr {
		if ns, ok := parseTimeString(b.s); ok {
			return flip * cmp3(a.i, ns), true
		}
	}
	return 0, false
}

// sortNum reports v as a number for sorting: like num, plus timestamps as
// epoch milliseconds.
func (v value) sortNum() (number, bool) {
	if v.k == kTime {
		if v.i%1e6 == 0 {
			return number{isInt: true, i: v.i / 1e6, f: float64(v.i / 1e6)}, true
		}
		return number{f: float64(v.i) / 1e6}, true
	}
	return v.num()
}

// cmpSort orders two non-null values the way Insights' sort documents:
// all non-numbers before all numbers, numbers by value, and non-numbers by
// a natural order (see naturalCompare).
func cmpSort(a, b value) int {
	if a.k == kTime && b.k == kTime {
		return cmp3(a.i, b.i)
	}
	na, aNum := a.sortNum()
	nb, bNum := b.sortNum()
	switch {
	case aNum && bNum:
		c := cmpNumbers(na, nb)
		if c == 0 && (a.k == kStr || b.k == kStr) {
			// Equal numbers written differently: the documentation's
			// example puts 01 before 1.
			c = strings.Compare(a.str(), b.str())
		}
		return c
	case aNum:
		return 1
	case bNum:
		return -1
	}
	return naturalCompare(a.str(), b.str())
}

// naturalCompare splits both strings into runs of digits and runs of
// non-digits and compares run by run: two digit runs by length and then
// value, anything else by code point (byte order, for UTF-8). This is the
// "updated natural sort" the Insights sort documentation describes.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		ca, ra := chunk(a)
		cb, rb := chunk(b)
		if isDigit(ca[0]) && isDigit(cb[0]) && len(ca) != len(cb) {
			return cmp3(len(ca), len(cb))
		}
		if c := strings.Compare(ca, cb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
	return cmp3(len(a), len(b))
}

func chunk(s string) (run, rest string) {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i], s[i:]
}

// appendKey appends an unambiguous encoding of v to b, for grouping and
// dedup. Integral floats encode like ints so 5 and 5.0 group together;
// strings stay strings, so "5" and 5 are different groups, as they are
// different values in the log.
func appendKey(b []byte, v value) []byte {
	switch v.k {
	case kNull:
		return append(b, 'N')
	case kStr:
		b = append(b, 'S')
		b = strconv.AppendInt(b, int64(len(v.s)), 10)
		b = append(b, ':')
		return append(b, v.s...)
	case kInt:
		b = append(b, 'I')
		b = strconv.AppendInt(b, v.i, 10)
		return append(b, ';')
	case kFloat:
		if v.f == math.Trunc(v.f) && math.Abs(v.f) < 1<<62 {
			b = append(b, 'I')
			b = strconv.AppendInt(b, int64(v.f), 10)
			return append(b, ';')
		}
		b = append(b, 'F')
		b = strconv.AppendUint(b, math.Float64bits(v.f), 16)
		return append(b, ';')
	case kTime:
		b = append(b, 'T')
		b = strconv.AppendInt(b, v.i, 10)
		return append(b, ';')
	}
	return b
}

// cloned returns v with its string copied, so that a value kept across
// events (a group key, a min or max) does not pin a whole log message.
func (v value) cloned() value {
	if v.k == kStr {
		v.s = strings.Clone(v.s)
	}
	return v
}
