package s3logs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	tests := []struct {
		name         string
		prefix, file string
		want         string
		wantErr      string // substring; "" means no error
	}{
		{name: "no prefix", prefix: "", file: "alice-07e2d6c1b9a3f4e51.log", want: "alice-07e2d6c1b9a3f4e51.log"},
		{name: "prefix", prefix: "ssm", file: "a.log", want: "ssm/a.log"},
		{name: "prefix with trailing slash is not doubled", prefix: "ssm/", file: "a.log", want: "ssm/a.log"},
		{name: "nested prefix", prefix: "org/000000000001/sessions", file: "a.cast", want: "org/000000000001/sessions/a.cast"},
		{name: "name with sub-folder", prefix: "ssm", file: "events/a.json", want: "ssm/events/a.json"},
		{name: "dots inside segments are fine", prefix: "v1.2", file: "a..log", want: "v1.2/a..log"},
		{name: "unicode", prefix: "journaux", file: "séance.log", want: "journaux/séance.log"},

		{name: "prefix with leading slash", prefix: "/ssm", file: "a.log", wantErr: `s3KeyPrefix "/ssm" starts with "/"`},
		{name: "prefix only a slash", prefix: "/", file: "a.log", wantErr: `starts with "/"`},
		{name: "prefix with dot-dot", prefix: "ssm/../other", file: "a.log", wantErr: `has a ".." segment`},
		{name: "prefix that is dot-dot", prefix: "..", file: "a.log", wantErr: `has a ".." segment`},
		{name: "prefix with dot segment", prefix: "./ssm", file: "a.log", wantErr: `has a "." segment`},
		{name: "prefix with empty segment", prefix: "ssm//x", file: "a.log", wantErr: `empty path segment`},
		{name: "prefix with two trailing slashes", prefix: "ssm//", file: "a.log", wantErr: `empty path segment`},
		{name: "prefix with backslash", prefix: `ssm\..`, file: "a.log", wantErr: "backslash"},
		{name: "prefix with newline", prefix: "ssm\n", file: "a.log", wantErr: "control character"},
		{name: "empty name", prefix: "ssm", file: "", wantErr: `name "" is empty`},
		{name: "name dot-dot", prefix: "ssm", file: "..", wantErr: `has a ".." segment`},
		{name: "name escaping with dot-dot", prefix: "ssm", file: "../../etc/passwd", wantErr: `has a ".." segment`},
		{name: "name with leading slash", prefix: "ssm", file: "/a.log", wantErr: `starts with "/"`},
		{name: "name ending in slash", prefix: "ssm", file: "a/", wantErr: `ends with "/"`},
		{name: "name with empty segment", prefix: "ssm", file: "a//b.log", wantErr: "empty path segment"},
		{name: "name with NUL", prefix: "", file: "a\x00.log", wantErr: "control character"},
		{name: "name not UTF-8", prefix: "", file: "a\xff.log", wantErr: "not valid UTF-8"},
		{name: "key too long", prefix: strings.Repeat("p", 1000), file: strings.Repeat("n", 30), wantErr: "S3 allows 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Key(Target{Bucket: "b", Prefix: tt.prefix}, tt.file)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Key(%q, %q) = %q, %v; want %q", tt.prefix, tt.file, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Key(%q, %q) = %q; want an error containing %q", tt.prefix, tt.file, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidKey) || !Permanent(err) {
				t.Errorf("error %v: want ErrInvalidKey and Permanent", err)
			}
		})
	}
}

