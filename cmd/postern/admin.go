package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/backup"
	"github.com/postern/postern/logstore"
	"github.com/postern/postern/store"
	"github.com/postern/postern/store/postgres"
)

func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Work on a server's own state, on the server's machine",
	}
	cmd.AddCommand(newMigrateStoreCmd(), newBackupCmd(), newRestoreCmd())
	return cmd
}

func newBackupCmd() *cobra.Command {
	var data string
	var exclude []string
	cmd := &cobra.Command{
		Use:   "backup DIR [--data DATA_DIR] [--exclude root.key]",
		Short: "Copy a server's data directory, while it runs, into a new directory",
		Long: `Write a backup of a server's data directory into DIR, which must not
exist or be empty. The server may be running: its databases (postern.db,
logs.db) are copied as consistent snapshots, then its keys, certificates,
session journals and desktop recordings as they are. DIR/MANIFEST.json,
written last, lists every file with its SHA-256; restore checks them.

Not in the data directory, so not in the backup: a PostgreSQL database
(back it up with pg_dump), object storage, a root key given in the
environment or kept in AWS KMS.`,
		Args: exactArgs(1, "the backup's directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := backup.Create(cmd.Context(), data, args[0], backup.Options{Version: version, Exclude: exclude})
			if err != nil {
				return err
			}
			var n int64
			for _, f := range m.Files {
				n += f.Size
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %s into %s: %d files, %d bytes\n", data, args[0], len(m.Files), n)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "/var/lib/postern", "the server's data directory")
	cmd.Flags().StringSliceVar(&exclude, "exclude", nil, "a file of the data directory to leave out (relative, e.g. root.key: keep it apart; put it back before starting)")
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "restore DIR --data DATA_DIR",
		Short: "Restore a backup as a new data directory",
		Long: `Check the backup in DIR against its manifest (every file's size and
SHA-256), then write it as the data directory DATA_DIR, which must not
exist or be empty: move a damaged one aside first. Nothing is written
unless the whole backup checks out, and a restore that fails leaves no
half-written directory. Start the server on DATA_DIR afterwards; it
brings an older backup's databases up to its schema as it starts.`,
		Args: exactArgs(1, "the backup's directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return usagef("--data is required: the data directory to restore into")
			}
			m, err := backup.Restore(cmd.Context(), args[0], data)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s (made %s by Postern %s) into %s: %d files\n", args[0], m.Created.Format(time.RFC3339), m.Version, data, len(m.Files))
			for _, x := range m.Excluded {
				fmt.Fprintf(cmd.OutOrStdout(), "left out of the backup, to put back before the server starts: %s\n", filepath.Join(data, filepath.FromSlash(x)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the data directory to restore into (empty or absent)")
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
