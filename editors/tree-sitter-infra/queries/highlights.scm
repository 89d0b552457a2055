; Highlights for `.infra` files, with nvim-treesitter's capture names (Helix
; and Zed understand most of them). Later patterns take precedence in Neovim,
; so general patterns come first (Helix takes the first match: reverse the
; order there).

; Any name not captured more precisely below, such as a `for` variable used
; inside an interpolation.
(identifier) @variable

; Literals
(string) @string
(heredoc) @string
(escape_sequence) @string.escape
(escaped_dollar) @string.escape
(escaped_percent) @string.escape
(heredoc_start) @label
(heredoc_end) @label
(number) @number
(attribute_index) @number
(bool) @boolean
(null) @constant.builtin

; Blocks: the kind is a keyword; labels are names, and the first label of a
; `resource` or `data` block is a resource type.
(block
  kind: (identifier) @keyword)

(block
  label: (string) @string.special)

(block
  kind: (identifier) @_kind
  .
  label: (string
    (string_content) @type)
  (#any-of? @_kind "resource" "data"))

; Attributes and keys
(attribute
  name: (identifier) @property)

(type_attribute
  name: (identifier) @property)

(object_entry
  key: (identifier) @property)

(type_field
  name: (identifier) @property)

(attribute_access
  name: (identifier) @variable.member)

; References: the roots the language knows.
(attribute_access
  object: (identifier) @variable.builtin
  (#any-of? @variable.builtin
    "var" "env" "secret" "local" "each" "count" "self" "module" "data" "service"))

(for_list
  variable: (identifier) @variable.parameter)

(for_object
  variable: (identifier) @variable.parameter)

(template_for
  variable: (identifier) @variable.parameter)

; Calls
(function_call
  function: (identifier) @function.call)

; Types
(primitive_type) @type.builtin

(type_constructor
  name: (identifier) @type.builtin)

; Keywords and operators
[
  "for"
  "in"
  "endfor"
] @keyword.repeat

[
  "if"
  "else"
  "endif"
] @keyword.conditional

[
  "!"
  "-"
  "+"
  "*"
  "/"
  "%"
  "=="
  "!="
  "<"
  "<="
  ">"
  ">="
  "&&"
  "||"
  "?"
  ":"
  "="
  "=>"
] @operator

(ellipsis) @operator

; Punctuation
(interpolation
  [
    "${"
    "}"
  ] @punctuation.special)

(template_if
  [
    "%{"
    "}"
  ] @punctuation.special)

(template_else
  [
    "%{"
    "}"
  ] @punctuation.special)

(template_endif
  [
    "%{"
    "}"
  ] @punctuation.special)

(template_for
  [
    "%{"
    "}"
  ] @punctuation.special)

(template_endfor
  [
    "%{"
    "}"
  ] @punctuation.special)

(strip_marker) @punctuation.special

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ","
  "."
] @punctuation.delimiter

(comment) @comment @spell
