# std/policy/tagging: every resource that has `tags` carries the required
# tags (default: `owner`), on create and update.
#
# Settings (a data file in one of the stack's policy folders):
#   {"infra": {"tagging": {"required": ["owner", "team"]}}}
package std.policy.tagging

import rego.v1

required := object.get(data, ["infra", "tagging", "required"], ["owner"])

deny contains violation if {
	some change in input.plan.resource_changes
	some action in change.actions
	action in {"create", "update"}
	tags := change.after.tags
	is_object(tags)
	some tag in required
	not has_tag(tags, tag)
	violation := {
		"msg": sprintf("%s has no `%s` tag", [change.address, tag]),
		"address": change.address,
		"severity": "medium",
	}
}

has_tag(tags, tag) if {
	is_string(tags[tag])
	tags[tag] != ""
}
