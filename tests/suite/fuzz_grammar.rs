//! Fuzzing with meaning: a grammar-aware generator builds whole stacks that
//! are valid by construction, and almost-valid ones (one mutation away).
//!
//! The generator renders text from typed strategies, one per kind of value
//! (string, number, bool, list of strings, map of strings), so every
//! reference it writes names something declared earlier and every operator
//! gets operands of its type. A stack holds every kind of block (stack,
//! variable, environment, secret, provider, locals, resource, data, module
//! with a local source, output, moved, import), expressions of every form
//! (strings with interpolation, template directives (`%{ if }`, `%{ for }`,
//! with and without `~` strip markers) and escapes, heredocs, numbers, bools, null,
//! lists, maps, references, indexing, arithmetic, comparisons, `&&` `||` `!`,
//! conditionals, function calls, `for` expressions) and comments of all three
//! kinds, on their own line and trailing.
//!
//! For every valid stack:
//! - it checks without errors and plans (the generator's own contract; a
//!   `data "http"` block, which some stacks have, may stop planning);
//! - `fmt(x)` parses and `fmt(fmt(x)) == fmt(x)`;
//! - formatting never changes meaning: `pipeline::plan` of `fmt(x)` with the
//!   null provider on a fresh in-memory host gives the same plan (the digest
//!   of the source text cleared) and the same diagnostic codes as that of
//!   `x`. The plan is compared rather than the checked model
//!   (`config::Config`) because the model keeps the syntax trees of
//!   expressions with their layout (comments, trailing commas, raw text,
//!   one line or several), which formatting is meant to change, while the
//!   plan holds every value the stack resolves to, which it must not;
//! - neither plan panics or reports `infra::internal`;
//! - the editors' tree-sitter grammar parses it and its format without an
//!   `ERROR` or `MISSING` node.
//!
//! For every almost-valid stack (a brace, `=`, quote, parenthesis or bracket
//! dropped, or a stray token added), `syntax::parse`, `fmt::format_source` and
//! `pipeline::validate` answer with diagnostics, never a panic or
//! `infra::internal`.
//!
//! The case count comes from `INFRA_FUZZ_CASES` as for the other fuzzers;
//! `bench/fuzz.sh N` runs N cases of each in release.

use infra::diag::{Code, Diagnostics, FileId};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::Arc;

use super::fuzz::config;

/// A boxed strategy for rendered text.
type Text = BoxedStrategy<String>;

/// What the expressions of one place may refer to.
#[derive(Clone, Default)]
struct Scope {
    strings: Vec<&'static str>,
    numbers: Vec<&'static str>,
    bools: Vec<&'static str>,
    lists: Vec<&'static str>,
}

