// Package logquery parses and runs a subset of the CloudWatch Logs Insights
// query language over log events held in memory or streamed from a store,
// so that Postern's session logs can be audited with the queries people
// already write against CloudWatch:
//
//	fields @timestamp, command, exitCode
//	| filter command like /sudo/ and exitCode != 0
//	| sort @timestamp desc
//	| limit 20
//
// # Supported language
//
//	query    = command { "|" command }
//	command  = "fields" field [ "as" name ] { "," field [ "as" name ] }
//	         | "display" field { "," field }
//	         | "filter" cond
//	         | "parse" [ field ] ( string "as" name { "," name } | regex )
//	         | "stats" agg [ "as" name ] { "," agg [ "as" name ] }
//	                   [ "by" group [ "as" name ] { "," group [ "as" name ] } ]
//	         | "sort" field [ "asc" | "desc" ] { "," field [ "asc" | "desc" ] }
//	         | "limit" integer
//	         | "dedup" field { "," field }
//	cond     = cond "or" cond | cond "and" cond | "not" cond | "(" cond ")"
//	         | operand ( "=" | "!=" | "<" | "<=" | ">" | ">=" ) operand
//	         | operand [ "not" ] "like" ( string | regex ) | operand "=~" ( string | regex )
//	         | operand [ "not" ] "in" "[" literal { "," literal } "]"
//	         | ( "ispresent" | "isempty" | "isblank" ) "(" field ")"
//	agg      = ( "count" | "count_distinct" | "min" | "max" | "avg" | "sum" ) "(" field ")"
//	         | "count" "(" "*" ")"
//	group    = field | "bin" "(" period ")"          // period: 5m, 1h, 30s, 1d, 1w, 1mo, 1q, 1y ...
//	operand  = field | literal
//	literal  = string | [ "-" ] number
//
// Fields are bare (letters, digits, _, @ and dots) or `back-quoted`.
// Strings take double or single quotes; regexes are /.../ in RE2 syntax
// (so no catastrophic backtracking), with (?i) for case-insensitive
// matching and (?<name>...) groups in parse. Keywords, commands and
// function names are case-insensitive. # starts a comment.
//
// The fields of an event are @timestamp, @message, @logStream,
// @ingestionTime and, when @message is a JSON object, its members flattened
// as Insights does: nested objects with dots (userIdentity.arn), arrays by
// index (items.0.id), and a key that itself starts with @ as @@key. JSON is
// decoded lazily and only for the paths the query names. A field that is
// missing is null.
//
// # Semantics
//
// Two values compare numerically when both are numbers or numeric strings,
// else as strings, byte by byte; @timestamp compares with numbers as epoch
// milliseconds and with date strings as dates. A comparison, like or in on
// a null value is false (so "x != 1" and "x not like /a/" skip events
// without x), while "not" simply negates. JSON booleans are the strings
// "true" and "false".
//
// sort orders as Insights documents: non-numbers (in natural order) before
// numbers, descending unless asc is given; nulls go last either way, and
// ties keep their order. dedup keeps the first row per key in sort order
// (newest first when the query has no sort) and keeps every row with a
// null key; only limit may follow it. Without a sort, rows come in the
// order the events did. stats lists its by columns, then its aggregates,
// one row per group in the order groups first appeared; without by it
// returns one row even over no events. Several stats commands may follow
// each other, each aggregating the rows of the last; after a stats only its
// columns exist. parse leaves its fields null, and the row in place, when
// the pattern does not match.
//
// Without a limit command a query returns at most DefaultLimit rows, as in
// Insights; limit takes 1 to MaxLimit. Without fields, display or stats
// the columns are @timestamp and @message. Running past Limits is an
// error, never a silently truncated answer.
//
// # Left out
//
// Arithmetic and the scalar functions in fields and filter (abs, strlen,
// concat, datefloor...), the stats functions pct, stddev, earliest, latest
// and sortsFirst, the commands pattern, diff, unmask, anomaly, unnest,
// lookup, filterIndex and "limit any", parse's logfmt, csv and multi modes,
// and the @log field (a store here has no log group).
package logquery

import (
	"slices"
	"strings"
	"time"
)

// Query is a parsed query and its execution plan. It is immutable and safe
// to Run from several goroutines at once.
type Query struct {
	cmds []command
	pl   *plan
}

// String renders the query canonically: keywords in lower case, one space
// around operators, explicit sort directions, the fewest parentheses, and
// the field parse reads. Parse(q.String()) yields the same query.
func (q *Query) String() string {
	var b strings.Builder
	for i, c := range q.cmds {
		if i > 0 {
			b.WriteString(" | ")
		}
		c.render(&b)
	}
	return b.String()
}

// Fields reports the event fields the query reads, sorted: the @ fields
// (@timestamp, @message, @logStream, @ingestionTime) and JSON field paths
// as the query names them. A store may skip loading what is not listed;
// any JSON path means @message is needed, since the JSON lives there.
func (q *Query) Fields() []string { return slices.Clone(q.pl.fields) }

// MessageLiterals returns what the raw message of every event the query
// can match holds: for each list, one of its strings, or a backslash (an
// escaped JSON string may spell a literal differently). A store may skip
// the other events without reading them; Run checks the same.
func (q *Query) MessageLiterals() [][]string {
	out := make([][]string, 0, len(q.pl.checks))
	for _, pc := range q.pl.checks {
		out = append(out, slices.Clone(pc.lits))
	}
	return out
}

// Event is one log event as the store gives it.
type Event struct {
	Timestamp time.Time // @timestamp; the zero time reads as null
	Ingestion time.Time // @ingestionTime; the zero time reads as null
	Stream    string    // @logStream; "" reads as null
	Message   string    // @message
}

// Result is a table: column names in order, and rows of values. A value is
// nil (null), string, int64, float64 or time.Time (UTC): JSON numbers are
// int64 when integral and float64 otherwise, JSON booleans are the strings
// "true" and "false", and timestamps and bin() keys are time.Time.
type Result struct {
	Columns []string
	Rows    [][]any
	Scanned int64 // events read
	Matched int64 // events that passed the filters before any stats, sort, dedup or limit
}

// Limits bounds the memory a run may use. A zero field takes its default.
type Limits struct {
	// MaxRows bounds the rows held at once by sort, dedup and the result,
	// and the distinct values held by count_distinct. Default 1,000,000.
	MaxRows int
	// MaxGroups bounds the groups stats keeps. Default 100,000.
	MaxGroups int
}

const (
	defaultMaxRows   = 1_000_000
	defaultMaxGroups = 100_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxRows <= 0 {
		l.MaxRows = defaultMaxRows
	}
	if l.MaxGroups <= 0 {
		l.MaxGroups = defaultMaxGroups
	}
	return l
}
