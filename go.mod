module github.com/postern/postern

go 1.26.8

// Only the benchmark uses it: github.com/google/pprof/profile parses
// the CPU profiles of postern dev that tell what recording costs.
require github.com/google/pprof v0.0.0-20261105003125-4bf881d7fb0b

require (
	github.com/aws/aws-sdk-go-v2 v1.48.0
	github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream v1.7.27 // indirect
	github.com/aws/aws-sdk-go-v2/config v1.33.18
	github.com/aws/aws-sdk-go-v2/credentials v1.21.0
	github.com/aws/aws-sdk-go-v2/feature/ec2/imds v1.20.9 // indirect
	// s3logs uploads with feature/s3/transfermanager v0.5.7, released together
	// with service/s3 v1.114.10 and aws-sdk-go-v2 v1.48.0: the older
	// feature/s3/manager (v1.23.24 at that release) is deprecated in its
	// favour (aws/aws-sdk-go-v2 discussion 3306).
	github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager v0.5.7
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/v4a v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs v1.92.2
	github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding v1.13.25 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/checksum v1.11.13 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/presigned-url v1.14.12 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/s3shared v1.20.12 // indirect
	// Sealing with AWS KMS keys (package awskms).
	github.com/aws/aws-sdk-go-v2/service/kms v1.62.6
	github.com/aws/aws-sdk-go-v2/service/s3 v1.114.10
	github.com/aws/aws-sdk-go-v2/service/signin v1.13.1 // indirect
	github.com/aws/aws-sdk-go-v2/service/sso v1.39.5 // indirect
	github.com/aws/aws-sdk-go-v2/service/ssooidc v1.44.5 // indirect
	github.com/aws/aws-sdk-go-v2/service/sts v1.52.0 // indirect
	github.com/aws/smithy-go v1.28.9
	github.com/clipperhouse/displaywidth v0.11.0
	github.com/clipperhouse/uax29/v2 v2.7.0 // indirect
	github.com/coder/websocket v1.8.14
	github.com/creack/pty v1.1.24
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0
	github.com/hashicorp/yamux v0.1.2
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.47.0
	modernc.org/libc v1.79.0 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.61.1
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/prometheus/client_golang v1.25.0
	// logquery matches like /regex/ with RE2 itself, compiled to pure Go
	// (no cgo, so cross-builds stay plain): its DFA scans a pattern
	// without a literal 5-10x faster than regexp's backtracker.
	github.com/wasilibs/go-re2 v1.13.0
)

// Authorization: every API action is a Cedar request (package authz), in
// the policy language security teams already read and test; x/time/rate
// limits sign-in attempts per source address.
require (
	github.com/cedar-policy/cedar-go v1.9.1
	golang.org/x/time v0.16.0
)

// Configuration files' errors name the line of an unknown field (package
// configfile): yaml.v3's node tree has the lines, which sigs.k8s.io/yaml's
// JSON round trip loses. Already in the build as sigs.k8s.io/yaml's own.
// Templates (package stacktemplate) are read from its nodes too, tags
// (!Ref, !Sub, !GetAtt) and all, rather than with awslabs/goformation v7:
// goformation turns YAML into JSON through a fork of go-yaml v2 before it
// looks at anything, so no error could name a line; it resolves !GetAtt to
// nothing and a !Ref that names nothing silently, knows AWS's types but not
// Postern's, and brings generated code for every AWS resource type.
require go.yaml.in/yaml/v3 v3.0.5

// Only the fleet load test (bench/fleet) uses it: expfmt parses the
// server's /metrics.
require github.com/prometheus/common v0.72.0

// The PostgreSQL store (store/postgres): pgx's own interface and pool
// (pgxpool) rather than its database/sql adapter, for what database/sql
// does not offer: arrays as Go slices, COPY for moving a SQLite deployment
// over (postern admin migrate-store), and a
// connection of its own to LISTEN on, which several servers sharing one
// database will use to hear of each other's changes. Pure Go: the CLI's
// cross-builds stay plain.
require github.com/jackc/pgx/v5 v5.13.0

// Event rules publish to SNS topics through AWS's own SDK (package
// snstopic), as the S3 and CloudWatch Logs destinations do.
require github.com/aws/aws-sdk-go-v2/service/sns v1.48.0

// The PROXY protocol (versions 1 and 2) that TCP load balancers put
// before a connection, for clients' addresses behind them (package
// proxyheader): HAProxy's format, parsed and fuzzed by a library others
// run in production. v0.15.0: v0.16 needs a newer Go than the machines'.
require github.com/pires/go-proxyproto v0.15.0

// The stream multiplexing AWS's session-manager-plugin runs over a port
// session's data channel (server/ssmsessions.go): its own library, at the
// version the plugin is built with by scripts/install-test-deps.
require github.com/xtaci/smux v1.5.58

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.6 // indirect
	github.com/go-jose/go-jose/v4 v4.1.8 // indirect
	github.com/go-json-experiment/json v1.27.2 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	golang.org/x/exp v0.0.0-20220921023135-46d9e7742f1e // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// Single sign-on (package sso): go-oidc discovers the provider and verifies
// ID tokens, x/oauth2 runs the code flow with PKCE, and mockoidc is the real
// OpenID provider the tests sign in against.
require (
	github.com/coreos/go-oidc/v3 v3.21.0
	github.com/oauth2-proxy/mockoidc v0.0.0-20261103160011-e06ed0b7cb7f
	golang.org/x/oauth2 v0.38.0
)

// Delivery streams to OpenSearch or Elasticsearch (package searchindex):
// the official Go client of the OpenSearch project, as issue 19 asks; its
// typed bulk and index template calls, retries of busy requests and TLS
// with a given CA are what searchindex would otherwise write by hand. It
// brings nothing new into the build but itself (its AWS SDK dependency is
// already Postern's).
require github.com/opensearch-project/opensearch-go/v4 v4.8.1