fn pick(names: &[&'static str]) -> Option<Text> {
    (!names.is_empty()).then(|| {
        proptest::sample::select(names.to_vec())
            .prop_map(str::to_owned)
            .boxed()
    })
}

/// Text inside a quoted string or a heredoc: plain words, escapes and the
/// escaped `$${`.
fn literal_piece() -> Text {
    prop_oneof![
        "[a-z]{1,6}".prop_map(|s| s),
        Just(" ".to_owned()),
        Just("-".to_owned()),
        Just("$${x}".to_owned()),
        Just("%%{x}".to_owned()),
        // A trailing space, so that no directive after it reads as `%%{`.
        Just("5% ".to_owned()),
        Just("é→".to_owned()),
    ]
    .boxed()
}

fn escape_piece() -> Text {
    prop_oneof![
        Just("\\n".to_owned()),
        Just("\\\"".to_owned()),
        Just("\\\\".to_owned()),
        Just("\\t".to_owned()),
        Just("\\u263A".to_owned()),
    ]
    .boxed()
}

fn string_literal() -> Text {
    proptest::collection::vec(prop_oneof![3 => literal_piece(), 1 => escape_piece()], 0..4)
        .prop_map(|parts| format!("\"{}\"", parts.concat()))
        .boxed()
}

fn number_literal() -> Text {
    prop_oneof![
        (0u32..1000).prop_map(|n| n.to_string()),
        (0u32..100, 1u32..100).prop_map(|(a, b)| format!("{a}.{b}")),
        Just("1e3".to_owned()),
    ]
    .boxed()
}

fn bool_literal() -> Text {
    prop_oneof![Just("true".to_owned()), Just("false".to_owned())].boxed()
}

/// An operand: in parentheses when it is more than one token, so that the
/// operators around it keep the types the generator chose.
fn operand(text: &str) -> String {
    if text.contains(' ') || text.contains('\n') {
        format!("({text})")
    } else {
        text.to_owned()
    }
}

/// Typed expression strategies over one scope.
#[derive(Clone)]
struct Exprs {
    scope: Scope,
}

impl Exprs {
    fn number(&self, depth: u32) -> Text {
        let mut leaves = vec![number_literal()];
        if let Some(r) = pick(&self.scope.numbers) {
            leaves.push(r);
        }
        let leaf = proptest::strategy::Union::new(leaves).boxed();
        if depth == 0 {
            return leaf;
        }
        let n = self.number(depth - 1);
        let b = self.bool(depth - 1);
        let l = self.list(depth - 1);
        let s = self.string(depth - 1);
        prop_oneof![
            3 => leaf,
            1 => (n.clone(), n.clone(), proptest::sample::select(vec!["+", "-", "*"]))
                .prop_map(|(a, c, op)| format!("{} {op} {}", operand(&a), operand(&c))),
            1 => n.clone().prop_map(|a| format!("({a}) % 7")),
            1 => n.clone().prop_map(|a| format!("-({a})")),
            1 => (b, n.clone(), n.clone()).prop_map(|(c, a, d)| format!("({} ? {a} : {d})", operand(&c))),
            1 => l.prop_map(|l| format!("length({l})")),
            1 => s.prop_map(|s| format!("length({s})")),
        ]
        .boxed()
    }

    fn bool(&self, depth: u32) -> Text {
        let mut leaves = vec![bool_literal()];
        if let Some(r) = pick(&self.scope.bools) {
            leaves.push(r);
        }
        let leaf = proptest::strategy::Union::new(leaves).boxed();
        if depth == 0 {
            return leaf;
        }
        let n = self.number(depth - 1);
        let b = self.bool(depth - 1);
        let s = self.string(depth - 1);
        let l = self.list(depth - 1);
        let cmp = proptest::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]);
        prop_oneof![
            3 => leaf,
            1 => (n.clone(), cmp, n).prop_map(|(a, op, c)| format!("{} {op} {}", operand(&a), operand(&c))),
            1 => (s.clone(), s.clone()).prop_map(|(a, c)| format!("{} == {}", operand(&a), operand(&c))),
            1 => (b.clone(), b.clone()).prop_map(|(a, c)| format!("{} && {}", operand(&a), operand(&c))),
            1 => (b.clone(), b.clone()).prop_map(|(a, c)| format!("{} || {}", operand(&a), operand(&c))),
            1 => b.clone().prop_map(|a| format!("!({a})")),
            1 => (l, s).prop_map(|(l, s)| format!("contains({l}, {s})")),
        ]
        .boxed()
    }

    fn string(&self, depth: u32) -> Text {
        let mut leaves = vec![string_literal()];
        if let Some(r) = pick(&self.scope.strings) {
            leaves.push(r);
        }
        let leaf = proptest::strategy::Union::new(leaves).boxed();
        if depth == 0 {
            return leaf;
        }
        let n = self.number(depth - 1);
        let b = self.bool(depth - 1);
        let s = self.string(depth - 1);
        let l = self.list(depth - 1);
        let m = self.map(depth - 1);
        // Template directives, with and without `~` strip markers.
        let strip = || prop_oneof![Just(""), Just("~")];
        let directive = prop_oneof![
            (b.clone(), s.clone(), s.clone(), strip(), strip()).prop_map(|(c, a, d, l, r)| {
                format!("%{{{l} if {c} {r}}}${{{a}}}%{{ else }}${{{d}}}%{{{l} endif {r}}}")
            }),
            (l.clone(), strip(), strip()).prop_map(|(list, l, r)| {
                format!("%{{{l} for item in {list} {r}}}<${{item}}>%{{{l} endfor {r}}}")
            }),
            (l.clone(), strip()).prop_map(|(list, r)| {
                format!("%{{ for i, item in {list} }}${{i}}=${{~ item {r}}} %{{ endfor }}")
            }),
        ]
        .boxed();
        let interpolation = proptest::collection::vec(
            prop_oneof![
                2 => literal_piece(),
                1 => escape_piece(),
                1 => s.clone().prop_map(|s| format!("${{{s}}}")),
                1 => n.clone().prop_map(|n| format!("${{{n}}}")),
                1 => directive.clone(),
            ],
            1..4,
        )
        .prop_map(|parts| format!("\"{}\"", parts.concat()));
        let heredoc = (
            any::<bool>(),
            proptest::collection::vec(
                prop_oneof![
                    2 => literal_piece(),
                    1 => s.clone().prop_map(|s| format!("${{{s}}}")),
                    1 => Just("\n".to_owned()),
                    1 => directive,
                ],
                0..5,
            ),
        )
            .prop_map(|(indented, parts)| {
                let body = parts.concat();
                if indented {
                    format!("<<-EOT\n  {body}\n  EOT\n")
                } else {
                    format!("<<EOT\n{body}\nEOT\n")
                }
            });
        prop_oneof![
            4 => leaf,
            2 => interpolation,
            1 => heredoc,
            1 => s.clone().prop_map(|s| format!("upper({s})")),
            1 => s.clone().prop_map(|s| format!("lower(trimspace({s}))")),
            1 => l.clone().prop_map(|l| format!("join(\",\", {l})")),
            1 => (b, s.clone(), s.clone()).prop_map(|(c, a, d)| format!("({} ? {a} : {d})", operand(&c))),
            1 => l.prop_map(|l| format!("concat({l}, [\"z\"])[0]")),
            1 => m.clone().prop_map(|m| format!("merge({m}, {{ k = \"v\" }})[\"k\"]")),
            1 => m.prop_map(|m| format!("merge({m}, {{ k = \"v\" }}).k")),
        ]
        .boxed()
    }

    fn list(&self, depth: u32) -> Text {
        let s = self.string(depth.saturating_sub(1));
        let literal = proptest::collection::vec(s.clone(), 0..4)
            .prop_map(|items| format!("[{}]", items.join(", ")));
        let mut leaves = vec![literal.boxed()];
        if let Some(r) = pick(&self.scope.lists) {
            leaves.push(r);
        }
        let leaf = proptest::strategy::Union::new(leaves).boxed();
        if depth == 0 {
            return leaf;
        }
        let l = self.list(depth - 1);
        let inner = Exprs {
            scope: Scope {
                strings: [self.scope.strings.clone(), vec!["x"]].concat(),
                numbers: [self.scope.numbers.clone(), vec!["i"]].concat(),
                ..self.scope.clone()
            },
        };
        let body = inner.string(depth - 1);
        let filter = inner.bool(depth - 1);
        let m = self.map(depth - 1);
        prop_oneof![
            3 => leaf,
            1 => (l.clone(), body.clone()).prop_map(|(l, e)| format!("[for i, x in {l} : {e}]")),
            1 => (l.clone(), body, filter)
                .prop_map(|(l, e, f)| format!("[for i, x in {l} : {e} if {f}]")),
            1 => (l.clone(), l.clone()).prop_map(|(a, c)| format!("concat({a}, {c})")),
            1 => l.prop_map(|l| format!("sort(distinct({l}))")),
            1 => m.prop_map(|m| format!("keys({m})")),
        ]
        .boxed()
    }

    fn map(&self, depth: u32) -> Text {
        let s = self.string(depth.saturating_sub(1));
        let key = prop_oneof![
            "[a-z][a-z0-9_]{0,5}".prop_map(|k| k),
            "[a-z]{1,4}".prop_map(|k| format!("\"{k}-x\"")),
        ];
        let literal = (proptest::collection::btree_map(key, s, 0..4), any::<bool>()).prop_map(
            |(entries, multiline)| {
                let entries: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                if multiline && !entries.is_empty() {
                    format!("{{\n{}\n}}", entries.join("\n"))
                } else {
                    format!("{{ {} }}", entries.join(", "))
                }
            },
        );
        if depth == 0 {
            return literal.boxed();
        }
        let l = self.list(depth - 1);
        let inner = Exprs {
            scope: Scope {
                strings: [self.scope.strings.clone(), vec!["x"]].concat(),
                ..self.scope.clone()
            },
        };
        let body = inner.string(depth - 1);
        prop_oneof![
            3 => literal,
            1 => (l, body).prop_map(|(l, e)| format!("{{ for i, x in {l} : \"k${{i}}\" => {e} }}")),
        ]
        .boxed()
    }

    /// Any expression, `null` included.
    fn any(&self, depth: u32) -> Text {
        prop_oneof![
            Just("null".to_owned()),
            self.string(depth),
            self.number(depth),
            self.bool(depth),
            self.list(depth),
            self.map(depth),
        ]
        .boxed()
    }
}

