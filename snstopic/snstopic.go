// Package snstopic publishes to Amazon SNS topics (or a service that
// speaks SNS's API), for event rules' targets: the AWS SDK for Go v2 with
// the standard configuration chain (AWS_REGION, credentials,
// AWS_ENDPOINT_URL_SNS), the region taken from each topic's ARN.
package snstopic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
)

// Publisher publishes messages. Its zero value loads the AWS
// configuration on first use.
type Publisher struct {
	once   sync.Once
	client *sns.Client
	err    error
}

// load reads the AWS configuration, once.
func (p *Publisher) load(ctx context.Context) error {
	p.once.Do(func() {
		cfg, err := config.LoadDefaultConfig(context.WithoutCancel(ctx))
		if err != nil {
			p.err = fmt.Errorf("sns: the AWS configuration: %w", err)
			return
		}
		p.client = sns.NewFromConfig(cfg)
	})
	return p.err
}

// Publish sends message to the topic arn.
func (p *Publisher) Publish(ctx context.Context, arn, subject, message string) error {
	if err := p.load(ctx); err != nil {
		return err
	}
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return fmt.Errorf("sns: %q is not a topic's ARN", arn)
	}
	in := &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(message)}
	if subject != "" {
		in.Subject = aws.String(subject)
	}
	_, err := p.client.Publish(ctx, in, func(o *sns.Options) { o.Region = parts[3] })
	if err != nil {
		return fmt.Errorf("sns: publish to %s: %w", arn, err)
	}
	return nil
}

// Check says whether the topic arn exists and can be read.
func (p *Publisher) Check(ctx context.Context, arn string) error {
	if err := p.load(ctx); err != nil {
		return err
	}
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return fmt.Errorf("sns: %q is not a topic's ARN", arn)
	}
	_, err := p.client.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)}, func(o *sns.Options) { o.Region = parts[3] })
	if err != nil {
		return fmt.Errorf("sns: topic %s: %w", arn, err)
	}
	return nil
}

// Refused reports whether SNS refused a publish for good: the topic does
// not exist, access is denied, the message is invalid.
func Refused(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultClient &&
		ae.ErrorCode() != "Throttling" && ae.ErrorCode() != "ThrottlingException" && ae.ErrorCode() != "RequestExpired"
}
