package cwlogstest_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

const kmsKey = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

func TestNameValidation(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	createGroup(t, c, "/names/parent")

	groupCases := []struct {
		name  string
		group string
		ok    bool
	}{
		{"one character", "a", true},
		{"512 characters", strings.Repeat("g", 512), true},
		{"every allowed punctuation", "/app._-#/Svc09", true},
		{"empty", "", false},
		{"513 characters", strings.Repeat("g", 513), false},
		{"space", "has space", false},
		{"colon", "a:b", false},
		{"asterisk", "a*b", false},
		{"non-ASCII letter", "caf\u00e9", false},
		{"reserved aws/ prefix", "aws/lambda", false},
	}
	for _, tc := range groupCases {
		t.Run("group/"+tc.name, func(t *testing.T) {
			_, err := c.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(tc.group)})
			if tc.ok {
				if err != nil {
					t.Fatalf("CreateLogGroup(%q): %v", tc.group, err)
				}
				return
			}
			wantErr[*types.InvalidParameterException]()(t, err)
		})
	}

	streamCases := []struct {
		name   string
		stream string
		ok     bool
	}{
		{"one character", "s", true},
		{"512 characters", strings.Repeat("s", 512), true},
		{"spaces brackets and dollars", "2026/03/01/[$LATEST]abc def", true},
		{"non-ASCII", "flux-\u00e9t\u00e9", true},
		{"empty", "", false},
		{"513 characters", strings.Repeat("s", 513), false},
		{"colon", "a:b", false},
		{"asterisk", "a*b", false},
	}
	for _, tc := range streamCases {
		t.Run("stream/"+tc.name, func(t *testing.T) {
			_, err := c.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/names/parent"), LogStreamName: aws.String(tc.stream)})
			if tc.ok {
				if err != nil {
					t.Fatalf("CreateLogStream(%q): %v", tc.stream, err)
				}
				return
			}
			wantErr[*types.InvalidParameterException]("logStreamName")(t, err)
		})
	}
}

// TestResourceErrors covers ResourceNotFoundException and
// ResourceAlreadyExistsException for every operation that can return them.
func TestResourceErrors(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	createGroup(t, c, "/exists")
	createStream(t, c, "/exists", "s")

	notFound := wantErr[*types.ResourceNotFoundException]
	cases := []struct {
		name  string
		call  func() error
		check func(*testing.T, error)
	}{
		{"CreateLogGroup duplicate", func() error {
			_, err := c.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/exists")})
			return err
		}, wantErr[*types.ResourceAlreadyExistsException]("already exists")},
		{"CreateLogStream duplicate", func() error {
			_, err := c.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/exists"), LogStreamName: aws.String("s")})
			return err
		}, wantErr[*types.ResourceAlreadyExistsException]("already exists")},
		{"CreateLogStream in missing group", func() error {
			_, err := c.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/missing"), LogStreamName: aws.String("s")})
			return err
		}, notFound("log group does not exist")},
		{"DeleteLogGroup missing", func() error {
			_, err := c.DeleteLogGroup(t.Context(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("/missing")})
			return err
		}, notFound()},
		{"DeleteLogStream missing", func() error {
			_, err := c.DeleteLogStream(t.Context(), &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: aws.String("/exists"), LogStreamName: aws.String("nope")})
			return err
		}, notFound("log stream does not exist")},
		{"PutRetentionPolicy missing group", func() error {
			_, err := c.PutRetentionPolicy(t.Context(), &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("/missing"), RetentionInDays: aws.Int32(7)})
			return err
		}, notFound()},
		{"AssociateKmsKey missing group", func() error {
			_, err := c.AssociateKmsKey(t.Context(), &cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String("/missing"), KmsKeyId: aws.String(kmsKey)})
			return err
		}, notFound()},
		{"DescribeLogStreams missing group", func() error {
			_, err := c.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/missing")})
			return err
		}, notFound()},
		{"PutLogEvents missing group", func() error {
			_, err := put(t.Context(), c, "/missing", "s", []types.InputLogEvent{ev(ms(fixedNow), "x")})
			return err
		}, notFound("log group does not exist")},
		{"PutLogEvents missing stream", func() error {
			_, err := put(t.Context(), c, "/exists", "nope", []types.InputLogEvent{ev(ms(fixedNow), "x")})
			return err
		}, notFound("log stream does not exist")},
		{"GetLogEvents missing stream", func() error {
			_, err := c.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/exists"), LogStreamName: aws.String("nope")})
			return err
		}, notFound()},
		{"FilterLogEvents missing group", func() error {
			_, err := c.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/missing")})
			return err
		}, notFound()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			tc.check(t, err)
			if got := httpStatus(t, err); got != 400 {
				t.Errorf("status = %d, want 400", got)
			}
		})
	}
}