/// A comment, on its own line or after the line it follows.
fn comment() -> Text {
    prop_oneof![
        Just("# hash".to_owned()),
        Just("// slashes".to_owned()),
        Just("/* block */".to_owned()),
        Just("/* two\n   lines */".to_owned()),
    ]
    .boxed()
}

/// One line of a block body with optional comments around it.
fn line(text: Text) -> Text {
    (
        text,
        proptest::option::weighted(0.15, comment()),
        proptest::option::weighted(0.15, comment()),
    )
        .prop_map(|(text, before, after)| {
            let mut out = String::new();
            if let Some(c) = before {
                out.push_str(&c);
                out.push('\n');
            }
            out.push_str(&text);
            if let Some(c) = after.filter(|c| !c.contains('\n')) {
                if !text.ends_with('\n') {
                    out.push(' ');
                    out.push_str(&c);
                }
            }
            out
        })
        .boxed()
}

fn attribute(name: &'static str, value: Text) -> Text {
    line(value.prop_map(move |v| format!("{name} = {v}")).boxed())
}

fn block(header: &'static str, lines: Vec<Text>) -> Text {
    lines
        .prop_map(move |lines| format!("{header} {{\n{}\n}}\n", lines.join("\n")))
        .boxed()
}

const DEPTH: u32 = 3;

