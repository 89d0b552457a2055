package std.policy.postgres_test

import rego.v1

import data.std.policy.postgres

role(after, actions) := {"resource_changes": [{
	"address": "postgres_role.app",
	"type": "postgres_role",
	"actions": actions,
	"after": after,
}]}

test_a_superuser_role_is_denied if {
	denials := postgres.deny with input as {"plan": role({"name": "app", "superuser": true}, ["create"])}
	some denial in denials
	denial.address == "postgres_role.app"
}

test_an_update_to_superuser_is_denied if {
	count(postgres.deny) == 1 with input as {"plan": role({"name": "app", "superuser": true}, ["update"])}
}

test_an_ordinary_role_passes if {
	count(postgres.deny) == 0 with input as {"plan": role({"name": "app", "superuser": false}, ["create"])}
}

test_deleting_a_superuser_role_passes if {
	count(postgres.deny) == 0 with input as {"plan": role(null, ["delete"])}
}
