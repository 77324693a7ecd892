package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/postern/postern/logstore"
	"github.com/postern/postern/store"
	"github.com/postern/postern/store/postgres"
)

func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Work on a server's own state, on the server's machine",
	}
	cmd.AddCommand(newMigrateStoreCmd())
	return cmd
}

func newMigrateStoreCmd() *cobra.Command {
	var from, to string
	var replace bool
	cmd := &cobra.Command{
		Use:   "migrate-store --from DATA_DIR|FILE.db --to postgres://...",
		Short: "Copy a SQLite deployment's metadata and log groups into an empty PostgreSQL database",
		Long: `Copy every row of every table of a server's SQLite metadata (postern.db in
its data directory) into a PostgreSQL database, in one transaction, and
check each table's row count on both sides before committing: the target
ends up with all of it or with none. The built-in log groups (logs.db
beside it, if there is one) follow the same way, in a transaction of their
own, into the schema postern_logs. Stop the server first: what it writes
after the copy would stay behind.

The target must be empty (a new database; the schema is created) unless
--replace is given, which empties it first. The source is brought up to
this version's schema, as starting the server would, and otherwise left
as it is. Afterwards, start the server with database: (or --database) set
to the same URL and the same data directory: its keys, certificates and
recordings stay there.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return usagef("--from and --to are both required")
			}
			if !isPostgresURL(to) {
				return usagef("--to: not a postgres:// or postgresql:// URL")
			}
			return migrateStore(cmd, from, to, replace)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the SQLite database: a data directory (its postern.db) or the file")
	f.StringVar(&to, "to", "", "the PostgreSQL database: postgres://USER@HOST/DB?sslmode=verify-full (password from PGPASSWORD or ~/.pgpass)")
	f.BoolVar(&replace, "replace", false, "empty the target first, whatever it holds")
	return cmd
}

func migrateStore(cmd *cobra.Command, from, to string, replace bool) error {
	ctx := cmd.Context()
	path, err := sqlitePath(from)
	if err != nil {
		return err
	}
	src, err := store.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := dst.Import(ctx, src, postgres.ImportOptions{Replace: replace})
	if errors.Is(err, postgres.ErrNotEmpty) {
		return fmt.Errorf("%w (--replace)", err)
	}
	if err != nil {
		return err
	}
	logCounts, err := migrateLogStore(ctx, filepath.Join(filepath.Dir(path), "logs.db"), to, replace)
	if err != nil {
		return fmt.Errorf("the metadata was copied, the built-in log groups were not (run again with --replace): %w", err)
	}
	return printCounts(cmd.OutOrStdout(), path, dst.String(), append(counts, logCounts...))
}

// migrateLogStore copies the built-in log groups of the SQLite file path,
// if there is one, into the PostgreSQL database to, and returns its
// tables' counts named as in PostgreSQL.
func migrateLogStore(ctx context.Context, path, to string, replace bool) ([]postgres.TableCount, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	src, err := logstore.Open(ctx, path, logstore.Options{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := logstore.OpenPostgres(ctx, to, logstore.Options{})
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	lc, err := dst.ImportSQLite(ctx, src, replace)
	if errors.Is(err, logstore.ErrNotEmpty) {
		return nil, fmt.Errorf("%w (--replace)", err)
	}
	if err != nil {
		return nil, err
	}
	var counts []postgres.TableCount
	for _, c := range lc {
		counts = append(counts, postgres.TableCount{Table: logstore.PostgresSchema + "." + c.Table, Source: c.Source, Target: c.Target})
	}
	return counts, nil
}

// sqlitePath finds the database --from names; it must exist, since
// opening a missing one would create it and copy nothing.
func sqlitePath(from string) (string, error) {
	fi, err := os.Stat(from)
	if err != nil {
		return "", fmt.Errorf("--from: %w", err)
	}
	if fi.IsDir() {
		from = filepath.Join(from, "postern.db")
		if _, err := os.Stat(from); err != nil {
			return "", fmt.Errorf("--from: no postern.db in the directory: %w", err)
		}
	}
	return from, nil
}

func printCounts(w io.Writer, from, to string, counts []postgres.TableCount) error {
	var rows [][]string
	var total, tables int64
	for _, c := range counts {
		source := strconv.FormatInt(c.Source, 10)
		if c.Source < 0 {
			source = "-" // a table only PostgreSQL has
		} else {
			total += c.Source
			tables++
		}
		rows = append(rows, []string{c.Table, source, strconv.FormatInt(c.Target, 10)})
	}
	if tables == 0 {
		return errors.New("no table was copied")
	}
	if err := table(w, "table", []string{"TABLE", "SQLITE", "POSTGRESQL"}, rows, nil); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Copied %d rows of %d tables from %s to %s; every table's count matches.\n", total, tables, from, to)
	return err
}
