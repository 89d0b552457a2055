package ownership_test

import rego.v1

import data.ownership

deploy(triggers) := {"plan": {"resource_changes": [{
	"address": "null_resource.deploy",
	"type": "null_resource",
	"actions": ["create"],
	"after": {"triggers": triggers},
}]}}

test_an_owned_resource_passes if {
	count(ownership.deny) == 0 with input as deploy({"owner": "web-team"})
}

test_a_resource_without_owner_is_denied if {
	count(ownership.deny) == 1 with input as deploy({"team": "web"})
}