/// A valid stack: the root module's text and the child module's.
fn valid_stack() -> impl Strategy<Value = (String, String)> {
    let consts = Exprs {
        scope: Scope::default(),
    };
    let vars = Scope {
        strings: vec!["var.greeting", "secret.token", "env.name"],
        numbers: vec!["var.replicas"],
        bools: vec!["var.flag"],
        lists: vec!["var.names"],
    };
    let in_locals = Exprs {
        scope: Scope {
            strings: vec!["var.greeting", "env.name"],
            ..vars.clone()
        },
    };
    let full = Scope {
        strings: [
            vars.strings.clone(),
            vec!["local.text", "null_resource.first.id", "module.child.id"],
        ]
        .concat(),
        numbers: [vars.numbers.clone(), vec!["local.count"]].concat(),
        bools: [vars.bools.clone(), vec!["local.on"]].concat(),
        lists: [vars.lists.clone(), vec!["local.names"]].concat(),
    };
    let before_first = Exprs {
        scope: Scope {
            strings: [vars.strings.clone(), vec!["local.text"]].concat(),
            ..full.clone()
        },
    };
    // `for_each` keys must be known at plan time and free of secrets.
    let for_each = Exprs {
        scope: Scope {
            strings: vec!["var.greeting", "env.name", "local.text"],
            ..before_first.scope.clone()
        },
    };
    let all = Exprs { scope: full };
    let top = proptest::option::weighted(0.3, comment());
    let root = (
        (
            top,
            block(
                "stack \"fuzz\"",
                vec![line(
                    Just("default_environment = \"dev\"".to_owned()).boxed(),
                )],
            ),
            block(
                "variable \"greeting\"",
                vec![
                    line(Just("type = string".to_owned()).boxed()),
                    attribute("default", consts.string(1)),
                ],
            ),
            block(
                "variable \"replicas\"",
                vec![
                    line(Just("type = number".to_owned()).boxed()),
                    attribute("default", number_literal()),
                ],
            ),
            block(
                "variable \"flag\"",
                vec![
                    line(Just("type = bool".to_owned()).boxed()),
                    attribute("default", consts.bool(2)),
                ],
            ),
            block(
                "variable \"names\"",
                vec![
                    line(Just("type = list(string)".to_owned()).boxed()),
                    attribute("default", consts.list(1)),
                ],
            ),
            block(
                "environment \"dev\"",
                vec![attribute(
                    "vars",
                    number_literal()
                        .prop_map(|n| format!("{{ replicas = {n} }}"))
                        .boxed(),
                )],
            ),
            block(
                "secret \"token\"",
                vec![line(Just("env = \"FUZZ_TOKEN\"".to_owned()).boxed())],
            ),
            block("provider \"null\"", vec![]),
            block(
                "provider \"http\"",
                vec![line(
                    Just("base_url = \"http://127.0.0.1:9\"".to_owned()).boxed(),
                )],
            ),
        ),
        (
            block(
                "locals",
                vec![
                    attribute("text", in_locals.string(DEPTH)),
                    attribute("count", in_locals.number(DEPTH)),
                    attribute("on", in_locals.bool(DEPTH)),
                    attribute("names", in_locals.list(DEPTH)),
                    attribute("nothing", Just("null".to_owned()).boxed()),
                ],
            ),
            block(
                "resource \"null_resource\" \"first\"",
                vec![
                    attribute(
                        "triggers",
                        (
                            before_first.string(DEPTH),
                            before_first.number(DEPTH),
                            before_first.bool(DEPTH),
                        )
                            .prop_map(|(s, n, b)| {
                                format!("{{\n  s = {s}\n  n = {n}\n  b = {b}\n}}")
                            })
                            .boxed(),
                    ),
                    attribute("inputs", before_first.any(DEPTH)),
                ],
            ),
            block(
                "resource \"null_resource\" \"each\"",
                vec![
                    attribute(
                        "for_each",
                        for_each
                            .list(2)
                            .prop_map(|l| format!("{{ for i, x in {l} : \"k${{i}}\" => x }}"))
                            .boxed(),
                    ),
                    attribute(
                        "triggers",
                        all.string(2)
                            .prop_map(|s| format!("{{ key = each.key, s = {s} }}"))
                            .boxed(),
                    ),
                ],
            ),
            block(
                "resource \"null_resource\" \"counted\"",
                vec![
                    attribute("count", (1u32..3).prop_map(|n| n.to_string()).boxed()),
                    attribute(
                        "triggers",
                        all.number(2)
                            .prop_map(|n| format!("{{ i = count.index + {n} }}"))
                            .boxed(),
                    ),
                ],
            ),
            // Nothing refers to it; were it read at plan time, from a closed
            // port, planning would stop there, so only some stacks have it.
            proptest::option::weighted(
                0.2,
                block(
                    "data \"http\" \"teams\"",
                    vec![line(Just("url = \"/teams\"".to_owned()).boxed())],
                ),
            )
            .prop_map(Option::unwrap_or_default),
            block(
                "module \"child\"",
                vec![
                    line(Just("source = \"./child\"".to_owned()).boxed()),
                    attribute("greeting", before_first.string(DEPTH)),
                ],
            ),
            block(
                "output \"out\"",
                vec![
                    attribute("value", all.any(DEPTH)),
                    line(Just("sensitive = true".to_owned()).boxed()),
                ],
            ),
            block(
                "moved",
                vec![
                    line(Just("from = null_resource.old".to_owned()).boxed()),
                    line(Just("to = null_resource.first".to_owned()).boxed()),
                ],
            ),
            block(
                "import",
                vec![
                    line(Just("to = null_resource.counted[0]".to_owned()).boxed()),
                    attribute("id", consts.string(1)),
                ],
            ),
        ),
    )
        .prop_map(
            |((top, a, b, c, d, e, f, g, h, h2), (i, j, k, l, m, n, o, p, q))| {
                let mut text = top.map(|c| format!("{c}\n\n")).unwrap_or_default();
                for part in [a, b, c, d, e, f, g, h, h2, i, j, k, l, m, n, o, p, q] {
                    text.push_str(&part);
                    text.push('\n');
                }
                text
            },
        );
    let child_scope = Exprs {
        scope: Scope {
            strings: vec!["var.greeting"],
            ..Scope::default()
        },
    };
    let child = (
        block(
            "variable \"greeting\"",
            vec![line(Just("type = string".to_owned()).boxed())],
        ),
        block(
            "resource \"null_resource\" \"inner\"",
            vec![attribute(
                "triggers",
                child_scope
                    .string(DEPTH)
                    .prop_map(|s| format!("{{ g = {s} }}"))
                    .boxed(),
            )],
        ),
        block(
            "output \"id\"",
            vec![line(
                Just("value = null_resource.inner.id".to_owned()).boxed(),
            )],
        ),
    )
        .prop_map(|(a, b, c)| format!("{a}\n{b}\n{c}"));
    (root, child)
}

