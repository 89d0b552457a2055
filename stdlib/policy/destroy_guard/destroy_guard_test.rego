package std.policy.destroy_guard_test

import rego.v1

import data.std.policy.destroy_guard

plan(actions) := {"resource_changes": [{"address": "null_resource.db", "actions": actions}]}

test_a_delete_in_a_protected_environment_is_denied if {
	denials := destroy_guard.deny with input as {
		"environment": {"name": "prod", "protected": true},
		"plan": plan(["delete"]),
	}
	some denial in denials
	denial.address == "null_resource.db"
}

test_a_replace_in_a_protected_environment_is_denied if {
	count(destroy_guard.deny) == 1 with input as {
		"environment": {"name": "prod", "protected": true},
		"plan": plan(["delete", "create"]),
	}
}

test_a_delete_in_an_unprotected_environment_passes if {
	count(destroy_guard.deny) == 0 with input as {
		"environment": {"name": "dev", "protected": false},
		"plan": plan(["delete"]),
	}
}

test_the_allow_list_lets_a_delete_through if {
	count(destroy_guard.deny) == 0 with input as {
		"environment": {"name": "prod", "protected": true},
		"plan": plan(["delete"]),
	}
		with data.infra.destroy_guard.allow as ["null_resource.db"]
}

test_creates_pass if {
	count(destroy_guard.deny) == 0 with input as {
		"environment": {"name": "prod", "protected": true},
		"plan": plan(["create"]),
	}
}
