# std/policy/postgres: no `postgres_role` with `superuser = true` (created or
# changed to it).
package std.policy.postgres

import rego.v1

deny contains violation if {
	some change in input.plan.resource_changes
	change.type == "postgres_role"
	some action in change.actions
	action in {"create", "update"}
	change.after.superuser == true
	violation := {
		"msg": sprintf("%s is a superuser role; grant the privileges it needs instead", [change.address]),
		"address": change.address,
		"severity": "high",
	}
}