/// One mutation that makes a valid stack almost valid.
#[derive(Debug, Clone)]
enum Mutation {
    DropOne(char, Index),
    Insert(&'static str, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (
            proptest::sample::select(vec!['{', '}', '=', '"', '(', ']']),
            any::<Index>()
        )
            .prop_map(|(c, at)| Mutation::DropOne(c, at)),
        (
            proptest::sample::select(vec![
                "@", "}", "{", "=", "..", "${", "\"", "<<EOT", "/*", "?", ","
            ]),
            any::<Index>(),
        )
            .prop_map(|(t, at)| Mutation::Insert(t, at)),
    ]
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    match mutation {
        Mutation::DropOne(c, at) => {
            let places: Vec<usize> = text.match_indices(*c).map(|(i, _)| i).collect();
            if places.is_empty() {
                return text.to_owned();
            }
            let i = places[at.index(places.len())];
            format!("{}{}", &text[..i], &text[i + c.len_utf8()..])
        }
        Mutation::Insert(token, at) => {
            // At a token boundary: before a space or a line end.
            let places: Vec<usize> = text.match_indices([' ', '\n']).map(|(i, _)| i).collect();
            let i = places[at.index(places.len())];
            format!("{} {token}{}", &text[..i], &text[i..])
        }
    }
}

