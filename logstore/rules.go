package logstore

import (
	"context"
	"fmt"
	"time"

	"github.com/postern/postern/lazyregexp"
)

// Rule is an event rule, EventBridge's: an event pattern (checked by the
// caller) over the account's events (package events) and the targets the
// events it matches go to, kept as the caller's JSON.
type Rule struct {
	Account     string
	Name        string
	Description string
	Pattern     string
	State       string // ENABLED or DISABLED
	Targets     string // JSON
	CreatedAt   time.Time
}

// reRuleName is EventBridge's rule name pattern.
var reRuleName = lazyregexp.New(`^[\.\-_A-Za-z0-9]{1,64}$`)

// PutRule creates the account's rule r, or replaces the one of that name.
func (s *Store) PutRule(ctx context.Context, r Rule) error {
	switch {
	case !reRuleName.MatchString(r.Name):
		return invalidf("invalid rule name %q: 1 to 64 letters, digits, '.', '-' or '_'", r.Name)
	case r.State != "ENABLED" && r.State != "DISABLED":
		return invalidf("invalid state %q: ENABLED or DISABLED", r.State)
	case len(r.Pattern) > 4096:
		return invalidf("event pattern of %d bytes: at most 4096", len(r.Pattern))
	case len(r.Description) > 512:
		return invalidf("description of %d characters: at most 512", len(r.Description))
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO event_rules (account, name, description, pattern, state, targets, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account, name) DO UPDATE SET description = excluded.description, pattern = excluded.pattern,
			state = excluded.state, targets = excluded.targets`,
		r.Account, r.Name, r.Description, r.Pattern, r.State, r.Targets, r.CreatedAt.UnixMilli())
	return wrapErr(err, "put rule %s", r.Name)
}

// Rules returns the account's rules by name, or every account's.
func (s *Store) Rules(ctx context.Context, account string) ([]Rule, error) {
	q := `SELECT account, name, description, pattern, state, targets, created_at FROM event_rules`
	var args []any
	if account != "" {
		q += ` WHERE account = ?`
		args = append(args, account)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY account, name`, args...)
	rs, err := collect(rows, err, func(row scanner) (Rule, error) {
		var r Rule
		err := row.Scan(&r.Account, &r.Name, &r.Description, &r.Pattern, &r.State, &r.Targets, msTime{&r.CreatedAt})
		return r, err
	})
	return rs, wrapErr(err, "list rules")
}

// DeleteRule deletes the account's rule name (ErrNotFound if none).
func (s *Store) DeleteRule(ctx context.Context, account, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM event_rules WHERE account = ? AND name = ?`, account, name)
	return wrapErr(checkAffected(res, err), "delete rule %s", name)
}

// LastEventID is the ID of the account's group's last event; 0 if it has
// none (ErrNotFound if there is no such group).
func (s *Store) LastEventID(ctx context.Context, account, group string) (int64, error) {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return 0, fmt.Errorf("logstore: last event of %s: %w", group, err)
	}
	var id int64
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM log_events WHERE group_id = ?`, groupID).Scan(&id)
	return id, wrapErr(err, "last event of %s", group)
}

// DeleteCursor deletes the cursor named filter of the account's group
// (ErrNotFound if there is none).
func (s *Store) DeleteCursor(ctx context.Context, account, group, filter string) error {
	groupID, err := lookupGroup(ctx, s.db, account, group)
	if err != nil {
		return fmt.Errorf("logstore: delete cursor %s: %w", filter, err)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM subscription_cursors WHERE group_id = ? AND filter = ?`, groupID, filter)
	return wrapErr(checkAffected(res, err), "delete cursor %s", filter)
}
