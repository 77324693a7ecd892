package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/postern/postern/store"
)

const stackSetColumns = `org, name, description, template, template_name, digest, parameters, targets, created_at, updated_at, operation, operation_until`

func scanStackSet(row scanner) (store.StackSet, error) {
	var ss store.StackSet
	var params, targets string
	err := row.Scan(&ss.Org, &ss.Name, &ss.Description, &ss.Template, &ss.TemplateName, &ss.Digest, &params, &targets,
		ts{&ss.CreatedAt}, ts{&ss.UpdatedAt}, &ss.Operation, ts{&ss.OperationUntil})
	if err == nil {
		ss.Parameters, err = jsonMap(params)
	}
	if err == nil {
		err = json.Unmarshal([]byte(targets), &ss.Targets)
		ss.Targets = nilIfEmpty(ss.Targets)
	}
	return ss, err
}

func (s *Store) CreateStackSet(ctx context.Context, ss store.StackSet) error {
	params, err := jsonMapArg(ss.Parameters)
	if err != nil {
		return fmt.Errorf("store: create stack set %s: %w", ss.Name, err)
	}
	targets, err := jsonListArg(ss.Targets)
	if err != nil {
		return fmt.Errorf("store: create stack set %s: %w", ss.Name, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO stack_sets (`+stackSetColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', NULL)`,
		ss.Org, ss.Name, ss.Description, ss.Template, ss.TemplateName, ss.Digest, params, targets, tsArg(ss.CreatedAt), tsArg(ss.UpdatedAt))
	return wrapErr(err, "create stack set %s of %s", ss.Name, ss.Org)
}

func (s *Store) GetStackSet(ctx context.Context, org, name string) (store.StackSet, error) {
	ss, err := scanStackSet(s.pool.QueryRow(ctx, `SELECT `+stackSetColumns+` FROM stack_sets WHERE org = $1 AND name = $2`, org, name))
	return ss, wrapErr(err, "get stack set %s of %s", name, org)
}

func (s *Store) ListStackSets(ctx context.Context, org string) ([]store.StackSet, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+stackSetColumns+` FROM stack_sets WHERE org = $1 ORDER BY name`, org)
	ss, err := collect(rows, err, scanStackSet)
	return ss, wrapErr(err, "list stack sets of %s", org)
}

func (s *Store) UpdateStackSet(ctx context.Context, ss store.StackSet) error {
	params, err := jsonMapArg(ss.Parameters)
	if err != nil {
		return fmt.Errorf("store: update stack set %s: %w", ss.Name, err)
	}
	targets, err := jsonListArg(ss.Targets)
	if err != nil {
		return fmt.Errorf("store: update stack set %s: %w", ss.Name, err)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE stack_sets SET description = $1, template = $2, template_name = $3, digest = $4, parameters = $5, targets = $6, updated_at = $7
		WHERE org = $8 AND name = $9`,
		ss.Description, ss.Template, ss.TemplateName, ss.Digest, params, targets, tsArg(ss.UpdatedAt), ss.Org, ss.Name)
	return wrapErr(checkAffected(tag, err), "update stack set %s of %s", ss.Name, ss.Org)
}

// DeleteStackSet implements store.StackSets. The stack set's row is
// locked first, so that no instance is added while it goes.
func (s *Store) DeleteStackSet(ctx context.Context, org, name string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var got string
		if err := tx.QueryRow(ctx, `SELECT name FROM stack_sets WHERE org = $1 AND name = $2 FOR UPDATE`, org, name).Scan(&got); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM stack_instances WHERE org = $1 AND stack_set = $2`, org, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("it has %d instances: %w", n, store.ErrConflict)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM stack_set_operations WHERE org = $1 AND stack_set = $2`, org, name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM stack_sets WHERE org = $1 AND name = $2`, org, name)
		return err
	})
	return wrapErr(err, "delete stack set %s of %s", name, org)
}

// BeginStackSetOperation implements store.StackSets, with the stack set's
// row locked while it looks and writes.
func (s *Store) BeginStackSetOperation(ctx context.Context, org, name, id string, now, until time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var held string
		var heldUntil time.Time
		if err := tx.QueryRow(ctx, `SELECT operation, operation_until FROM stack_sets WHERE org = $1 AND name = $2 FOR UPDATE`, org, name).
			Scan(&held, ts{&heldUntil}); err != nil {
			return err
		}
		if held != "" && heldUntil.After(now) {
			return fmt.Errorf("operation %s runs until %s: %w", held, heldUntil.Format(time.RFC3339), store.ErrConflict)
		}
		_, err := tx.Exec(ctx, `UPDATE stack_sets SET operation = $1, operation_until = $2 WHERE org = $3 AND name = $4`, id, tsArg(until), org, name)
		return err
	})
	return wrapErr(err, "begin an operation on stack set %s of %s", name, org)
}

