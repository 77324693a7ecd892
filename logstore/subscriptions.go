package logstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SubscriptionFilter sends a log group's events that match Pattern
// (CloudWatch Logs' filter pattern syntax, checked by the caller) to a
// destination, as CloudWatch Logs' subscription filters do. The store
// keeps its cursor (SaveCursor): the last event delivered.
type SubscriptionFilter struct {
	Account        string
	Group          string
	Name           string
	Pattern        string
	DestinationARN string
	// Distribution is CloudWatch's: "ByLogStream" (the default) or
	// "Random"; Postern's destinations keep each stream's order either
	// way.
	Distribution string
	CreatedAt    time.Time
	// Cursor is the ID of the last event delivered (or passed over);
	// filled by SubscriptionFilters.
	Cursor int64
}

// MaxSubscriptionFilters is how many subscription filters a group may
// have, as in CloudWatch Logs.
const MaxSubscriptionFilters = 2

func checkSubscriptionFilter(f SubscriptionFilter) error {
	switch {
	case !reFilterName.MatchString(f.Name):
		return invalidf("invalid filter name %q: 1 to 512 characters other than ':' and '*'", f.Name)
	case len(f.Pattern) > 1024:
		return invalidf("filter pattern of %d bytes: at most 1024", len(f.Pattern))
	case f.DestinationARN == "":
		return invalidf("destination ARN: required")
	case f.Distribution != "ByLogStream" && f.Distribution != "Random":
		return invalidf("distribution %q: ByLogStream or Random", f.Distribution)
	}
	return nil
}

// PutSubscriptionFilter creates the account's group's filter f, or
// replaces the one of that name. A new filter starts after the group's
// last event, as CloudWatch's sends only what arrives after it; a
// replaced one keeps its cursor. A group has at most
// MaxSubscriptionFilters (ErrInvalid); the group must exist (ErrNotFound).
func (s *Store) PutSubscriptionFilter(ctx context.Context, f SubscriptionFilter) error {
	if f.Distribution == "" {
		f.Distribution = "ByLogStream"
	}
	if err := checkSubscriptionFilter(f); err != nil {
		return fmt.Errorf("logstore: put subscription filter %s: %w", f.Name, err)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = s.now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "put subscription filter %s", f.Name)
	}
	defer tx.Rollback()
	// Locked, so that the count below stays true to the commit, and the
	// new cursor starts after every event committed before it.
	groupID, err := lockGroup(ctx, tx, f.Account, f.Group)
	if err != nil {
		return fmt.Errorf("logstore: put subscription filter %s: %w", f.Name, err)
	}
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscription_filters WHERE group_id = ? AND name != ?`, groupID, f.Name).Scan(&others); err != nil {
		return wrapErr(err, "put subscription filter %s", f.Name)
	}
	if others >= MaxSubscriptionFilters {
		return fmt.Errorf("logstore: put subscription filter %s: %w", f.Name,
			invalidf("log group %s has %d subscription filters already: at most %d", f.Group, others, MaxSubscriptionFilters))
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO subscription_filters (group_id, name, pattern, destination_arn, distribution, created_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (group_id, name) DO UPDATE SET pattern = excluded.pattern,
			destination_arn = excluded.destination_arn, distribution = excluded.distribution`,
		groupID, f.Name, f.Pattern, f.DestinationARN, f.Distribution, f.CreatedAt.UnixMilli()); err != nil {
		return wrapErr(err, "put subscription filter %s", f.Name)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO subscription_cursors (group_id, filter, delivered_id)
		VALUES (?, ?, (SELECT COALESCE(MAX(id), 0) FROM log_events WHERE group_id = ?))
		ON CONFLICT (group_id, filter) DO NOTHING`, groupID, f.Name, groupID); err != nil {
		return wrapErr(err, "put subscription filter %s", f.Name)
	}
	return wrapErr(tx.Commit(), "put subscription filter %s", f.Name)
}

// DeleteSubscriptionFilter deletes the account's group's filter name
// and its cursor (ErrNotFound if there is none).
func (s *Store) DeleteSubscriptionFilter(ctx context.Context, account, group, name string) error {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return fmt.Errorf("logstore: delete subscription filter %s: %w", name, err)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM subscription_filters WHERE group_id = ? AND name = ?`, groupID, name)
	if err := checkAffected(res, err); err != nil {
		return wrapErr(err, "delete subscription filter %s", name)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM subscription_cursors WHERE group_id = ? AND filter = ?`, groupID, name)
	return wrapErr(err, "delete subscription filter %s", name)
}

// SubscriptionFilters returns the subscription filters of every group of
// every account, or only of account when it is not empty, by group and
// name, each with its cursor.
func (s *Store) SubscriptionFilters(ctx context.Context, account string) ([]SubscriptionFilter, error) {
	q := `SELECT g.account, g.name, f.name, f.pattern, f.destination_arn, f.distribution, f.created_at, COALESCE(c.delivered_id, 0)
		FROM subscription_filters f JOIN log_groups g ON g.id = f.group_id
		LEFT JOIN subscription_cursors c ON c.group_id = f.group_id AND c.filter = f.name`
	var args []any
	if account != "" {
		q += ` WHERE g.account = ?`
		args = append(args, account)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY g.account, g.name, f.name`, args...)
	fs, err := collect(rows, err, func(row scanner) (SubscriptionFilter, error) {
		var f SubscriptionFilter
		err := row.Scan(&f.Account, &f.Group, &f.Name, &f.Pattern, &f.DestinationARN, &f.Distribution, msTime{&f.CreatedAt}, &f.Cursor)
		return f, err
	})
	return fs, wrapErr(err, "list subscription filters")
}

