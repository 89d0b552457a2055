package std.policy.s3_test

import rego.v1

import data.std.policy.s3

plan(type, after) := {"resource_changes": [{
	"address": sprintf("%s.logs", [type]),
	"type": type,
	"actions": ["create"],
	"after": after,
}]}

test_a_public_read_bucket_is_denied if {
	count(s3.deny) == 1 with input as {"plan": plan("aws_s3_bucket", {"bucket": "logs", "acl": "public-read"})}
}

test_a_public_bucket_acl_is_denied if {
	count(s3.deny) == 1 with input as {"plan": plan("aws_s3_bucket_acl", {"acl": "public-read-write"})}
}

test_a_private_bucket_passes if {
	count(s3.deny) == 0 with input as {"plan": plan("aws_s3_bucket", {"bucket": "logs", "acl": "private"})}
}

test_turning_off_a_public_access_block_is_denied if {
	denials := s3.deny with input as {"plan": plan("aws_s3_bucket_public_access_block", {
		"block_public_acls": true,
		"block_public_policy": false,
		"ignore_public_acls": true,
		"restrict_public_buckets": true,
	})}
	count(denials) == 1
}
