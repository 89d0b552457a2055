package std.policy.tagging_test

import rego.v1

import data.std.policy.tagging

change(tags) := {
	"address": "aws_s3_bucket.logs",
	"type": "aws_s3_bucket",
	"actions": ["create"],
	"after": {"bucket": "logs", "tags": tags},
}

test_a_tagged_resource_passes if {
	count(tagging.deny) == 0 with input as {"plan": {"resource_changes": [change({"owner": "web-team"})]}}
}

test_a_resource_without_the_owner_tag_is_denied if {
	denials := tagging.deny with input as {"plan": {"resource_changes": [change({"team": "web"})]}}
	some denial in denials
	denial.address == "aws_s3_bucket.logs"
	contains(denial.msg, "owner")
}

test_an_empty_owner_is_denied if {
	count(tagging.deny) == 1 with input as {"plan": {"resource_changes": [change({"owner": ""})]}}
}

test_resources_without_tags_are_not_checked if {
	count(tagging.deny) == 0 with input as {"plan": {"resource_changes": [{
		"address": "null_resource.x",
		"actions": ["create"],
		"after": {"triggers": {}},
	}]}}
}

test_deletes_are_not_checked if {
	count(tagging.deny) == 0 with input as {"plan": {"resource_changes": [{
		"address": "aws_s3_bucket.logs",
		"actions": ["delete"],
		"after": null,
	}]}}
}

test_the_required_tags_come_from_data if {
	denials := tagging.deny with input as {"plan": {"resource_changes": [change({"owner": "a"})]}}
		with data.infra.tagging.required as ["owner", "team"]
	count(denials) == 1
}
