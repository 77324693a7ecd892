package cwlogs

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/postern/postern/lazyregexp"
)

// Naming rules from the CloudWatch Logs API reference (CreateLogGroup,
// CreateLogStream).
var reGroupName = lazyregexp.New(`^[\.\-_/#A-Za-z0-9]+$`)

const maxNameLen = 512

// checkGroupName reports why name is not a valid log group name, or "".
func checkGroupName(name string) string {
	switch {
	case name == "":
		return "the name is empty"
	case len(name) > maxNameLen:
		return fmt.Sprintf("it is %d characters long, more than %d", len(name), maxNameLen)
	case !reGroupName.MatchString(name):
		return "log group names may contain only a-z, A-Z, 0-9, '_' (underscore), '-' (hyphen), '/' (forward slash), '.' (period) and '#' (number sign)"
	}
	return ""
}

// checkStreamName reports why name is not a valid log stream name, or "".
func checkStreamName(name string) string {
	switch {
	case name == "":
		return "the name is empty"
	case !utf8.ValidString(name):
		return "it is not valid UTF-8"
	case utf8.RuneCountInString(name) > maxNameLen:
		return fmt.Sprintf("it is longer than %d characters", maxNameLen)
	case strings.ContainsAny(name, ":*"):
		return "log stream names may not contain ':' (colon) or '*' (asterisk)"
	}
	return ""
}

// checkNames validates a group and a stream name for an upload.
func checkNames(op, group, stream string) error {
	if why := checkGroupName(group); why != "" {
		return &Error{Kind: ErrInvalidName, Msg: fmt.Sprintf("cloudwatch logs: %s: log group name %q is not valid: %s", op, group, why)}
	}
	if why := checkStreamName(stream); why != "" {
		return &Error{Kind: ErrInvalidName, Msg: fmt.Sprintf("cloudwatch logs: %s: log stream name %q is not valid: %s", op, stream, why)}
	}
	return nil
}

const refusePrefix = "We couldn't start the session because "

// Check verifies, before a session starts, that the log group named by the
// preferences can receive its log: the name is valid, the group exists
// (DescribeLogGroups with the name as prefix, then an exact match; the service
// returns groups ASCII-sorted by name, so the group, if it exists, is the
// first of the first page), and, when t.RequireEncryption, that it has a KMS
// key. Every error is a sentence for the person whose session is refused, in
// Session Manager's wording where Session Manager has one, naming the group
// and the region; its Kind tells the reason (ErrInvalidName,
// ErrLogGroupNotFound, ErrNotEncrypted, ErrAccessDenied, ErrWrongRegion,
// ErrTimeout, ErrUnavailable).
//
// The whole check, retries of throttled requests included, takes at most
// Config.Timeout.
func (c *Client) Check(ctx context.Context, t Target) error {
	if why := checkGroupName(t.LogGroup); why != "" {
		return &Error{Kind: ErrInvalidName, Msg: fmt.Sprintf(refusePrefix+
			"the CloudWatch Logs log group name %q (cloudWatchLogGroupName) is not valid: %s. Correct cloudWatchLogGroupName in the session preferences.", t.LogGroup, why)}
	}
	bctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var out *cloudwatchlogs.DescribeLogGroupsOutput
	err := c.call(bctx, func(ctx context.Context) error {
		var err error
		out, err = c.api.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{
			LogGroupNamePrefix: aws.String(t.LogGroup),
			Limit:              aws.Int32(50),
		})
		return err
	})
	if err != nil {
		if ctx.Err() == nil && bctx.Err() != nil {
			err = &timeoutError{after: c.timeout, err: err}
		}
		kind, clause := c.explain(err, "checking log group "+t.LogGroup, t.LogGroup)
		return &Error{Kind: kind, Msg: refusePrefix + strings.TrimRight(clause, ". ") + ".", Err: err}
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) != t.LogGroup {
			continue
		}
		if t.RequireEncryption && aws.ToString(g.KmsKeyId) == "" {
			return &Error{Kind: ErrNotEncrypted, Msg: fmt.Sprintf(refusePrefix+
				"encryption is not set up on the selected CloudWatch Logs log group %s. Either encrypt the log group or choose an option to enable logging without encryption.", t.LogGroup)}
		}
		return nil
	}
	return &Error{Kind: ErrLogGroupNotFound, Msg: fmt.Sprintf(refusePrefix+
		"the CloudWatch Logs log group %s (cloudWatchLogGroupName) does not exist in region %s. Create the log group in %s, or correct cloudWatchLogGroupName or the region Postern uses for CloudWatch Logs.", t.LogGroup, c.region, c.region)}
}
