package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/postern/postern/store"
)

const commandColumns = `account, id, owner, document_name, parameters, targets, comment, max_concurrency, max_errors,
	script, working_directory, timeout_seconds, status, status_details, target_count, completed_count, error_count,
	requested_at, ended_at`

func scanCommand(row scanner) (store.Command, error) {
	var c store.Command
	var params string
	var timeout int64
	err := row.Scan(&c.Account, &c.ID, &c.Owner, &c.DocumentName, &params, &c.Targets, &c.Comment,
		&c.MaxConcurrency, &c.MaxErrors, &c.Script, &c.WorkingDirectory, &timeout, &c.Status, &c.StatusDetails,
		&c.TargetCount, &c.CompletedCount, &c.ErrorCount, ts{&c.RequestedAt}, ts{&c.EndedAt})
	if err == nil {
		c.Parameters, err = jsonMap(params)
	}
	c.Timeout = time.Duration(timeout) * time.Second
	return c, err
}

const invocationColumns = `account, command_id, node_id, seq, node_name, status, status_details, session_id, exit_code,
	stdout, stderr, stdout_bytes, stderr_bytes, started_at, ended_at`

func scanInvocation(row scanner) (store.CommandInvocation, error) {
	var in store.CommandInvocation
	err := row.Scan(&in.Account, &in.CommandID, &in.NodeID, &in.Seq, &in.NodeName, &in.Status, &in.StatusDetails, &in.SessionID, &in.ExitCode,
		&in.Stdout, &in.Stderr, &in.StdoutBytes, &in.StderrBytes, ts{&in.StartedAt}, ts{&in.EndedAt})
	return in, err
}

// CreateCommand implements store.Commands.
func (s *Store) CreateCommand(ctx context.Context, c store.Command, invs []store.CommandInvocation) error {
	params, err := jsonMapArg(c.Parameters)
	if err != nil {
		return fmt.Errorf("store: create command %s: %w", c.ID, err)
	}
	for _, in := range invs {
		if in.Account != c.Account || in.CommandID != c.ID {
			return fmt.Errorf("store: create command %s: invocation on %s belongs to %s/%s", c.ID, in.NodeID, in.Account, in.CommandID)
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO commands (`+commandColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			c.Account, c.ID, c.Owner, c.DocumentName, params, c.Targets, c.Comment, c.MaxConcurrency, c.MaxErrors,
			c.Script, c.WorkingDirectory, int64(c.Timeout/time.Second), c.Status, c.StatusDetails,
			c.TargetCount, c.CompletedCount, c.ErrorCount, tsArg(c.RequestedAt), tsArg(c.EndedAt))
		if err != nil {
			return err
		}
		for _, in := range invs {
			_, err := tx.Exec(ctx, `INSERT INTO command_invocations (`+invocationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
				in.Account, in.CommandID, in.NodeID, in.Seq, in.NodeName, in.Status, in.StatusDetails, in.SessionID, in.ExitCode,
				in.Stdout, in.Stderr, in.StdoutBytes, in.StderrBytes, tsArg(in.StartedAt), tsArg(in.EndedAt))
			if err != nil {
				return fmt.Errorf("invocation on %s: %w", in.NodeID, err)
			}
		}
		return nil
	})
	return wrapErr(err, "create command %s", c.ID)
}

// GetCommand implements store.Commands.
func (s *Store) GetCommand(ctx context.Context, account, id string) (store.Command, error) {
	c, err := scanCommand(s.pool.QueryRow(ctx, `SELECT `+commandColumns+` FROM commands WHERE account = $1 AND id = $2`, account, id))
	return c, wrapErr(err, "get command %s", id)
}

// ListCommands implements store.Commands.
func (s *Store) ListCommands(ctx context.Context, f store.CommandFilter) ([]store.Command, error) {
	var q query
	if f.Account != "" {
		q.where("account = " + q.arg(f.Account))
	}
	if f.Owner != "" {
		q.where("owner = " + q.arg(f.Owner))
	}
	if f.Active != nil {
		if *f.Active {
			q.where("ended_at IS NULL")
		} else {
			q.where("ended_at IS NOT NULL")
		}
	}
	sql := `SELECT ` + commandColumns + ` FROM commands` + q.whereClause() + ` ORDER BY requested_at DESC NULLS LAST, id DESC`
	if f.Limit > 0 {
		sql += " LIMIT " + q.arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, sql, q.args...)
	cs, err := collect(rows, err, scanCommand)
	return cs, wrapErr(err, "list commands")
}

// UpdateCommand implements store.Commands.
func (s *Store) UpdateCommand(ctx context.Context, c store.Command) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE commands SET status = $1, status_details = $2, target_count = $3, completed_count = $4, error_count = $5, ended_at = $6
		WHERE account = $7 AND id = $8`,
		c.Status, c.StatusDetails, c.TargetCount, c.CompletedCount, c.ErrorCount, tsArg(c.EndedAt), c.Account, c.ID)
	return wrapErr(checkAffected(tag, err), "update command %s", c.ID)
}

// ListCommandInvocations implements store.Commands.
func (s *Store) ListCommandInvocations(ctx context.Context, account, commandID string) ([]store.CommandInvocation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+invocationColumns+` FROM command_invocations
		WHERE account = $1 AND command_id = $2 ORDER BY seq, node_id`, account, commandID)
	ins, err := collect(rows, err, scanInvocation)
	return ins, wrapErr(err, "list invocations of command %s", commandID)
}

// UpdateCommandInvocation implements store.Commands.
func (s *Store) UpdateCommandInvocation(ctx context.Context, in store.CommandInvocation) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE command_invocations SET status = $1, status_details = $2, session_id = $3, exit_code = $4,
			stdout = $5, stderr = $6, stdout_bytes = $7, stderr_bytes = $8, started_at = $9, ended_at = $10
		WHERE account = $11 AND command_id = $12 AND node_id = $13`,
		in.Status, in.StatusDetails, in.SessionID, in.ExitCode, in.Stdout, in.Stderr, in.StdoutBytes, in.StderrBytes,
		tsArg(in.StartedAt), tsArg(in.EndedAt), in.Account, in.CommandID, in.NodeID)
	return wrapErr(checkAffected(tag, err), "update invocation of command %s on %s", in.CommandID, in.NodeID)
}
