# std/policy/no_plaintext: no secret-looking literal in the configuration:
# an attribute named like a credential (password, token, api_key, ...) set to
# a plain string, or a value shaped like a known credential (an AWS access
# key id, a private key, a GitHub or Slack token). Values that come from a
# `secret` block are "(secret)" in the input and pass. Messages name the
# attribute, never its value.
package std.policy.no_plaintext

import rego.v1

# Matched against the attribute's name in lower case.
credential_name := `(password|passwd|secret|token|api_?key|private_?key|credential)`

credential_shapes := [
	`AKIA[0-9A-Z]{16}`,
	`-----BEGIN [A-Z ]*PRIVATE KEY-----`,
	`gh[pousr]_[A-Za-z0-9]{36}`,
	`xox[abprs]-[A-Za-z0-9-]{10,}`,
]

# Every string in a resource's configured attributes, with its dotted path.
literals contains [resource.address, dotted, value] if {
	some resource in input.config.resources
	some path, value
	walk(resource.attributes, [path, value])
	is_string(value)
	value != "(secret)"
	value != ""
	count(path) > 0
	dotted := concat(".", [sprintf("%v", [p]) | some p in path])
}

deny contains violation if {
	some [address, dotted, _] in literals
	parts := split(dotted, ".")
	regex.match(credential_name, lower(parts[count(parts) - 1]))
	violation := {
		"msg": sprintf("%s sets `%s` to a plaintext literal; take it from a `secret` block", [address, dotted]),
		"address": address,
		"severity": "high",
	}
}

deny contains violation if {
	some [address, dotted, value] in literals
	some shape in credential_shapes
	regex.match(shape, value)
	violation := {
		"msg": sprintf("%s: `%s` holds what looks like a credential; take it from a `secret` block", [address, dotted]),
		"address": address,
		"severity": "high",
	}
}