func TestCheckBucketName(t *testing.T) {
	tests := []struct {
		name, bucket string
		wantErr      string // "" means valid
	}{
		{"simple", "session-logs", ""},
		{"digits", "123", ""},
		{"dots are valid names", "logs.example.com", ""},
		{"63 characters", strings.Repeat("a", 63), ""},
		{"empty", "", "s3BucketName is empty"},
		{"too short", "ab", "3 to 63 characters long, not 2"},
		{"too long", strings.Repeat("a", 64), "3 to 63 characters long, not 64"},
		{"uppercase", "My-Bucket", `must be lowercase (did you mean "my-bucket"?)`},
		{"the documentation's placeholder", "DOC-EXAMPLE-BUCKET", `did you mean "doc-example-bucket"?`},
		{"underscore", "my_bucket", "cannot contain underscores; use hyphens"},
		{"space", "my bucket", "cannot contain spaces"},
		{"other character", "my+bucket", `not '+'`},
		{"s3 URL", "s3://my-bucket/logs", "not a URL"},
		{"ARN", "arn:aws:s3:::my-bucket", "not an ARN"},
		{"with a folder", "my-bucket/logs", `cannot contain "/"; put the folder in s3KeyPrefix`},
		{"leading hyphen", "-bucket", "begin and end with a letter or digit"},
		{"trailing dot", "bucket.", "begin and end with a letter or digit"},
		{"adjacent dots", "my..bucket", "two adjacent dots"},
		{"dot next to hyphen", "my.-bucket", "each dot-separated part"},
		{"IP address", "192.168.5.4", "formatted as an IP address"},
		{"xn-- prefix", "xn--bucket", `cannot start with "xn--"`},
		{"sthree- prefix", "sthree-bucket", `cannot start with "sthree-"`},
		{"-s3alias suffix", "bucket-s3alias", `cannot end with "-s3alias"`},
		{"--ol-s3 suffix", "bucket--ol-s3", `cannot end with "--ol-s3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBucketName(tt.bucket)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckBucketName(%q) = %v; want nil", tt.bucket, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckBucketName(%q) = %v; want an error containing %q", tt.bucket, err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidBucketName) || !Permanent(err) {
				t.Errorf("error %v: want ErrInvalidBucketName and Permanent", err)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"secret without key id", Config{SecretAccessKey: "s"}, "set both the access key ID and the secret access key"},
		{"key id without secret", Config{AccessKeyID: "k"}, "set both the access key ID and the secret access key"},
		{"token without keys", Config{SessionToken: "t"}, "a session token needs an access key ID"},
		{"unknown storage class", Config{StorageClass: "glacier-ir"}, `unknown S3 storage class "glacier-ir" (known: STANDARD,`},
		{"too many tags", Config{Tags: map[string]string{"1": "", "2": "", "3": "", "4": "", "5": "", "6": "", "7": "", "8": "", "9": "", "10": "", "11": ""}}, "at most 10"},
		{"reserved tag", Config{Tags: map[string]string{"aws:x": "y"}}, "aws: prefix is reserved"},
		{"tag with ampersand", Config{Tags: map[string]string{"team": "a&b"}}, `object tag "team"="a&b": '&' is not allowed`},
		{"endpoint without scheme", Config{Endpoint: "127.0.0.1:9000"}, "is not an http:// or https:// URL"},
		{"negative timeout", Config{Timeout: -time.Second}, "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New(%+v) = %v; want an error containing %q", tt.cfg, err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestAddressing(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		wantPathStyle bool
		wantRegion    string
	}{
		{"IPv4 endpoint", Config{Endpoint: "http://127.0.0.1:9000"}, true, "us-east-1"},
		{"IPv6 endpoint", Config{Endpoint: "http://[::1]:9000"}, true, "us-east-1"},
		{"localhost endpoint", Config{Endpoint: "https://localhost:9000"}, true, "us-east-1"},
		{"host name endpoint", Config{Endpoint: "https://s3.example.com"}, false, "us-east-1"},
		{"host name endpoint, forced", Config{Endpoint: "https://s3.example.com", ForcePathStyle: true}, true, "us-east-1"},
		{"AWS", Config{Region: "eu-west-3"}, false, "eu-west-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.AccessKeyID, tt.cfg.SecretAccessKey = "k", "s"
			c, err := New(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if c.PathStyle() != tt.wantPathStyle || c.Region() != tt.wantRegion {
				t.Errorf("PathStyle, Region = %v, %q; want %v, %q", c.PathStyle(), c.Region(), tt.wantPathStyle, tt.wantRegion)
			}
		})
	}
}

// A bucket name with dots cannot be used with virtual-hosted-style
// addressing over TLS: Check and Put say so, without any request.
func TestDottedBucketNeedsPathStyle(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"AWS", Config{Region: "eu-west-1"},
			"S3 bucket name logs.example.com contains dots, which virtual-hosted-style addressing over TLS cannot use: " +
				"the host name logs.example.com.s3.eu-west-1.amazonaws.com does not match the certificate's *.s3.eu-west-1.amazonaws.com. " +
				"Use path-style addressing for this S3 destination (forcePathStyle), or a bucket name without dots."},
		{"custom https endpoint", Config{Endpoint: "https://s3.example.net:8443"},
			"the host name logs.example.com.s3.example.net does not match the certificate's *.s3.example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.AccessKeyID, tt.cfg.SecretAccessKey = "k", "s"
			c, err := New(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			target := Target{Bucket: "logs.example.com"}
			err = c.Check(context.Background(), target)
			var ce *CheckError
			if !errors.As(err, &ce) || !strings.Contains(ce.Error(), tt.wantErr) {
				t.Fatalf("Check = %v; want a *CheckError containing %q", err, tt.wantErr)
			}
			if ce.Bucket != "logs.example.com" || !errors.Is(err, ErrInvalidBucketName) {
				t.Errorf("CheckError %+v: want Bucket and ErrInvalidBucketName", ce)
			}
			_, err = c.Put(context.Background(), target, "a.log", "text/plain", strings.NewReader("x"))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !Permanent(err) {
				t.Errorf("Put = %v; want a permanent error containing %q", err, tt.wantErr)
			}
		})
	}
}

// With no credentials anywhere, Check says so before any request.
func TestCheckWithoutCredentials(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": dir + "/config", "AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
	c, err := New(context.Background(), Config{Endpoint: "http://127.0.0.1:1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check(context.Background(), Target{Bucket: "logs"})
	want := "No usable S3 credentials: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "Set an access key in the S3 destination's configuration") {
		t.Fatalf("Check = %v; want %q...", err, want)
	}
	t.Log(err)
}
