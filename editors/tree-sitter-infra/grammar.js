/**
 * @file The tree-sitter grammar of `.infra` files.
 *
 * It mirrors `grammar/infra.pest`, the grammar the compiler uses; keep the two
 * in step. Highlighting and navigation only: the compiler never reads this
 * tree. Like the pest grammar it is newline-insensitive (an item always starts
 * with an identifier, and nothing can continue an expression with a bare
 * identifier), and a call needs its `(` right after the name.
 *
 * `src/scanner.c` scans what a context-free lexer cannot: heredocs (the
 * closing marker must match the opening one) and the text of quoted strings
 * (so that a `#` or `//` inside a string is not read as a comment).
 *
 * Template directives (`%{ if C }`, `%{ else }`, `%{ endif }`,
 * `%{ for x in L }`, `%{ endfor }`) are flat parts of a string or heredoc, as
 * in the pest grammar, which pairs them when lowering: a half-typed `%{ if }`
 * does not turn the rest of the file into an error, and nesting them in the
 * tree multiplied the parse table by fifteen.
 */

/// Binding strengths, as in `src/syntax/ast.rs` (`BinaryOp::precedence`):
/// the conditional is loosest, postfixes bind tightest.
const PREC = {
  conditional: 0,
  or: 1,
  and: 2,
  equality: 3,
  comparison: 4,
  additive: 5,
  multiplicative: 6,
  unary: 7,
  postfix: 8,
};

/** One or more `rule` separated by commas. */
function commaSep1(rule) {
  return seq(rule, repeat(seq(',', rule)));
}

/** A directive: `%{`, an optional `~`, `body`, an optional `~`, `}`. */
function directive($, ...body) {
  return seq('%{', optional($.strip_marker), ...body, optional($.strip_marker), '}');
}