// Cursor returns the cursor named filter of the account's group: the last
// event delivered; ok is false when there is none yet (ErrNotFound for
// no such group).
func (s *Store) Cursor(ctx context.Context, account, group, filter string) (id int64, ok bool, err error) {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return 0, false, fmt.Errorf("logstore: cursor %s: %w", filter, err)
	}
	err = s.db.QueryRowContext(ctx, `SELECT delivered_id FROM subscription_cursors WHERE group_id = ? AND filter = ?`, groupID, filter).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, wrapErr(err, "cursor %s", filter)
}

// SaveCursor stores the cursor named filter of the account's group: a
// subscription filter's, or any other reader's that names itself with a
// ':' (which filter names cannot hold). It never moves a cursor back.
// ErrNotFound if the group is gone, or the filter (a name without ':').
func (s *Store) SaveCursor(ctx context.Context, account, group, filter string, id int64) error {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return fmt.Errorf("logstore: save cursor %s: %w", filter, err)
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO subscription_cursors (group_id, filter, delivered_id)
		SELECT ?, ?, ? WHERE instr(?, ':') > 0 OR EXISTS (SELECT 1 FROM subscription_filters WHERE group_id = ? AND name = ?)
		ON CONFLICT (group_id, filter) DO UPDATE SET delivered_id = CASE
			WHEN excluded.delivered_id > subscription_cursors.delivered_id THEN excluded.delivered_id
			ELSE subscription_cursors.delivered_id END`,
		groupID, filter, id, filter, groupID, filter)
	return wrapErr(checkAffected(res, err), "save cursor %s", filter)
}

// Backlog counts the account's group's events after the ID after, and
// says when the oldest of them was taken (zero if none).
func (s *Store) Backlog(ctx context.Context, account, group string, after int64) (events int64, oldest time.Time, err error) {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("logstore: backlog of %s: %w", group, err)
	}
	var first sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(ingested) FROM log_events WHERE group_id = ? AND id > ?`, groupID, after).Scan(&events, &first)
	if first.Valid {
		oldest = time.UnixMilli(first.Int64)
	}
	return events, oldest, wrapErr(err, "backlog of %s", group)
}

// DeliveryStream is a delivery stream's record: its settings are the
// caller's (package firehose), kept as JSON.
type DeliveryStream struct {
	Account   string
	Name      string
	Settings  string
	CreatedAt time.Time
}

// CreateDeliveryStream records a delivery stream (ErrExists if the
// account has one of that name).
func (s *Store) CreateDeliveryStream(ctx context.Context, d DeliveryStream) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO delivery_streams (account, name, settings, created_at) VALUES (?, ?, ?, ?)`,
		d.Account, d.Name, d.Settings, d.CreatedAt.UnixMilli())
	return wrapErr(err, "create delivery stream %s", d.Name)
}

// DeliveryStreams returns the account's delivery streams by name, or
// every account's when account is empty.
func (s *Store) DeliveryStreams(ctx context.Context, account string) ([]DeliveryStream, error) {
	q := `SELECT account, name, settings, created_at FROM delivery_streams`
	var args []any
	if account != "" {
		q += ` WHERE account = ?`
		args = append(args, account)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY account, name`, args...)
	ds, err := collect(rows, err, func(row scanner) (DeliveryStream, error) {
		var d DeliveryStream
		err := row.Scan(&d.Account, &d.Name, &d.Settings, msTime{&d.CreatedAt})
		return d, err
	})
	return ds, wrapErr(err, "list delivery streams")
}

// DeleteDeliveryStream deletes the account's stream name (ErrNotFound if
// there is none).
func (s *Store) DeleteDeliveryStream(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM delivery_streams WHERE account = ? AND name = ?`, account, name)
	return wrapErr(checkAffected(res, err), "delete delivery stream %s", name)
}