func TestCreateLogGroupOptions(t *testing.T) {
	tags50 := map[string]string{}
	for i := range 50 {
		tags50[fmt.Sprintf("k%02d", i)] = "v"
	}
	tags51 := map[string]string{"one-more": "v"}
	for k, v := range tags50 {
		tags51[k] = v
	}
	cases := []struct {
		name  string
		in    cloudwatchlogs.CreateLogGroupInput
		check func(*testing.T, error)
	}{
		{"KMS key ARN", cloudwatchlogs.CreateLogGroupInput{KmsKeyId: aws.String(kmsKey)}, nil},
		{"KMS key that is not an ARN", cloudwatchlogs.CreateLogGroupInput{KmsKeyId: aws.String("1234abcd")}, wantErr[*types.InvalidParameterException]("KMS")},
		{"KMS key marked unusable", cloudwatchlogs.CreateLogGroupInput{KmsKeyId: aws.String(kmsKey + "-disabled")}, wantErr[*types.InvalidParameterException]("does not exist or is disabled")},
		{"KMS key over 256 characters", cloudwatchlogs.CreateLogGroupInput{KmsKeyId: aws.String(kmsKey + strings.Repeat("0", 200))}, wantErr[*types.InvalidParameterException]("length less than or equal to 256")},
		{"50 tags", cloudwatchlogs.CreateLogGroupInput{Tags: tags50}, nil},
		{"51 tags", cloudwatchlogs.CreateLogGroupInput{Tags: tags51}, wantErr[*types.InvalidParameterException]("less than or equal to 50")},
		{"tag key with a forbidden character", cloudwatchlogs.CreateLogGroupInput{Tags: map[string]string{"bad!key": "v"}}, wantErr[*types.InvalidParameterException]("tags")},
		{"tag key over 128 characters", cloudwatchlogs.CreateLogGroupInput{Tags: map[string]string{strings.Repeat("k", 129): "v"}}, wantErr[*types.InvalidParameterException]("less than or equal to 128")},
		{"tag value over 256 characters", cloudwatchlogs.CreateLogGroupInput{Tags: map[string]string{"k": strings.Repeat("v", 257)}}, wantErr[*types.InvalidParameterException]("less than or equal to 256")},
		{"reserved aws: tag key", cloudwatchlogs.CreateLogGroupInput{Tags: map[string]string{"aws:owner": "v"}}, wantErr[*types.InvalidParameterException]("aws:")},
		{"log group class", cloudwatchlogs.CreateLogGroupInput{LogGroupClass: types.LogGroupClassInfrequentAccess}, nil},
		{"unknown log group class", cloudwatchlogs.CreateLogGroupInput{LogGroupClass: "COLD"}, wantErr[*types.InvalidParameterException]("enum value set")},
		{"deletion protection is refused as unsupported", cloudwatchlogs.CreateLogGroupInput{DeletionProtectionEnabled: aws.Bool(true)}, wantErr[*types.InvalidParameterException]("not supported")},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			srv.MarkKMSKeyUnusable(kmsKey + "-disabled")
			c := newClient(t, srv)
			in := tc.in
			in.LogGroupName = aws.String(fmt.Sprintf("/opts/%d", i))
			_, err := c.CreateLogGroup(t.Context(), &in)
			if tc.check != nil {
				tc.check(t, err)
				if len(srv.Groups()) != 0 {
					t.Errorf("a rejected CreateLogGroup created a group")
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateLogGroup: %v", err)
			}
			g := srv.Groups()
			if len(g) != 1 {
				t.Fatalf("Groups() = %v", g)
			}
			if in.KmsKeyId != nil && g[0].KMSKeyID != *in.KmsKeyId {
				t.Errorf("KMSKeyID = %q", g[0].KMSKeyID)
			}
			if in.Tags != nil && !reflect.DeepEqual(g[0].Tags, in.Tags) {
				t.Errorf("Tags = %v, want %v", g[0].Tags, in.Tags)
			}
			if in.LogGroupClass != "" && g[0].Class != string(in.LogGroupClass) {
				t.Errorf("Class = %q", g[0].Class)
			}
		})
	}
}

