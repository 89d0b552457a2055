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

# One pattern for every credential shape, so each string is matched once.
credential_shape := `AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|gh[pousr]_[A-Za-z0-9]{36}|xox[abprs]-[A-Za-z0-9-]{10,}`

# Cheap substring tests that every match of the patterns above contains:
# the regular expressions run only on the few strings that pass them.
name_hints := ["pass", "secret", "token", "key", "credential"]

shape_hints := ["AKIA", "PRIVATE KEY", "gh", "xox"]

# The strings in a resource's configured attributes, at any depth, with
# their paths.
literal(resource) := [[path, value] |
	some path, value
	walk(resource.attributes, [path, value])
	is_string(value)
	value != "(secret)"
	value != ""
]

dotted(path) := concat(".", [sprintf("%v", [p]) | some p in path])

deny contains violation if {
	some resource in input.config.resources
	some [path, _] in literal(resource)
	count(path) > 0
	name := lower(sprintf("%v", [path[count(path) - 1]]))
	some hint in name_hints
	contains(name, hint)
	regex.match(credential_name, name)
	violation := {
		"msg": sprintf("%s sets `%s` to a plaintext literal; take it from a `secret` block", [resource.address, dotted(path)]),
		"address": resource.address,
		"severity": "high",
	}
}

deny contains violation if {
	some resource in input.config.resources
	some [path, value] in literal(resource)
	some hint in shape_hints
	contains(value, hint)
	regex.match(credential_shape, value)
	violation := {
		"msg": sprintf("%s: `%s` holds what looks like a credential; take it from a `secret` block", [resource.address, dotted(path)]),
		"address": resource.address,
		"severity": "high",
	}
}