const DIR: &str = "fuzz";

fn host(root: &str, child: &str) -> infra::host::MemoryHost {
    infra::host::MemoryHost::new()
        .with_file("fuzz/main.infra", root.as_bytes().to_vec())
        .with_file("fuzz/child/main.infra", child.as_bytes().to_vec())
        .with_file("fuzz/in.txt", b"from the disk\n".to_vec())
        .with_env("FUZZ_TOKEN", "t0k3n")
}

fn internal(diagnostics: &Diagnostics) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.code == Code::Internal)
        .map(|d| format!("{d:?}"))
        .collect()
}

/// What the stack means: its plan for the null provider on a fresh
/// in-memory host (with the digest of its source text cleared), or, when it
/// does not plan, the codes of its diagnostics. Fails on `infra::internal`.
fn meaning(root: &str, child: &str) -> (Option<infra::plan::Plan>, Vec<String>) {
    let (plan, _, diagnostics) = infra::pipeline::plan(
        Arc::new(host(root, child)),
        Path::new(DIR),
        infra::pipeline::PlanRequest::default(),
    );
    let internal = internal(&diagnostics);
    assert!(internal.is_empty(), "plan: {internal:#?}\n{root}");
    let codes = diagnostics
        .iter()
        .map(|d| d.code.as_str().to_owned())
        .collect();
    let plan = plan.map(|mut plan| {
        plan.config_digest.clear();
        plan
    });
    (plan, codes)
}