func TestDescribeLogGroups(t *testing.T) {
	srv := newServer(t, cwlogstest.WithClock(fixedClock))
	c := newClient(t, srv)
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("/app/svc-%d", 6-i) // created out of order
		createGroup(t, c, name)
		want = append([]string{name}, want...)
	}
	createGroup(t, c, "/other/one")
	createGroup(t, c, "/zzz")
	if _, err := c.PutRetentionPolicy(t.Context(), &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("/app/svc-1"), RetentionInDays: aws.Int32(30)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssociateKmsKey(t.Context(), &cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String("/app/svc-2"), KmsKeyId: aws.String(kmsKey)}); err != nil {
		t.Fatal(err)
	}
	createStream(t, c, "/app/svc-3", "s")
	mustPut(t, c, "/app/svc-3", "s", []types.InputLogEvent{ev(ms(fixedNow), "12345"), ev(ms(fixedNow), "678")})

	t.Run("prefix with pagination through the SDK paginator", func(t *testing.T) {
		p := cloudwatchlogs.NewDescribeLogGroupsPaginator(c, &cloudwatchlogs.DescribeLogGroupsInput{
			LogGroupNamePrefix: aws.String("/app/"), Limit: aws.Int32(3),
		})
		var got []types.LogGroup
		var sizes []int
		for p.HasMorePages() {
			page, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(page.LogGroups))
			got = append(got, page.LogGroups...)
		}
		if !reflect.DeepEqual(sizes, []int{3, 3, 1}) {
			t.Errorf("page sizes = %v, want [3 3 1]", sizes)
		}
		var names []string
		for _, g := range got {
			names = append(names, aws.ToString(g.LogGroupName))
			if aws.ToString(g.Arn) != "arn:aws:logs:us-east-1:123456789012:log-group:"+aws.ToString(g.LogGroupName)+":*" {
				t.Errorf("arn = %q", aws.ToString(g.Arn))
			}
			if aws.ToInt64(g.CreationTime) != ms(fixedNow) {
				t.Errorf("creationTime = %d", aws.ToInt64(g.CreationTime))
			}
			if g.StoredBytes == nil {
				t.Errorf("%s: storedBytes missing", *g.LogGroupName)
			}
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("names = %v\nwant %v", names, want)
		}
		byName := map[string]types.LogGroup{}
		for _, g := range got {
			byName[*g.LogGroupName] = g
		}
		if r := byName["/app/svc-1"].RetentionInDays; aws.ToInt32(r) != 30 {
			t.Errorf("retentionInDays = %s", ptrInt32(r))
		}
		if r := byName["/app/svc-0"].RetentionInDays; r != nil {
			t.Errorf("retentionInDays of a group without policy = %d", *r)
		}
		if k := aws.ToString(byName["/app/svc-2"].KmsKeyId); k != kmsKey {
			t.Errorf("kmsKeyId = %q", k)
		}
		if b := aws.ToInt64(byName["/app/svc-3"].StoredBytes); b != 8 {
			t.Errorf("storedBytes = %d, want 8", b)
		}
	})

	t.Run("default limit returns everything on one page", func(t *testing.T) {
		out, err := c.DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogGroups) != 9 || out.NextToken != nil {
			t.Errorf("got %d groups, nextToken %v", len(out.LogGroups), out.NextToken)
		}
	})

	t.Run("name pattern returns only arn, creationTime and name", func(t *testing.T) {
		out, err := c.DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("svc-2")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogGroups) != 1 {
			t.Fatalf("groups = %d", len(out.LogGroups))
		}
		g := out.LogGroups[0]
		if g.Arn == nil || g.CreationTime == nil || g.KmsKeyId != nil || g.StoredBytes != nil {
			t.Errorf("unexpected fields: %+v", g)
		}
	})

	errCases := []struct {
		name string
		in   cloudwatchlogs.DescribeLogGroupsInput
		msg  string
	}{
		{"limit 0", cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(0)}, "greater than or equal to 1"},
		{"limit 51", cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(51)}, "less than or equal to 50"},
		{"invalid prefix", cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("bad prefix")}, "regular expression"},
		{"prefix and pattern together", cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/app"), LogGroupNamePattern: aws.String("svc")}, "mutually exclusive"},
		{"forged nextToken", cloudwatchlogs.DescribeLogGroupsInput{NextToken: aws.String("not-a-token")}, "nextToken"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.DescribeLogGroups(t.Context(), &tc.in)
			wantErr[*types.InvalidParameterException](tc.msg)(t, err)
		})
	}
}

