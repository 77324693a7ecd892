package logstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/postern/postern/lazyregexp"
)

// MetricFilter counts a log group's events that match Pattern (CloudWatch
// Logs' filter pattern syntax, checked by the caller) into the metric
// Namespace/MetricName, adding Value (a number, or a field of the event
// such as "$.durationMs") for each; Dimensions name fields whose values
// label the count (at most 3, as CloudWatch allows).
type MetricFilter struct {
	Account    string
	Group      string
	Name       string
	Pattern    string
	Namespace  string
	MetricName string
	Value      string
	Dimensions map[string]string // dimension name -> field, e.g. "user": "$.userIdentity.arn"
	CreatedAt  time.Time
}

// reFilterName is CloudWatch's filterName pattern ([^:*]{1,512}); metric
// namespaces and names are CloudWatch's too, without ':' and '$'.
var (
	reFilterName = lazyregexp.New(`^[^:*]{1,512}$`)
	reMetricName = lazyregexp.New(`^[^:$]{1,255}$`)
)

func checkMetricFilter(f MetricFilter) error {
	switch {
	case !reFilterName.MatchString(f.Name):
		return invalidf("invalid filter name %q: 1 to 512 characters other than ':' and '*'", f.Name)
	case !reMetricName.MatchString(f.Namespace):
		return invalidf("invalid metric namespace %q: 1 to 255 characters other than ':' and '$'", f.Namespace)
	case !reMetricName.MatchString(f.MetricName):
		return invalidf("invalid metric name %q: 1 to 255 characters other than ':' and '$'", f.MetricName)
	case f.Value == "":
		return invalidf("invalid metric value: empty (a number such as 1, or a field such as $.durationMs)")
	case len(f.Dimensions) > 3:
		return invalidf("%d dimensions: at most 3", len(f.Dimensions))
	case len(f.Pattern) > 1024:
		return invalidf("filter pattern of %d bytes: at most 1024", len(f.Pattern))
	}
	return nil
}

// PutMetricFilter creates the account's group's filter f, or replaces the
// one of that name. The group must exist (ErrNotFound).
func (s *Store) PutMetricFilter(ctx context.Context, f MetricFilter) error {
	if err := checkMetricFilter(f); err != nil {
		return fmt.Errorf("logstore: put metric filter %s: %w", f.Name, err)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = s.now()
	}
	dims, err := json.Marshal(f.Dimensions)
	if err != nil {
		return fmt.Errorf("logstore: put metric filter %s: %w", f.Name, err)
	}
	groupID, err := lookupGroup(ctx, s.db, f.Account, f.Group)
	if err != nil {
		return fmt.Errorf("logstore: put metric filter %s: %w", f.Name, err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO metric_filters (group_id, name, pattern, namespace, metric_name, value, dimensions, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (group_id, name) DO UPDATE SET pattern = excluded.pattern, namespace = excluded.namespace,
			metric_name = excluded.metric_name, value = excluded.value, dimensions = excluded.dimensions`,
		groupID, f.Name, f.Pattern, f.Namespace, f.MetricName, f.Value, string(dims), f.CreatedAt.UnixMilli())
	return wrapErr(err, "put metric filter %s", f.Name)
}

// DeleteMetricFilter deletes the account's group's filter name
// (ErrNotFound if there is none).
func (s *Store) DeleteMetricFilter(ctx context.Context, account, group, name string) error {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return fmt.Errorf("logstore: delete metric filter %s: %w", name, err)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM metric_filters WHERE group_id = ? AND name = ?`, groupID, name)
	return wrapErr(checkAffected(res, err), "delete metric filter %s", name)
}

// MetricFilters returns the metric filters of every group of every
// account, or only of account when it is not empty, by group and name.
func (s *Store) MetricFilters(ctx context.Context, account string) ([]MetricFilter, error) {
	q := `SELECT g.account, g.name, f.name, f.pattern, f.namespace, f.metric_name, f.value, f.dimensions, f.created_at
		FROM metric_filters f JOIN log_groups g ON g.id = f.group_id`
	var args []any
	if account != "" {
		q += ` WHERE g.account = ?`
		args = append(args, account)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY g.account, g.name, f.name`, args...)
	fs, err := collect(rows, err, func(row scanner) (MetricFilter, error) {
		var f MetricFilter
		var dims string
		if err := row.Scan(&f.Account, &f.Group, &f.Name, &f.Pattern, &f.Namespace, &f.MetricName, &f.Value, &dims, msTime{&f.CreatedAt}); err != nil {
			return f, err
		}
		return f, json.Unmarshal([]byte(dims), &f.Dimensions)
	})
	return fs, wrapErr(err, "list metric filters")
}