fn format(text: &str) -> String {
    infra::fmt::format_source(FileId(0), text)
        .unwrap_or_else(|d| panic!("a valid stack does not format: {d:?}\n{text}"))
}

/// The checks every valid stack passes.
fn check_valid(root: &str, child: &str) {
    let checked = infra::pipeline::check(&host(root, child), Path::new(DIR));
    assert!(
        !checked.diagnostics.has_errors(),
        "a generated stack does not check: {:?}\n{root}",
        checked.diagnostics
    );
    let (root_fmt, child_fmt) = (format(root), format(child));
    for text in [root, child, &root_fmt, &child_fmt] {
        tree_sitter_parses(text);
    }
    for (original, formatted) in [(root, &root_fmt), (child, &child_fmt)] {
        let (_, parsed) = infra::syntax::parse(FileId(0), formatted);
        assert!(
            !parsed.has_errors(),
            "the format does not parse: {parsed:?}\n{formatted}"
        );
        assert_eq!(
            &format(formatted),
            formatted,
            "formatting is not idempotent for\n{original}"
        );
    }
    let (plan, codes) = meaning(root, child);
    let (plan_fmt, codes_fmt) = meaning(&root_fmt, &child_fmt);
    assert_eq!(
        codes, codes_fmt,
        "formatting changed the diagnostics of\n{root}\nformatted:\n{root_fmt}"
    );
    // Only the data source (read from a closed port) may stop planning.
    assert!(
        plan.is_some() || root.contains("data \"http\""),
        "a generated stack does not plan: {codes:?}\n{root}"
    );
    assert_eq!(
        plan, plan_fmt,
        "formatting changed the plan of\n{root}\nformatted:\n{root_fmt}"
    );
}

/// The editors' grammar (`editors/tree-sitter-infra`, tested in
/// tests/tree_sitter.rs) accepts what the compiler accepts: no `ERROR` or
/// `MISSING` node in a valid stack or its format.
fn tree_sitter_parses(text: &str) {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_infra::LANGUAGE.into())
        .unwrap_or_else(|error| panic!("the tree-sitter grammar's ABI: {error}"));
    let tree = parser
        .parse(text, None)
        .unwrap_or_else(|| panic!("tree-sitter gave no tree for\n{text}"));
    // The first `ERROR` or `MISSING` node, found through the subtrees that
    // hold one.
    let mut node = tree.root_node();
    while node.has_error() && !node.is_error() && !node.is_missing() {
        let mut cursor = node.walk();
        let Some(child) = node.children(&mut cursor).find(|child| child.has_error()) else {
            break;
        };
        node = child;
    }
    let at = node.start_position();
    assert!(
        !tree.root_node().has_error(),
        "the tree-sitter grammar rejects a valid stack at {}:{} ({}):\n{text}",
        at.row + 1,
        at.column + 1,
        node.kind()
    );
}

/// The checks every almost-valid stack passes.
fn check_almost_valid(root: &str, child: &str) {
    let (_, parsed) = infra::syntax::parse(FileId(0), root);
    let internal_parse = internal(&parsed);
    assert!(
        internal_parse.is_empty(),
        "parse: {internal_parse:#?}\n{root}"
    );
    if let Err(d) = infra::fmt::format_source(FileId(0), root) {
        let i = internal(&d);
        assert!(i.is_empty(), "fmt: {i:#?}\n{root}");
    }
    let validated = infra::pipeline::validate(
        &host(root, child),
        Path::new(DIR),
        &infra::pipeline::ValidateRequest::default(),
    );
    let i = internal(&validated.diagnostics);
    assert!(i.is_empty(), "validate: {i:#?}\n{root}");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_stacks_format_keep_meaning_and_plan((root, child) in valid_stack()) {
        check_valid(&root, &child);
    }

    #[test]
    fn almost_valid_stacks_get_diagnostics((root, child) in valid_stack(), m in mutation()) {
        check_almost_valid(&mutate(&root, &m), &child);
    }
}