func (s *Store) EndStackSetOperation(ctx context.Context, org, name, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE stack_sets SET operation = '', operation_until = NULL WHERE org = $1 AND name = $2 AND operation = $3`, org, name, id)
	return wrapErr(err, "end operation %s on stack set %s of %s", id, name, org)
}

const stackInstanceColumns = `org, stack_set, account, status, reason, digest, parameters, physical_ids, resources, drift, drift_checked_at, updated_at`

func scanStackInstance(row scanner) (store.StackInstance, error) {
	var in store.StackInstance
	var params, ids string
	err := row.Scan(&in.Org, &in.StackSet, &in.Account, &in.Status, &in.Reason, &in.Digest, &params, &ids,
		&in.Resources, &in.Drift, ts{&in.DriftCheckedAt}, ts{&in.UpdatedAt})
	if err == nil {
		in.Parameters, err = jsonMap(params)
	}
	if err == nil {
		in.PhysicalIDs, err = jsonMap(ids)
	}
	return in, err
}

func (s *Store) PutStackInstance(ctx context.Context, in store.StackInstance) error {
	params, err := jsonMapArg(in.Parameters)
	if err != nil {
		return fmt.Errorf("store: put stack instance %s/%s: %w", in.StackSet, in.Account, err)
	}
	ids, err := jsonMapArg(in.PhysicalIDs)
	if err != nil {
		return fmt.Errorf("store: put stack instance %s/%s: %w", in.StackSet, in.Account, err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO stack_instances (`+stackInstanceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (org, stack_set, account) DO UPDATE SET status = excluded.status, reason = excluded.reason,
			digest = excluded.digest, parameters = excluded.parameters, physical_ids = excluded.physical_ids,
			resources = excluded.resources, drift = excluded.drift, drift_checked_at = excluded.drift_checked_at,
			updated_at = excluded.updated_at`,
		in.Org, in.StackSet, in.Account, in.Status, in.Reason, in.Digest, params, ids, in.Resources, in.Drift,
		tsArg(in.DriftCheckedAt), tsArg(in.UpdatedAt))
	return wrapErr(err, "put stack instance %s/%s of %s", in.StackSet, in.Account, in.Org)
}

func (s *Store) GetStackInstance(ctx context.Context, org, stackSet, account string) (store.StackInstance, error) {
	in, err := scanStackInstance(s.pool.QueryRow(ctx, `SELECT `+stackInstanceColumns+` FROM stack_instances
		WHERE org = $1 AND stack_set = $2 AND account = $3`, org, stackSet, account))
	return in, wrapErr(err, "get stack instance %s/%s of %s", stackSet, account, org)
}

func (s *Store) ListStackInstances(ctx context.Context, org, stackSet string) ([]store.StackInstance, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+stackInstanceColumns+` FROM stack_instances
		WHERE org = $1 AND stack_set = $2 ORDER BY account`, org, stackSet)
	ins, err := collect(rows, err, scanStackInstance)
	return ins, wrapErr(err, "list instances of stack set %s of %s", stackSet, org)
}

func (s *Store) AccountStackInstances(ctx context.Context, account string) ([]store.StackInstance, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+stackInstanceColumns+` FROM stack_instances
		WHERE account = $1 ORDER BY org, stack_set`, account)
	ins, err := collect(rows, err, scanStackInstance)
	return ins, wrapErr(err, "list the stack instances of account %s", account)
}

func (s *Store) DeleteStackInstance(ctx context.Context, org, stackSet, account string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM stack_instances WHERE org = $1 AND stack_set = $2 AND account = $3`, org, stackSet, account)
	return wrapErr(checkAffected(tag, err), "delete stack instance %s/%s of %s", stackSet, account, org)
}

const stackSetOperationColumns = `org, stack_set, id, action, actor, stopped, accounts, started_at, ended_at`

func scanStackSetOperation(row scanner) (store.StackSetOperation, error) {
	var op store.StackSetOperation
	err := row.Scan(&op.Org, &op.StackSet, &op.ID, &op.Action, &op.By, &op.Stopped, &op.Accounts, ts{&op.StartedAt}, ts{&op.EndedAt})
	return op, err
}

func (s *Store) AddStackSetOperation(ctx context.Context, op store.StackSetOperation, keep int) error {
	if keep < 1 {
		return fmt.Errorf("store: add operation %s of stack set %s: keep %d, want at least 1", op.ID, op.StackSet, keep)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO stack_set_operations (`+stackSetOperationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			op.Org, op.StackSet, op.ID, op.Action, op.By, op.Stopped, op.Accounts, tsArg(op.StartedAt), tsArg(op.EndedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM stack_set_operations WHERE org = $1 AND stack_set = $2 AND id NOT IN (
			SELECT id FROM stack_set_operations WHERE org = $1 AND stack_set = $2 ORDER BY started_at DESC, id DESC LIMIT $3)`,
			op.Org, op.StackSet, keep)
		return err
	})
	return wrapErr(err, "add operation %s of stack set %s of %s", op.ID, op.StackSet, op.Org)
}

func (s *Store) ListStackSetOperations(ctx context.Context, org, stackSet string) ([]store.StackSetOperation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+stackSetOperationColumns+` FROM stack_set_operations
		WHERE org = $1 AND stack_set = $2 ORDER BY started_at DESC, id DESC`, org, stackSet)
	ops, err := collect(rows, err, scanStackSetOperation)
	return ops, wrapErr(err, "list operations of stack set %s of %s", stackSet, org)
}
