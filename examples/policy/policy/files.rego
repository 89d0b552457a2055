# Files are written under out/ only, and are not world-writable.
package files

import rego.v1

deny contains violation if {
	some change in input.plan.resource_changes
	change.type == "local_file"
	"create" in change.actions
	not startswith(change.after.path, "out/")
	violation := {
		"msg": sprintf("%s writes outside out/ (%s)", [change.address, change.after.path]),
		"address": change.address,
		"severity": "high",
	}
}

warn contains violation if {
	some change in input.plan.resource_changes
	change.type == "local_file"
	some action in change.actions
	action in {"create", "update"}
	endswith(change.after.permissions, "6")
	violation := {
		"msg": sprintf("%s is world-writable (%s)", [change.address, change.after.permissions]),
		"address": change.address,
	}
}
