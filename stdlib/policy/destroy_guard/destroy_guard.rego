# std/policy/destroy_guard: no deletes (or replacements) in a protected
# environment, unless an allow list names the address.
#
# Settings (a data file in one of the stack's policy folders):
#   {"infra": {"destroy_guard": {"allow": ["null_resource.scratch"]}}}
package std.policy.destroy_guard

import rego.v1

allowed := object.get(data, ["infra", "destroy_guard", "allow"], [])

deny contains violation if {
	input.environment.protected
	some change in input.plan.resource_changes
	"delete" in change.actions
	not change.address in allowed
	violation := {
		"msg": sprintf(
			"%s would be destroyed in protected environment %s; add it to infra.destroy_guard.allow to allow it",
			[change.address, input.environment.name],
		),
		"address": change.address,
		"severity": "high",
	}
}
