package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

const commandColumns = `account, id, owner, document_name, parameters, targets, comment, max_concurrency, max_errors,
	script, working_directory, timeout_seconds, status, status_details, target_count, completed_count, error_count,
	requested_at, ended_at`

func scanCommand(sc scanner) (Command, error) {
	var c Command
	var timeout int64
	err := sc.Scan(&c.Account, &c.ID, &c.Owner, &c.DocumentName, jsonMap{&c.Parameters}, &c.Targets, &c.Comment,
		&c.MaxConcurrency, &c.MaxErrors, &c.Script, &c.WorkingDirectory, &timeout, &c.Status, &c.StatusDetails,
		&c.TargetCount, &c.CompletedCount, &c.ErrorCount, microTime{&c.RequestedAt}, microTime{&c.EndedAt})
	c.Timeout = time.Duration(timeout) * time.Second
	return c, err
}

const invocationColumns = `account, command_id, node_id, seq, node_name, status, status_details, session_id, exit_code,
	stdout, stderr, stdout_bytes, stderr_bytes, started_at, ended_at`

func scanInvocation(sc scanner) (CommandInvocation, error) {
	var in CommandInvocation
	var exit sql.Null[int]
	err := sc.Scan(&in.Account, &in.CommandID, &in.NodeID, &in.Seq, &in.NodeName, &in.Status, &in.StatusDetails, &in.SessionID, &exit,
		&in.Stdout, &in.Stderr, &in.StdoutBytes, &in.StderrBytes, microTime{&in.StartedAt}, microTime{&in.EndedAt})
	if exit.Valid {
		in.ExitCode = &exit.V
	}
	return in, err
}

func (s *SQLite) CreateCommand(ctx context.Context, c Command, invs []CommandInvocation) error {
	params, err := jsonMapArg(c.Parameters)
	if err != nil {
		return fmt.Errorf("store: create command %s: %w", c.ID, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "create command %s", c.ID)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO commands (`+commandColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Account, c.ID, c.Owner, c.DocumentName, params, c.Targets, c.Comment, c.MaxConcurrency, c.MaxErrors,
		c.Script, c.WorkingDirectory, int64(c.Timeout/time.Second), c.Status, c.StatusDetails,
		c.TargetCount, c.CompletedCount, c.ErrorCount, timeArg(c.RequestedAt), timeArg(c.EndedAt))
	if err != nil {
		return wrapErr(err, "create command %s", c.ID)
	}
	for _, in := range invs {
		if in.Account != c.Account || in.CommandID != c.ID {
			return fmt.Errorf("store: create command %s: invocation on %s belongs to %s/%s", c.ID, in.NodeID, in.Account, in.CommandID)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO command_invocations (`+invocationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			in.Account, in.CommandID, in.NodeID, in.Seq, in.NodeName, in.Status, in.StatusDetails, in.SessionID, intPtrArg(in.ExitCode),
			in.Stdout, in.Stderr, in.StdoutBytes, in.StderrBytes, timeArg(in.StartedAt), timeArg(in.EndedAt))
		if err != nil {
			return wrapErr(err, "create command %s: invocation on %s", c.ID, in.NodeID)
		}
	}
	return wrapErr(tx.Commit(), "create command %s", c.ID)
}

func (s *SQLite) GetCommand(ctx context.Context, account, id string) (Command, error) {
	c, err := scanCommand(s.db.QueryRowContext(ctx, `SELECT `+commandColumns+` FROM commands WHERE account = ? AND id = ?`, account, id))
	return c, wrapErr(err, "get command %s", id)
}

func (s *SQLite) ListCommands(ctx context.Context, f CommandFilter) ([]Command, error) {
	var where []string
	var args []any
	if f.Account != "" {
		where = append(where, "account = ?")
		args = append(args, f.Account)
	}
	if f.Owner != "" {
		where = append(where, "owner = ?")
		args = append(args, f.Owner)
	}
	if f.Active != nil {
		if *f.Active {
			where = append(where, "ended_at IS NULL")
		} else {
			where = append(where, "ended_at IS NOT NULL")
		}
	}
	q := `SELECT ` + commandColumns + ` FROM commands`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY requested_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	cs, err := collect(rows, err, scanCommand)
	return cs, wrapErr(err, "list commands")
}

func (s *SQLite) UpdateCommand(ctx context.Context, c Command) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE commands SET status = ?, status_details = ?, target_count = ?, completed_count = ?, error_count = ?, ended_at = ?
		WHERE account = ? AND id = ?`,
		c.Status, c.StatusDetails, c.TargetCount, c.CompletedCount, c.ErrorCount, timeArg(c.EndedAt), c.Account, c.ID)
	return wrapErr(checkAffected(res, err), "update command %s", c.ID)
}

func (s *SQLite) ListCommandInvocations(ctx context.Context, account, commandID string) ([]CommandInvocation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+invocationColumns+` FROM command_invocations
		WHERE account = ? AND command_id = ? ORDER BY seq, node_id`, account, commandID)
	ins, err := collect(rows, err, scanInvocation)
	return ins, wrapErr(err, "list invocations of command %s", commandID)
}

func (s *SQLite) UpdateCommandInvocation(ctx context.Context, in CommandInvocation) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE command_invocations SET status = ?, status_details = ?, session_id = ?, exit_code = ?,
			stdout = ?, stderr = ?, stdout_bytes = ?, stderr_bytes = ?, started_at = ?, ended_at = ?
		WHERE account = ? AND command_id = ? AND node_id = ?`,
		in.Status, in.StatusDetails, in.SessionID, intPtrArg(in.ExitCode), in.Stdout, in.Stderr, in.StdoutBytes, in.StderrBytes,
		timeArg(in.StartedAt), timeArg(in.EndedAt), in.Account, in.CommandID, in.NodeID)
	return wrapErr(checkAffected(res, err), "update invocation of command %s on %s", in.CommandID, in.NodeID)
}