module.exports = grammar({
  name: 'infra',

  // Keywords (`for`, `in`, `if`, `true`, `false`, `null`, `type`) are only
  // keywords where the grammar expects one: `for = 1` is an attribute.
  word: $ => $.identifier,

  externals: $ => [
    $.heredoc_start,
    // The rest of the opening line: blanks and the newline.
    $._heredoc_opening_end,
    $.heredoc_content,
    $.heredoc_end,
    $.string_content,
    // Never produced: it is valid only during error recovery, which tells
    // the scanner to stay out of the way.
    $._error_sentinel,
  ],

  extras: $ => [/\s/, $.comment],

  // `type = T` is a type when T reads as one, an ordinary attribute
  // otherwise (`type = "A"`, `type = string == x`); the GLR parser tries both
  // and the dynamic precedence of `type_attribute` settles a tie.
  conflicts: $ => [
    [$._type, $._expression],
    [$.tuple_type, $.list],
    [$.object_type, $.object],
  ],

  rules: {
    source_file: $ => repeat($._body_item),

    // ------------------------------------------------------------------
    // Bodies, blocks and attributes
    // ------------------------------------------------------------------

    _body_item: $ => seq(choice($.attribute, $.type_attribute, $.block), optional(',')),

    attribute: $ => seq(
      field('name', choice($.identifier, alias('type', $.identifier))),
      '=',
      field('value', $._expression),
    ),

    /// `type = T` with T a type expression.
    type_attribute: $ => prec.dynamic(1, seq(
      field('name', alias('type', $.identifier)),
      '=',
      field('type', $._type),
    )),

    /// `kind "label"... { body }`.
    block: $ => seq(
      field('kind', $.identifier),
      repeat(field('label', $.string)),
      field('body', $.block_body),
    ),

    block_body: $ => seq('{', repeat($._body_item), '}'),

    // ------------------------------------------------------------------
    // Expressions
    // ------------------------------------------------------------------

    _expression: $ => choice(
      $.identifier,
      $.number,
      $.bool,
      $.null,
      $.string,
      $.heredoc,
      $.list,
      $.object,
      $.for_list,
      $.for_object,
      $.parenthesized_expression,
      $.function_call,
      $.attribute_access,
      $.index_expression,
      $.splat_expression,
      $.unary_expression,
      $.binary_expression,
      $.conditional_expression,
    ),

    parenthesized_expression: $ => seq('(', $._expression, ')'),

    unary_expression: $ => prec(PREC.unary, seq(
      field('operator', choice('!', '-')),
      field('operand', $._expression),
    )),

    binary_expression: $ => {
      const table = [
        [PREC.or, '||'],
        [PREC.and, '&&'],
        [PREC.equality, choice('==', '!=')],
        [PREC.comparison, choice('<', '<=', '>', '>=')],
        [PREC.additive, choice('+', '-')],
        [PREC.multiplicative, choice('*', '/', '%')],
      ];
      return choice(...table.map(([precedence, operator]) => prec.left(precedence, seq(
        field('left', $._expression),
        field('operator', operator),
        field('right', $._expression),
      ))));
    },

    /// `cond ? then : else`, right-associative.
    conditional_expression: $ => prec.right(PREC.conditional, seq(
      field('condition', $._expression),
      '?',
      field('consequence', $._expression),
      ':',
      field('alternative', $._expression),
    )),

    /// `.name`, or the legacy `.0`.
    attribute_access: $ => prec(PREC.postfix, seq(
      field('object', $._expression),
      '.',
      field('name', choice($.identifier, $.attribute_index)),
    )),

    attribute_index: _ => /[0-9]+/,

    index_expression: $ => prec(PREC.postfix, seq(
      field('object', $._expression),
      '[',
      field('index', $._expression),
      ']',
    )),

    /// `[*]`: the full splat.
    splat_expression: $ => prec(PREC.postfix, seq(
      field('object', $._expression),
      '[', '*', ']',
    )),

    /// `f(a, b)`, `f(list...)`; no space between the name and `(`.
    function_call: $ => seq(
      field('function', $.identifier),
      token.immediate('('),
      optional(seq(
        commaSep1(field('argument', $._expression)),
        optional($.ellipsis),
        optional(','),
      )),
      ')',
    ),

    ellipsis: _ => '...',

    // ------------------------------------------------------------------
    // Collections and `for` expressions
    // ------------------------------------------------------------------

    list: $ => seq(
      '[',
      optional(seq(commaSep1($._expression), optional(','))),
      ']',
    ),

    /// Entries are separated by commas and/or whitespace.
    object: $ => seq('{', repeat(seq($.object_entry, optional(','))), '}'),

    object_entry: $ => seq(
      field('key', choice($.identifier, $.string, $.parenthesized_expression)),
      choice('=', ':'),
      field('value', $._expression),
    ),

    /// `[for k, v in coll : value if cond]`.
    for_list: $ => seq(
      '[',
      $._for_intro,
      field('value', $._expression),
      optional($.for_condition),
      ']',
    ),

    /// `{for k, v in coll : key => value... if cond}`.
    for_object: $ => seq(
      '{',
      $._for_intro,
      field('key', $._expression),
      '=>',
      field('value', $._expression),
      optional($.ellipsis),
      optional($.for_condition),
      '}',
    ),

    /// `for k, v in coll :`; the first name is the key when two are given.
    _for_intro: $ => seq(
      'for',
      field('variable', $.identifier),
      optional(seq(',', field('variable', $.identifier))),
      'in',
      field('collection', $._expression),
      ':',
    ),

    for_condition: $ => seq('if', $._expression),

    // ------------------------------------------------------------------
    // Literals
    // ------------------------------------------------------------------

    /// Unsigned (a sign is the unary `-`); the exponent digits are optional
    /// as in the pest grammar, which reports `1e` as an invalid number.
    number: _ => /[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]*)?/,

    bool: _ => choice('true', 'false'),

    null: _ => 'null',

    /// A quoted string with `${}` interpolations and `%{}` directives; it
    /// cannot span lines.
    string: $ => seq(
      '"',
      repeat(choice(
        $.string_content,
        $.escape_sequence,
        $.interpolation,
        $.escaped_dollar,
        $.escaped_percent,
        $._template_directive,
      )),
      token.immediate('"'),
    ),

    escape_sequence: _ => token.immediate(
      /\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[^\n])/,
    ),

    /// `$${` is a literal `${`. Not `token.immediate`: the scanner leaves the
    /// indentation of a heredoc line out of every token, so `${` and `$${` may
    /// follow skipped blanks there (in a quoted string they never do).
    escaped_dollar: _ => '$${',

    /// `%%{` is a literal `%{`.
    escaped_percent: _ => '%%{',

    /// `${x}`, `${~ x ~}`.
    interpolation: $ => seq(
      '${',
      optional($.strip_marker),
      $._expression,
      optional($.strip_marker),
      '}',
    ),

    /// `~` after `${`/`%{` or before `}`: strips the whitespace beside it.
    strip_marker: _ => '~',

    _template_directive: $ => choice(
      $.template_if,
      $.template_else,
      $.template_endif,
      $.template_for,
      $.template_endfor,
    ),

    /// `%{ if C }`: the text up to the matching `%{ else }` or `%{ endif }`
    /// is kept when C is true.
    template_if: $ => directive($, 'if', field('condition', $._expression)),

    template_else: $ => directive($, 'else'),

    template_endif: $ => directive($, 'endif'),

    /// `%{ for x in L }`, `%{ for k, v in M }`: the text up to the matching
    /// `%{ endfor }` is repeated.
    template_for: $ => directive(
      $,
      'for',
      field('variable', $.identifier),
      optional(seq(',', field('variable', $.identifier))),
      'in',
      field('collection', $._expression),
    ),

    template_endfor: $ => directive($, 'endfor'),

    /// `<<EOT` or `<<-EOT`, whole lines, then the marker alone on its line.
    heredoc: $ => seq(
      $.heredoc_start,
      $._heredoc_opening_end,
      repeat(choice(
        $.heredoc_content,
        $.interpolation,
        $.escaped_dollar,
        $.escaped_percent,
        $._template_directive,
      )),
      $.heredoc_end,
    ),

    // ------------------------------------------------------------------
    // Type expressions (the value of an attribute named `type`)
    // ------------------------------------------------------------------

    _type: $ => choice(
      alias($.identifier, $.primitive_type),
      $.type_constructor,
    ),

    /// `list(T)`, `set(T)`, `map(T)`, `optional(T)`, `tuple([T, ...])`,
    /// `object({ a = T })`; the checker knows the names.
    type_constructor: $ => seq(
      field('name', $.identifier),
      token.immediate('('),
      field('argument', choice($._type, $.tuple_type, $.object_type)),
      ')',
    ),

    tuple_type: $ => seq(
      '[',
      optional(seq(commaSep1($._type), optional(','))),
      ']',
    ),

    object_type: $ => seq('{', repeat(seq($.type_field, optional(','))), '}'),

    /// `name = T` (or `name: T`) inside `object({...})`.
    type_field: $ => seq(
      field('name', $.identifier),
      choice('=', ':'),
      field('type', $._type),
    ),

    // ------------------------------------------------------------------
    // Identifiers and comments
    // ------------------------------------------------------------------

    /// ASCII letters, digits and `_`, not starting with a digit; `-` is
    /// subtraction, unlike HCL.
    identifier: _ => /[A-Za-z_][A-Za-z0-9_]*/,

    /// `# ...` and `// ...` to the end of the line, `/* ... */` (not nested).
    comment: _ => token(choice(
      seq('#', /[^\n]*/),
      seq('//', /[^\n]*/),
      seq('/*', /[^*]*\*+([^/*][^*]*\*+)*/, '/'),
    )),
  },
});
