; Scopes and definitions for `.infra` files: the variables a `for`
; expression introduces are local to it. Everything else is reached through a
; reference root (`var.x`, `local.y`) and resolved by `infra lsp`, not here.

(source_file) @local.scope

(for_list) @local.scope

(for_object) @local.scope

(for_list
  variable: (identifier) @local.definition.var)

(for_object
  variable: (identifier) @local.definition.var)

(identifier) @local.reference
