# Every null_resource names the team that owns it in its triggers.
package ownership

import rego.v1

deny contains violation if {
	some change in input.plan.resource_changes
	change.type == "null_resource"
	"create" in change.actions
	not change.after.triggers.owner
	violation := {
		"msg": sprintf("%s has no owner in its triggers", [change.address]),
		"address": change.address,
	}
}
