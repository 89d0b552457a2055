package files_test

import rego.v1

import data.files

file(path, permissions) := {"plan": {"resource_changes": [{
	"address": "local_file.f",
	"type": "local_file",
	"actions": ["create"],
	"after": {"path": path, "permissions": permissions},
}]}}

test_a_file_under_out_passes if {
	count(files.deny) == 0 with input as file("out/dev/a.txt", "0644")
	count(files.warn) == 0 with input as file("out/dev/a.txt", "0644")
}

test_a_file_outside_out_is_denied if {
	count(files.deny) == 1 with input as file("../a.txt", "0644")
}

test_a_world_writable_file_is_a_warning if {
	count(files.deny) == 0 with input as file("out/a.txt", "0666")
	count(files.warn) == 1 with input as file("out/a.txt", "0666")
}
