// Package stacktemplate parses, validates and renders templates of Postern
// resources in the shape of CloudFormation templates: what a rollout to
// every account of an organization (as CloudFormation StackSets does)
// deploys. It creates nothing and talks to no server: [Parse] checks a
// template, and [Template.Render] resolves it for one account and its
// parameter values into resources in dependency order, each with a content
// hash that tells a deployed resource that drifted or is outdated (and
// [Diff] says in which fields).
//
// # Format
//
// A template is YAML or JSON, at most [MaxSize] bytes, with CloudFormation's
// sections:
//
//	AWSTemplateFormatVersion: "2010-09-09"   # optional; the only version
//	Description: text                        # optional, up to 1024 bytes
//	Metadata: {...}                          # optional, free-form
//	Parameters: {Name: {...}, ...}           # optional, up to 200
//	Resources: {LogicalId: {...}, ...}       # required, 1 to 500
//	Outputs: {Name: {Description, Value}}    # optional, up to 200
//
// Conditions, Mappings, Rules and Transform are refused, as is anything
// else, by name. Names of parameters, resources and outputs are 1–255
// letters and digits, and a parameter and a resource may not share one.
//
// A parameter has Type (String, Number or CommaDelimitedList, whose value
// "a, b" is the list [a, b]), and optionally Description, Default,
// AllowedValues, AllowedPattern (RE2, matching the whole value),
// MinLength and MaxLength (String), MinValue and MaxValue (Number) and
// ConstraintDescription, as in CloudFormation. A parameter without a
// Default must be given a value; values are at most 4096 bytes.
//
// A resource has Type and Properties, and optionally DependsOn (a logical
// id or a list of them), DeletionPolicy (Delete, the default, or Retain:
// the resource stays in the account when it leaves the template or the
// stack instance is deleted; a key is deleted as KMS deletes one, after
// its PendingWindowInDays) and Metadata. Condition, CreationPolicy, UpdatePolicy and UpdateReplacePolicy
// are refused. Postern reads one key of Metadata, which CloudFormation
// leaves to templates:
//
//	Metadata:
//	  Postern:
//	    Protected: true
//
// marks the resource protected: a change made in the member account is
// refused rather than only reported as drift ([Resource].Protected).
//
// # Resource types
//
// The types, with the properties Postern acts on (CloudFormation's names
// and meanings; CloudFormation's other properties of these types are
// refused by name, never ignored), what !Ref gives, and the attributes of
// !GetAtt:
//
//   - AWS::Logs::LogGroup: LogGroupName (CloudWatch Logs' rules; made up
//     from the stack and logical id when left out, as CloudFormation does),
//     RetentionInDays (one of CloudWatch Logs' values; left out, events
//     never expire), KmsKeyId (a key id, key ARN, alias or alias ARN of the
//     same account). Ref: the name. GetAtt: Arn
//     (prn:postern:logs:ACCOUNT:log-group/NAME).
//   - AWS::SSM::Document: DocumentType (required, Session: Postern's
//     documents are session documents), Name (a document name, or
//     Postern-SessionManagerRunShell, also written SSM-SessionManagerRunShell,
//     for the account's preferences), DocumentFormat (JSON, the default,
//     or YAML), Content (the session document as an object, or its text),
//     checked by package document as `postern documents create` checks
//     it: every input of the preferences (s3BucketName,
//     cloudWatchLogGroupName, cloudWatchStreamingEnabled,
//     idleSessionTimeout, maxSessionDuration, kmsKeyId, runAsEnabled,
//     runAsDefaultUser, shellProfile ...), with the document's own paths in
//     errors (Content.inputs.idleSessionTimeout). Ref: the name.
//   - AWS::KMS::Key: Description, Enabled (default true), EnableKeyRotation
//     (default false, as in CloudFormation) and RotationPeriodInDays
//     (90–2560, default 365), KeyPolicy (an object or its JSON text,
//     checked by keys.ParsePolicy; left out, keys.DefaultPolicy), KeySpec
//     (SYMMETRIC_DEFAULT), KeyUsage (ENCRYPT_DECRYPT), PendingWindowInDays
//     (7–30, default 30: the wait before a deleted key is destroyed). Ref:
//     the key id, which the service assigns (see [Template.AssignedIDs]).
//     GetAtt: Arn (prn:postern:kms:ACCOUNT:key/ID), KeyId.
//   - AWS::KMS::Alias: AliasName (alias/...), TargetKeyId (a key id or key
//     ARN of the same account). Ref: the alias name.
//   - Postern::Authz::Policy: PolicyId (as `postern policy put` takes it;
//     made up when left out), Statement (Cedar text: one or more
//     policies, parsed as package authz parses them; no two policies of a
//     template may share an @id). Ref: the policy id.
//
// Any other type is refused by name.
//
// # Intrinsic functions
//
// Ref (!Ref), Fn::GetAtt (!GetAtt Resource.Attribute or
// [Resource, Attribute]) and Fn::Sub (!Sub "text ${Name}" or
// [text, {Var: value}]), in a resource's Properties and an output's Value,
// long or short form; every other function is refused by name. !Ref and
// ${Name} name a parameter, a resource or a pseudo parameter
// (AWS::AccountId, AWS::Region, AWS::Partition, which is "postern", and
// AWS::StackName); ${Resource.Attribute} is !GetAtt; ${!text} is the text
// ${text}. A name that names nothing is an error, and so is a resource that
// refers to itself, through others or directly: Render puts each resource
// after everything it refers to or names in DependsOn.
//
// # Errors
//
// Every problem is reported, up to 50, each an [*Error] with the line,
// column and path where it is:
//
//	baseline.yaml:14:24: Resources.SessionLogs.Properties.RetentionInDays: 42 is not one of CloudWatch Logs' retention values (1, 3, 5, ...)
//
// Parse checks what is written out; a value made of parameters or of the
// account (a log group name made with !Sub) is checked by Render, which a
// rollout calls for every target account before it deploys to any.
//
// # Bounds
//
// Parse reads at most [MaxSize] (256 KiB; CloudFormation takes 51,200
// bytes inline, 1 MB from S3), [MaxResources], [MaxParameters] and
// [MaxOutputs] (500, 200, 200: CloudFormation's), values nested at most 32
// deep, and refuses YAML anchors, aliases and merge keys outright
// (CloudFormation refuses them too), so that no alias expands; Render
// stops once references would copy more than 4 MiB of text. Parse and
// Render take time and memory in proportion to the template's size: at
// worst some 300 bytes allocated per byte of template.
package stacktemplate
