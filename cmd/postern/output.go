package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/postern/postern/cli"
)

// table prints rows as an aligned table, JSON (the API objects) or CSV.
func table(w io.Writer, format string, header []string, rows [][]string, objects any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(objects)
	case "csv":
		// Cells hold what nodes and users said: no terminal control
		// sequence reaches whoever cats the file.
		cw := csv.NewWriter(w)
		cw.Write(printableCells(header))
		for _, r := range rows {
			cw.Write(printableCells(r))
		}
		cw.Flush()
		return cw.Error()
	case "", "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(printableCells(header), "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(printableCells(r), "\t"))
		}
		return tw.Flush()
	}
	return usagef("-o %q: must be table, json or csv", format)
}

// printableCells returns the cells escaped for a terminal (cli.Printable).
func printableCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = cli.Printable(c)
	}
	return out
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func fmtTags(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// parseTags parses k=v flags.
func parseTags(in []string) (map[string]string, error) { return cli.ParseTags(in) }

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// days is a duration flag that also takes whole days ("7d"), as --since
// does everywhere in the CLI.
type days struct{ d *time.Duration }

func (v days) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		k, err := strconv.Atoi(n)
		if err != nil || k < 0 {
			return fmt.Errorf("%q is not a number of days", s)
		}
		*v.d = time.Duration(k) * 24 * time.Hour
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("%q is not a duration such as 10m, 12h or 7d", s)
	}
	*v.d = d
	return nil
}

func (days) Type() string { return "duration" }