func TestRetentionPolicy(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	createGroup(t, c, "/ret")
	cases := []struct {
		days int32
		ok   bool
	}{
		{1, true}, {3, true}, {14, true}, {365, true}, {3653, true},
		{0, false}, {2, false}, {4, false}, {366, false}, {3654, false}, {-1, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.days), func(t *testing.T) {
			_, err := c.PutRetentionPolicy(t.Context(), &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("/ret"), RetentionInDays: aws.Int32(tc.days)})
			if !tc.ok {
				wantErr[*types.InvalidParameterException]("enum value set: [1, 3, 5, 7, 14, 30")(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.Groups()[0].RetentionInDays; got != tc.days {
				t.Errorf("RetentionInDays = %d", got)
			}
		})
	}
	t.Run("DeleteRetentionPolicy", func(t *testing.T) {
		if _, err := c.DeleteRetentionPolicy(t.Context(), &cloudwatchlogs.DeleteRetentionPolicyInput{LogGroupName: aws.String("/ret")}); err != nil {
			t.Fatal(err)
		}
		if got := srv.Groups()[0].RetentionInDays; got != 0 {
			t.Errorf("RetentionInDays = %d after delete", got)
		}
	})
}

func TestAssociateKmsKey(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	createGroup(t, c, "/kms")
	groupARN := "arn:aws:logs:us-east-1:123456789012:log-group:/kms"
	other := "arn:aws:kms:us-east-1:123456789012:key/0000aaaa-0000-0000-0000-000000000000"
	cases := []struct {
		name    string
		in      cloudwatchlogs.AssociateKmsKeyInput
		check   func(*testing.T, error)
		wantKey string
	}{
		{"by log group name", cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String("/kms"), KmsKeyId: aws.String(kmsKey)}, nil, kmsKey},
		{"by log group ARN as resourceIdentifier", cloudwatchlogs.AssociateKmsKeyInput{ResourceIdentifier: aws.String(groupARN), KmsKeyId: aws.String(other)}, nil, other},
		{"query results", cloudwatchlogs.AssociateKmsKeyInput{ResourceIdentifier: aws.String("arn:aws:logs:us-east-1:123456789012:query-result:*"), KmsKeyId: aws.String(kmsKey)}, nil, other},
		{"key that is not an ARN", cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String("/kms"), KmsKeyId: aws.String("alias/mine")}, wantErr[*types.InvalidParameterException](), other},
		{"both logGroupName and resourceIdentifier", cloudwatchlogs.AssociateKmsKeyInput{LogGroupName: aws.String("/kms"), ResourceIdentifier: aws.String(groupARN), KmsKeyId: aws.String(kmsKey)}, wantErr[*types.InvalidParameterException]("mutually exclusive"), other},
		{"neither", cloudwatchlogs.AssociateKmsKeyInput{KmsKeyId: aws.String(kmsKey)}, wantErr[*types.InvalidParameterException](), other},
		{"ARN of a missing group", cloudwatchlogs.AssociateKmsKeyInput{ResourceIdentifier: aws.String(groupARN + "-gone"), KmsKeyId: aws.String(kmsKey)}, wantErr[*types.ResourceNotFoundException](), other},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AssociateKmsKey(t.Context(), &tc.in)
			if tc.check != nil {
				tc.check(t, err)
			} else if err != nil {
				t.Fatal(err)
			}
			if got := srv.Groups()[0].KMSKeyID; got != tc.wantKey {
				t.Errorf("KMSKeyID = %q, want %q", got, tc.wantKey)
			}
		})
	}
}

func TestDeleteLogGroupRemovesStreamsAndEvents(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv)
	createGroup(t, c, "/del")
	createStream(t, c, "/del", "s")
	if _, err := c.DeleteLogGroup(t.Context(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("/del")}); err != nil {
		t.Fatal(err)
	}
	if len(srv.Groups()) != 0 || srv.Events("/del", "s") != nil {
		t.Errorf("group survived: %v", srv.Groups())
	}
	// The name can be reused.
	createGroup(t, c, "/del")
}
