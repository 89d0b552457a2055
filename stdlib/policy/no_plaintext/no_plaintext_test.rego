package std.policy.no_plaintext_test

import rego.v1

import data.std.policy.no_plaintext

config(attributes) := {"resources": [{"address": "http_resource.api", "attributes": attributes}]}

test_a_plaintext_password_is_denied if {
	denials := no_plaintext.deny with input as {"config": config({"password": "hunter2"})}
	some denial in denials
	contains(denial.msg, "`password`")
	not contains(denial.msg, "hunter2")
}

test_a_nested_token_is_denied if {
	count(no_plaintext.deny) == 1 with input as {"config": config({"headers": {"api_token": "abc"}})}
}

test_a_secret_passes if {
	count(no_plaintext.deny) == 0 with input as {"config": config({"password": "(secret)"})}
}

test_an_aws_key_anywhere_is_denied if {
	count(no_plaintext.deny) == 1 with input as {"config": config({"body": "id=AKIAABCDEFGHIJKLMNOP"})}
}

test_ordinary_values_pass if {
	count(no_plaintext.deny) == 0 with input as {"config": config({"path": "out/app.conf", "content": "port=80"})}
}
