package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

const stackSetColumns = `org, name, description, template, template_name, digest, parameters, targets, created_at, updated_at, operation, operation_until`

func scanStackSet(sc scanner) (StackSet, error) {
	var ss StackSet
	var targets string
	err := sc.Scan(&ss.Org, &ss.Name, &ss.Description, &ss.Template, &ss.TemplateName, &ss.Digest, jsonMap{&ss.Parameters}, &targets,
		microTime{&ss.CreatedAt}, microTime{&ss.UpdatedAt}, &ss.Operation, microTime{&ss.OperationUntil})
	if err == nil {
		err = json.Unmarshal([]byte(targets), &ss.Targets)
		ss.Targets = nilIfEmpty(ss.Targets)
	}
	return ss, err
}

func (s *SQLite) CreateStackSet(ctx context.Context, ss StackSet) error {
	params, err := jsonMapArg(ss.Parameters)
	if err != nil {
		return fmt.Errorf("store: create stack set %s: %w", ss.Name, err)
	}
	targets, err := jsonListArg(ss.Targets)
	if err != nil {
		return fmt.Errorf("store: create stack set %s: %w", ss.Name, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO stack_sets (`+stackSetColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', NULL)`,
		ss.Org, ss.Name, ss.Description, ss.Template, ss.TemplateName, ss.Digest, params, targets, timeArg(ss.CreatedAt), timeArg(ss.UpdatedAt))
	return wrapErr(err, "create stack set %s of %s", ss.Name, ss.Org)
}

func (s *SQLite) GetStackSet(ctx context.Context, org, name string) (StackSet, error) {
	ss, err := scanStackSet(s.db.QueryRowContext(ctx, `SELECT `+stackSetColumns+` FROM stack_sets WHERE org = ? AND name = ?`, org, name))
	return ss, wrapErr(err, "get stack set %s of %s", name, org)
}

func (s *SQLite) ListStackSets(ctx context.Context, org string) ([]StackSet, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+stackSetColumns+` FROM stack_sets WHERE org = ? ORDER BY name`, org)
	ss, err := collect(rows, err, scanStackSet)
	return ss, wrapErr(err, "list stack sets of %s", org)
}

func (s *SQLite) UpdateStackSet(ctx context.Context, ss StackSet) error {
	params, err := jsonMapArg(ss.Parameters)
	if err != nil {
		return fmt.Errorf("store: update stack set %s: %w", ss.Name, err)
	}
	targets, err := jsonListArg(ss.Targets)
	if err != nil {
		return fmt.Errorf("store: update stack set %s: %w", ss.Name, err)
	}
	res, err := s.db.ExecContext(ctx, `
		UPDATE stack_sets SET description = ?, template = ?, template_name = ?, digest = ?, parameters = ?, targets = ?, updated_at = ?
		WHERE org = ? AND name = ?`,
		ss.Description, ss.Template, ss.TemplateName, ss.Digest, params, targets, timeArg(ss.UpdatedAt), ss.Org, ss.Name)
	return wrapErr(checkAffected(res, err), "update stack set %s of %s", ss.Name, ss.Org)
}

func (s *SQLite) DeleteStackSet(ctx context.Context, org, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "delete stack set %s", name)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM stack_instances WHERE org = ? AND stack_set = ?`, org, name).Scan(&n); err != nil {
		return wrapErr(err, "delete stack set %s", name)
	}
	if n > 0 {
		return fmt.Errorf("store: delete stack set %s of %s: it has %d instances: %w", name, org, n, ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM stack_set_operations WHERE org = ? AND stack_set = ?`, org, name); err != nil {
		return wrapErr(err, "delete stack set %s of %s", name, org)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM stack_sets WHERE org = ? AND name = ?`, org, name)
	if err := checkAffected(res, err); err != nil {
		return wrapErr(err, "delete stack set %s of %s", name, org)
	}
	return wrapErr(tx.Commit(), "delete stack set %s", name)
}

func (s *SQLite) BeginStackSetOperation(ctx context.Context, org, name, id string, now, until time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "begin an operation on stack set %s", name)
	}
	defer tx.Rollback()
	var held string
	var heldUntil time.Time
	if err := tx.QueryRowContext(ctx, `SELECT operation, operation_until FROM stack_sets WHERE org = ? AND name = ?`, org, name).Scan(&held, microTime{&heldUntil}); err != nil {
		return wrapErr(err, "begin an operation on stack set %s of %s", name, org)
	}
	if held != "" && heldUntil.After(now) {
		return fmt.Errorf("store: stack set %s of %s: operation %s runs until %s: %w", name, org, held, heldUntil.Format(time.RFC3339), ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE stack_sets SET operation = ?, operation_until = ? WHERE org = ? AND name = ?`, id, timeArg(until), org, name); err != nil {
		return wrapErr(err, "begin an operation on stack set %s of %s", name, org)
	}
	return wrapErr(tx.Commit(), "begin an operation on stack set %s", name)
}

