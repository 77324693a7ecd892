package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/postern/postern/api"
	"github.com/postern/postern/client"
)

func newSubscriptionFiltersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "subscription-filters", Short: "Send a built-in log group's matching events on to a delivery stream"}
	var f api.SubscriptionFilter
	put := &cobra.Command{
		Use:   "put",
		Short: "Create or replace a subscription filter (CloudWatch Logs' filter pattern syntax)",
		Long: `Create or replace a subscription filter: the events of a built-in log group
that match the pattern (every event if it is empty) go to a delivery stream of
the same account (postern delivery-streams create), at least once and in order
per log stream, from a cursor kept in the log store. A new filter sends what
arrives after it; a group has at most two.

  postern logs subscription-filters put --group /postern/sessions --name ship \
    --destination prn:postern:firehose:ACCOUNT:deliverystream/sessions`,
		Args: exactArgs(0, "no arguments (flags only)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.Group == "" || f.Name == "" || f.DestinationARN == "" {
				return usagef("--group, --name and --destination are required")
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if _, err := c.PutSubscriptionFilter(cmd.Context(), f); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Subscription filter %s on log group %s sends to %s.\n", f.Name, f.Group, f.DestinationARN)
			return nil
		},
	}
	pf := put.Flags()
	pf.StringVar(&f.Group, "group", "", "log group")
	pf.StringVar(&f.Name, "name", "", "filter name")
	pf.StringVar(&f.Pattern, "pattern", "", `filter pattern, e.g. '{ $.eventType = "Command" }' (empty: every event)`)
	pf.StringVar(&f.DestinationARN, "destination", "", "the delivery stream's ARN (prn:postern:firehose:ACCOUNT:deliverystream/NAME)")
	pf.StringVar(&f.Distribution, "distribution", "", "ByLogStream (default) or Random, as CloudWatch Logs takes them")

	var out, group string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List subscription filters, with how many events each has yet to send",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			fs, err := c.SubscriptionFilters(cmd.Context(), group)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, f := range fs {
				oldest := "-"
				if f.OldestPending != nil {
					oldest = fmtTime(*f.OldestPending)
				}
				rows = append(rows, []string{f.Group, f.Name, f.Pattern, f.DestinationARN, strconv.FormatInt(f.Backlog, 10), oldest})
			}
			return table(cmd.OutOrStdout(), out, []string{"GROUP", "NAME", "PATTERN", "DESTINATION", "BACKLOG", "OLDEST PENDING"}, rows, fs)
		},
	}
	ls.Flags().StringVar(&group, "group", "", "only this log group's")
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")

	del := newFilterDeleteCmd("subscription filter", (*client.Client).DeleteSubscriptionFilter)
	cmd.AddCommand(put, ls, del)
	return cmd
}

func newDeliveryStreamsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "delivery-streams", Short: "Batch log events into objects in S3-compatible storage, as Data Firehose does"}
	var s api.DeliveryStream
	var interval int
	var hook api.HTTPEndpoint
	var secretFile, caFile string
	var search api.OpenSearchDestination
	var passwordFile, apiKeyFile, searchCAFile string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a delivery stream",
		Long: `Create a delivery stream: what subscription filters send it is buffered until
--buffer-size or --buffer-interval is reached, optionally gzipped, and written
as one object to the bucket (the server's S3 destination) at
PREFIX + YYYY/MM/DD/HH/ + NAME-1-YYYY-MM-DD-HH-MM-SS-RANDOM[.gz] (UTC). Each
line of an object is one CloudWatch Logs subscription message (messageType,
owner, logGroup, logStream, subscriptionFilters, logEvents). A prefix may
place the time itself (!{timestamp:yyyy/MM/dd}) and name the source
(!{source:account}, !{source:logGroup}), which gives each its own objects. A
batch the bucket refuses for good (access denied) goes under
ERROR-PREFIX/delivery-failed/ in Firehose's error records; one it cannot
take for now waits, and is retried.

With --destination HTTP each record is POSTed to --http-url instead, signed
(Postern-Signature: t=UNIX,v1=HMAC-SHA256(secret, t.body)), as CloudWatch
Logs' subscription payload in {"awslogs":{"data":...}} (a Lambda handler's
input) or as it is (--http-format json); creating it posts a control
message, which the endpoint must take. --bucket and --error-prefix are then
the backup of the records it refuses for good (a 4xx).

With --destination OpenSearch each event is a document, bulk-indexed into
an OpenSearch or Elasticsearch cluster at --opensearch-endpoint, in the index
INDEX-PREFIX-YYYY.MM.DD of its day (UTC; --index-rotation NoRotation: one
index, INDEX-PREFIX): its JSON message's fields (eventTime, sessionId,
target.id, userIdentity.arn, runAsUser, sessionData; command, exitCode,
durationMs of command events) with @timestamp, @id, @owner, @log_group and
@log_stream, as CloudWatch Logs' OpenSearch subscription writes them; a
message that is not JSON goes in @message. Creating it checks that the
cluster answers with these credentials and puts the index template
INDEX-PREFIX, which maps those fields. Documents the cluster refuses for good
(a 400 mapper_parsing_exception) go to --bucket and --error-prefix, one
error record each; those it is too busy for are tried again.

  postern delivery-streams create search --destination OpenSearch \
    --opensearch-endpoint https://search.example.com:9200 --index-prefix postern-sessions \
    --username postern --password-file pw --ca-file ca.pem --buffer-interval 60

With --kms-key each object is sealed
(after compression) with a data key of that key, as session logs are, and
postern logs decrypt opens it for whoever the key's policy lets decrypt.

  postern delivery-streams create sessions --bucket logs --prefix sessions/ --compression GZIP --buffer-interval 60`,
		Args: exactArgs(1, "the stream's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s.Name = args[0]
			switch s.Destination {
			case "", "S3":
				if s.Bucket == "" {
					return usagef("--bucket is required")
				}
			case "HTTP":
				if hook.URL == "" || secretFile == "" {
					return usagef("--http-url and --http-secret-file are required for destination HTTP")
				}
				secret, err := os.ReadFile(secretFile)
				if err != nil {
					return err
				}
				hook.Secret = strings.TrimRight(string(secret), "\r\n")
				if caFile != "" {
					ca, err := os.ReadFile(caFile)
					if err != nil {
						return err
					}
					hook.CAPEM = string(ca)
				}
				s.HTTP = &hook
			case "OpenSearch":
				if search.ClusterEndpoint == "" || search.IndexName == "" {
					return usagef("--opensearch-endpoint and --index-prefix are required for destination OpenSearch")
				}
				if (search.Username == "") != (passwordFile == "") {
					return usagef("--username and --password-file go together")
				}
				for _, f := range []struct {
					path string
					to   *string
				}{{passwordFile, &search.Password}, {apiKeyFile, &search.APIKey}, {searchCAFile, &search.CAPEM}} {
					if f.path == "" {
						continue
					}
					b, err := os.ReadFile(f.path)
					if err != nil {
						return err
					}
					*f.to = string(b)
				}
				search.Password = strings.TrimRight(search.Password, "\r\n")
				search.APIKey = strings.TrimSpace(search.APIKey)
				s.OpenSearch = &search
			}
			if cmd.Flags().Changed("buffer-interval") {
				s.BufferIntervalSeconds = &interval
			}
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			got, err := c.CreateDeliveryStream(cmd.Context(), s)
			if err != nil {
				return err
			}
			if got.HTTP != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Delivery stream %s posts to %s (%s): %s\n", got.Name, got.HTTP.URL, got.HTTP.Format, got.ARN)
				return nil
			}
			if o := got.OpenSearch; o != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Delivery stream %s indexes into %s, %s (%s): %s\n", got.Name, o.ClusterEndpoint, indexPattern(*o), o.Authentication, got.ARN)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Delivery stream %s writes to s3://%s/%s: %s\n", got.Name, got.Bucket, got.Prefix, got.ARN)
			return nil
		},
	}
	cf := create.Flags()
	cf.StringVar(&s.Bucket, "bucket", "", "the bucket objects go to")
	cf.StringVar(&s.Prefix, "prefix", "", "the objects' key prefix (end it with '/')")
	cf.StringVar(&s.ErrorPrefix, "error-prefix", "", "where batches the bucket refuses for good go")
	cf.IntVar(&s.BufferSizeMiB, "buffer-size", 5, "MiB buffered before an object is written (1-128)")
	cf.IntVar(&interval, "buffer-interval", 300, "seconds buffered before an object is written (0-900)")
	cf.StringVar(&s.Compression, "compression", "UNCOMPRESSED", "UNCOMPRESSED or GZIP")
	cf.StringVar(&s.Destination, "destination", "S3", "S3, HTTP (a webhook: --http-url, --http-secret-file) or OpenSearch (--opensearch-endpoint, --index-prefix)")
	cf.StringVar(&hook.URL, "http-url", "", "the webhook's https:// URL")
	cf.StringVar(&secretFile, "http-secret-file", "", "a file holding the secret the requests are signed with (at least 32 bytes)")
	cf.StringVar(&caFile, "http-ca-file", "", "the CA certificate (PEM) the webhook's certificate is checked against; default: the system's")
	cf.StringVar(&hook.Format, "http-format", "awslogs", "awslogs (CloudWatch Logs' subscription payload, as Lambda gets it) or json (the payload as it is)")
	cf.StringVar(&search.ClusterEndpoint, "opensearch-endpoint", "", "the OpenSearch or Elasticsearch cluster's https:// URL")
	cf.StringVar(&search.IndexName, "index-prefix", "", "the indices' name: PREFIX-YYYY.MM.DD, and the index template's")
	cf.StringVar(&search.IndexRotationPeriod, "index-rotation", "OneDay", "OneDay (PREFIX-YYYY.MM.DD), OneHour, OneMonth or NoRotation (PREFIX)")
	cf.StringVar(&search.Username, "username", "", "the cluster's user (basic authentication, with --password-file)")
	cf.StringVar(&passwordFile, "password-file", "", "a file holding the user's password")
	cf.StringVar(&apiKeyFile, "api-key-file", "", "a file holding an API key, sent as Authorization: ApiKey KEY (instead of a user)")
	cf.StringVar(&searchCAFile, "ca-file", "", "the CA certificate (PEM) the cluster's certificate is checked against; default: the system's")
	cf.StringVar(&s.KMSKeyID, "kms-key", "", "seal each object with this key of the account (ID, alias or ARN); postern logs decrypt opens them")

	var out string
	row := func(d api.DeliveryStream) []string {
		st := d.Status
		if st == nil {
			st = &api.DeliveryStreamStatus{}
		}
		dest := "s3://" + d.Bucket + "/" + d.Prefix
		if d.HTTP != nil {
			dest = d.HTTP.URL
		}
		if d.OpenSearch != nil {
			dest = strings.TrimSuffix(d.OpenSearch.ClusterEndpoint, "/") + "/" + indexPattern(*d.OpenSearch)
		}
		return []string{d.Name, dest, d.Compression, strconv.Itoa(d.BufferSizeMiB) + " MiB/" + strconv.Itoa(*d.BufferIntervalSeconds) + " s",
			strconv.FormatInt(st.Objects, 10), strconv.FormatInt(st.Events, 10), strconv.FormatInt(st.Backlog, 10), st.LastError}
	}
	header := []string{"NAME", "DESTINATION", "COMPRESSION", "BUFFER", "OBJECTS", "EVENTS", "BACKLOG", "LAST ERROR"}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List delivery streams with what they delivered and owe",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			ds, err := c.DeliveryStreams(cmd.Context())
			if err != nil {
				return err
			}
			var rows [][]string
			for _, d := range ds {
				rows = append(rows, row(d))
			}
			return table(cmd.OutOrStdout(), out, header, rows, ds)
		},
	}
	ls.Flags().StringVarP(&out, "output", "o", "table", "table, json or csv")
	var dout string
	describe := &cobra.Command{
		Use:   "describe NAME",
		Short: "Describe a delivery stream: its settings, sources, backlog and last error",
		Args:  exactArgs(1, "the stream's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			d, err := c.DeliveryStream(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return table(cmd.OutOrStdout(), dout, header, [][]string{row(d)}, d)
		},
	}
	describe.Flags().StringVarP(&dout, "output", "o", "table", "table, json or csv")
	del := newDeleteByNameCmd("delivery stream", "Delete a delivery stream no subscription filter sends to", "the stream's name", (*client.Client).DeleteDeliveryStream)
	cmd.AddCommand(create, ls, describe, del)
	return cmd
}

// indexPattern names an OpenSearch destination's indices.
func indexPattern(o api.OpenSearchDestination) string {
	if o.IndexRotationPeriod == "NoRotation" {
		return o.IndexName
	}
	return o.IndexName + "-*"
}

// newDeleteByNameCmd is a "delete NAME" command: del deletes the what
// of that name.
func newDeleteByNameCmd(what, short, arg string, del func(c *client.Client, ctx context.Context, name string) error) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: short,
		Args:  exactArgs(1, arg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := apiClient()
			if err != nil {
				return err
			}
			if err := del(c, cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s %s.\n", what, args[0])
			return nil
		},
	}
}
