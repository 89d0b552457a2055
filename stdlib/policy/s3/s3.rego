# std/policy/s3: no public S3 buckets, for stacks with the AWS provider: a
# public canned ACL on `aws_s3_bucket` or `aws_s3_bucket_acl`, or an
# `aws_s3_bucket_public_access_block` that turns a block off.
package std.policy.s3

import rego.v1

public_acls := {"public-read", "public-read-write", "authenticated-read"}

blocks := ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]

writes(change) if {
	some action in change.actions
	action in {"create", "update"}
}

deny contains violation if {
	some change in input.plan.resource_changes
	change.type in {"aws_s3_bucket", "aws_s3_bucket_acl"}
	writes(change)
	change.after.acl in public_acls
	violation := {
		"msg": sprintf("%s makes a bucket public (acl %s)", [change.address, change.after.acl]),
		"address": change.address,
		"severity": "high",
	}
}

deny contains violation if {
	some change in input.plan.resource_changes
	change.type == "aws_s3_bucket_public_access_block"
	writes(change)
	some block in blocks
	change.after[block] == false
	violation := {
		"msg": sprintf("%s turns off %s", [change.address, block]),
		"address": change.address,
		"severity": "high",
	}
}