func (s *SQLite) EndStackSetOperation(ctx context.Context, org, name, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE stack_sets SET operation = '', operation_until = NULL WHERE org = ? AND name = ? AND operation = ?`, org, name, id)
	return wrapErr(err, "end operation %s on stack set %s of %s", id, name, org)
}

const stackInstanceColumns = `org, stack_set, account, status, reason, digest, parameters, physical_ids, resources, drift, drift_checked_at, updated_at`

func scanStackInstance(sc scanner) (StackInstance, error) {
	var in StackInstance
	err := sc.Scan(&in.Org, &in.StackSet, &in.Account, &in.Status, &in.Reason, &in.Digest, jsonMap{&in.Parameters}, jsonMap{&in.PhysicalIDs},
		&in.Resources, &in.Drift, microTime{&in.DriftCheckedAt}, microTime{&in.UpdatedAt})
	return in, err
}

func (s *SQLite) PutStackInstance(ctx context.Context, in StackInstance) error {
	params, err := jsonMapArg(in.Parameters)
	if err != nil {
		return fmt.Errorf("store: put stack instance %s/%s: %w", in.StackSet, in.Account, err)
	}
	ids, err := jsonMapArg(in.PhysicalIDs)
	if err != nil {
		return fmt.Errorf("store: put stack instance %s/%s: %w", in.StackSet, in.Account, err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO stack_instances (`+stackInstanceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org, stack_set, account) DO UPDATE SET status = excluded.status, reason = excluded.reason,
			digest = excluded.digest, parameters = excluded.parameters, physical_ids = excluded.physical_ids,
			resources = excluded.resources, drift = excluded.drift, drift_checked_at = excluded.drift_checked_at,
			updated_at = excluded.updated_at`,
		in.Org, in.StackSet, in.Account, in.Status, in.Reason, in.Digest, params, ids, in.Resources, in.Drift,
		timeArg(in.DriftCheckedAt), timeArg(in.UpdatedAt))
	return wrapErr(err, "put stack instance %s/%s of %s", in.StackSet, in.Account, in.Org)
}

func (s *SQLite) GetStackInstance(ctx context.Context, org, stackSet, account string) (StackInstance, error) {
	in, err := scanStackInstance(s.db.QueryRowContext(ctx, `SELECT `+stackInstanceColumns+` FROM stack_instances
		WHERE org = ? AND stack_set = ? AND account = ?`, org, stackSet, account))
	return in, wrapErr(err, "get stack instance %s/%s of %s", stackSet, account, org)
}

func (s *SQLite) ListStackInstances(ctx context.Context, org, stackSet string) ([]StackInstance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+stackInstanceColumns+` FROM stack_instances
		WHERE org = ? AND stack_set = ? ORDER BY account`, org, stackSet)
	ins, err := collect(rows, err, scanStackInstance)
	return ins, wrapErr(err, "list instances of stack set %s of %s", stackSet, org)
}

func (s *SQLite) AccountStackInstances(ctx context.Context, account string) ([]StackInstance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+stackInstanceColumns+` FROM stack_instances
		WHERE account = ? ORDER BY org, stack_set`, account)
	ins, err := collect(rows, err, scanStackInstance)
	return ins, wrapErr(err, "list the stack instances of account %s", account)
}

func (s *SQLite) DeleteStackInstance(ctx context.Context, org, stackSet, account string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM stack_instances WHERE org = ? AND stack_set = ? AND account = ?`, org, stackSet, account)
	return wrapErr(checkAffected(res, err), "delete stack instance %s/%s of %s", stackSet, account, org)
}

const stackSetOperationColumns = `org, stack_set, id, action, actor, stopped, accounts, started_at, ended_at`

func scanStackSetOperation(sc scanner) (StackSetOperation, error) {
	var op StackSetOperation
	err := sc.Scan(&op.Org, &op.StackSet, &op.ID, &op.Action, &op.By, &op.Stopped, &op.Accounts, microTime{&op.StartedAt}, microTime{&op.EndedAt})
	return op, err
}

func (s *SQLite) AddStackSetOperation(ctx context.Context, op StackSetOperation, keep int) error {
	if keep < 1 {
		return fmt.Errorf("store: add operation %s of stack set %s: keep %d, want at least 1", op.ID, op.StackSet, keep)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "add operation %s of stack set %s", op.ID, op.StackSet)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO stack_set_operations (`+stackSetOperationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		op.Org, op.StackSet, op.ID, op.Action, op.By, op.Stopped, op.Accounts, timeArg(op.StartedAt), timeArg(op.EndedAt)); err != nil {
		return wrapErr(err, "add operation %s of stack set %s of %s", op.ID, op.StackSet, op.Org)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM stack_set_operations WHERE org = ? AND stack_set = ? AND id NOT IN (
		SELECT id FROM stack_set_operations WHERE org = ? AND stack_set = ? ORDER BY started_at DESC, id DESC LIMIT ?)`,
		op.Org, op.StackSet, op.Org, op.StackSet, keep); err != nil {
		return wrapErr(err, "forget old operations of stack set %s of %s", op.StackSet, op.Org)
	}
	return wrapErr(tx.Commit(), "add operation %s of stack set %s", op.ID, op.StackSet)
}

func (s *SQLite) ListStackSetOperations(ctx context.Context, org, stackSet string) ([]StackSetOperation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+stackSetOperationColumns+` FROM stack_set_operations
		WHERE org = ? AND stack_set = ? ORDER BY started_at DESC, id DESC`, org, stackSet)
	ops, err := collect(rows, err, scanStackSetOperation)
	return ops, wrapErr(err, "list operations of stack set %s of %s", stackSet, org)
}
