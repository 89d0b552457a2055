//! Secret propagation through every builtin and operator, per-element marks
//! in the structural builtins, unknowns through the builtins, and errors about
//! secrets that must not quote them. (The helper in `mod.rs` checks every
//! result and every diagnostic for the planted plaintexts.)

use super::{element, entry, fails, invalid, is_secret, is_unknown, ok, run, secret, wrong_count};
use crate::diag::Code;
use crate::lang::Value;
use crate::lang::functions::NAMES;

/// One call per builtin with a secret argument, each of which must give a
/// secret result.
const SECRET_CALLS: &[&str] = &[
    "abs(var.sn)",
    "alltrue([var.sb])",
    "anytrue([var.sb])",
    "base64sha256(var.s)",
    "base64sha512(var.s)",
    "basename(var.s)",
    "can(regex(\"^h\", var.s))",
    "ceil(var.sn)",
    "chomp(var.s)",
    "chunklist(var.sl, 1)",
    "cidrhost(var.sc, 1)",
    "cidrnetmask(var.sc)",
    "cidrsubnets(var.sc, 8, 8)",
    "coalesce(var.s, \"x\")",
    "coalescelist(var.sl, [\"x\"])",
    "compact(var.sl)",
    "csvdecode(\"a\\n${var.s}\")",
    "dirname(var.s)",
    "element(var.sl, 0)",
    "endswith(var.s, \"2\")",
    "filebase64(var.sb ? \"hello.txt\" : \"x\")",
    "filebase64sha256(var.sb ? \"hello.txt\" : \"x\")",
    "filebase64sha512(var.sb ? \"hello.txt\" : \"x\")",
    "fileexists(var.s)",
    "filemd5(var.sb ? \"hello.txt\" : \"x\")",
    "fileset(\".\", var.s)",
    "filesha1(var.sb ? \"hello.txt\" : \"x\")",
    "filesha256(var.sb ? \"hello.txt\" : \"x\")",
    "filesha512(var.sb ? \"hello.txt\" : \"x\")",
    "floor(var.sn)",
    "indent(2, var.s)",
    "index(var.sl, \"b\")",
    "log(var.sn, 2)",
    "matchkeys([1, 2], var.sl, [\"b\"])",
    "max(var.sn, 1)",
    "min(var.sn, 1)",
    "one([var.s])",
    "parseint(var.s == \"x\" ? \"1\" : \"2\", 10)",
    "pow(var.sn, 2)",
    "regex(\"h.*\", var.s)",
    "regexall(\"h\", var.s)",
    "reverse(var.sl)",
    "setintersection(var.sl, [\"b\"])",
    "setproduct(var.sl, [1])",
    "setsubtract(var.sl, [\"b\"])",
    "setunion(var.sl, [\"c\"])",
    "sha1(var.s)",
    "sha512(var.s)",
    "signum(var.sn)",
    "slice(var.sl, 0, 1)",
    "startswith(var.s, \"h\")",
    "strcontains(var.s, \"u\")",
    "strrev(var.s)",
    "sum([var.sn, 1])",
    "title(var.s)",
    "tobool(var.sb)",
    "tolist(var.sl)",
    "tomap(var.ms)",
    "tonumber(var.sn)",
    "toset(var.sl)",
    "tostring(var.s)",
    "transpose({a = var.sl})",
    "trim(var.s, \"h\")",
    "trimprefix(var.s, \"h\")",
    "trimsuffix(var.s, \"2\")",
    "try(var.s, \"x\")",
    "urlencode(var.s)",
    "uuidv5(\"dns\", var.s)",
    "yamldecode(var.sj)",
    "yamlencode({a = var.s})",
    "base64decode(base64encode(var.s))",
    "base64encode(var.s)",
    "cidrsubnet(var.sc, 8, 1)",
    "concat(var.sl, [1])",
    "contains(var.sl, \"b\")",
    "distinct([var.s, \"a\"])",
    "env_var(var.s == \"x\" ? \"A\" : \"HOME_DIR\")",
    "file(var.sb ? \"hello.txt\" : \"x\")",
    "flatten(var.sl)",
    "format(\"%s!\", var.s)",
    "join(\",\", [var.s])",
    "jsondecode(var.sj)",
    "jsonencode({a = var.s})",
    "keys(var.ms)",
    "length(var.s)",
    "lookup(var.ms, keys(var.ms)[0])",
    "lower(var.s)",
    "md5(var.s)",
    "merge(var.ms, {b = 1})",
    "range(var.sn - 4240)",
    "replace(\"a\", \"a\", var.s)",
    "sha256(var.s)",
    "sort([var.s])",
    "split(\"u\", var.s)",
    "substr(var.s, 0, 3)",
    "templatefile(var.sb ? \"app.tpl\" : \"x\", {})",
    "trimspace(var.s)",
    "upper(var.s)",
    "values(var.ms)",
    "zipmap(var.sl, [1, 2])",
];

#[test]
fn a_secret_argument_makes_every_builtin_secret() {
    for name in NAMES {
        assert!(
            SECRET_CALLS
                .iter()
                .any(|call| call.starts_with(&format!("{name}("))),
            "no secret case for `{name}`"
        );
    }
    for call in SECRET_CALLS {
        is_secret(call);
    }
    // Secret elements deep inside arguments taint content functions.
    for call in [
        "join(\",\", [\"a\", var.s])",
        "jsonencode([[var.s]])",
        "sha256(jsonencode(var.sm))",
        "contains([var.s], \"x\")",
        "format(\"%v\", [var.s])",
    ] {
        is_secret(call);
    }
}

#[test]
fn structural_builtins_keep_per_element_marks() {
    let list = ok("concat([var.s], [\"a\"])", "[(secret), \"a\"]");
    assert!(!list.is_secret());
    assert!(element(&list, 0).is_secret());
    assert!(!element(&list, 1).is_secret());

    let merged = ok(
        "merge(var.sm, {c = 1})",
        "{ a = (secret), b = \"plain\", c = 1 }",
    );
    assert!(!merged.is_secret());
    assert!(entry(&merged, "a").is_secret());

    let names = ok("keys(var.sm)", "[\"a\", \"b\"]");
    assert!(!names.contains_secret());

    let items = ok("values(var.sm)", "[(secret), \"plain\"]");
    assert!(!items.is_secret() && element(&items, 0).is_secret());

    assert!(is_secret("lookup(var.sm, \"a\")").is_secret());
    assert!(!run("lookup(var.sm, \"b\")").value().contains_secret());

    let flat = ok("flatten([[var.s], [\"x\"]])", "[(secret), \"x\"]");
    assert!(!flat.is_secret() && element(&flat, 0).is_secret() && !element(&flat, 1).is_secret());
    // The elements of a secret inner list each take its mark.
    let flat = ok("flatten([var.sl, [\"x\"]])", "[(secret), (secret), \"x\"]");
    assert!(!flat.is_secret() && !element(&flat, 2).is_secret());

    let zipped = ok(
        "zipmap([\"a\", \"b\"], [var.s, \"x\"])",
        "{ a = (secret), b = \"x\" }",
    );
    assert!(!zipped.is_secret() && entry(&zipped, "a").is_secret());
    // A secret key would be a plain map key: the whole map is secret then.
    is_secret("zipmap([var.s], [1])");

    let count = ok("length([var.s, 1])", "2");
    assert!(!count.contains_secret());
}

#[test]
fn unknown_arguments_make_results_unknown() {
    for call in [
        "lower(var.u)",
        "join(\",\", var.ul)",
        "format(\"%s\", var.u)",
        "format(\"%v\", var.ul)",
        "sha256(var.u)",
        "jsonencode({a = var.u})",
        "length(var.u)",
        "keys(var.u)",
        "lookup({a = var.u}, \"a\")",
        "lookup({a = 1}, var.u)",
        "concat([1], var.u)",
        "flatten([[1], var.u])",
        "zipmap(var.ul, [1, 2])",
        "cidrsubnet(\"10.0.0.0/8\", var.u, 1)",
        "env_var(var.u)",
    ] {
        is_unknown(call);
    }
    // Structural builtins keep unknown elements as elements.
    ok("length(var.ul)", "2");
    ok(
        "concat([\"x\"], var.ul)",
        "[\"x\", \"a\", (known after apply)]",
    );
    ok("keys({a = var.u})", "[\"a\"]");
    ok(
        "merge({a = var.u}, {b = 1})",
        "{ a = (known after apply), b = 1 }",
    );
    // The argument count is still checked.
    wrong_count("lower(var.u, 1)");
    // An unknown secret stays secret.
    assert!(is_unknown("lower(var.u == var.s ? \"a\" : \"b\")").is_secret());
}

#[test]
fn errors_about_secret_arguments_do_not_quote_them() {
    // Each of these would quote the secret in its label or help.
    fails("env_var(var.s)", Code::CheckMissingEnvVar, "var.s");
    fails("file(var.s)", Code::CheckFileNotReadable, "var.s");
    fails(
        "templatefile(var.s, {})",
        Code::CheckFileNotReadable,
        "var.s",
    );
    fails("lookup({a = 1}, var.s)", Code::CheckMissingKey, "var.s");
    invalid("jsondecode(var.s)", "var.s");
    invalid("base64decode(var.s)", "var.s");
    invalid("cidrsubnet(var.s, 1, 1)", "var.s");
    invalid("format(var.s, 1)", "format(var.s, 1)");
    invalid("cidrsubnet(\"10.0.0.0/8\", var.sn, 1)", "var.sn");
    invalid("range(0, 1, var.sn - 4242)", "var.sn - 4242");
    invalid("zipmap(var.sl, [1])", "zipmap(var.sl, [1])");
    let hidden = invalid("split(\"\", var.s)", "\"\"");
    assert_eq!(hidden.label(), "the separator is empty");
    // Wrong types of a secret argument say no more than its type.
    invalid("keys(var.s)", "var.s");
}

#[test]
fn errors_in_operators_do_not_quote_secrets() {
    fails("[1, 2][var.sn]", Code::CheckIndexOutOfRange, "var.sn");
    fails("{a = 1}[var.s]", Code::CheckMissingKey, "var.s");
    let keys = fails("var.ms.nope", Code::CheckMissingKey, "nope");
    assert!(keys.help().contains("secret"), "{}", keys.help());
    fails("var.ms[\"nope\"]", Code::CheckMissingKey, "\"nope\"");
    fails("var.s + 1", Code::CheckTypeMismatch, "var.s");
    fails(
        "1 / (var.sn - 4242)",
        Code::CheckDivisionByZero,
        "(var.sn - 4242)",
    );
    fails("var.s ? 1 : 2", Code::CheckTypeMismatch, "var.s");
    fails("\"${var.sl}\"", Code::CheckTypeMismatch, "var.sl");
    fails(
        "{for x in [var.s, var.s] : x => 1}",
        Code::CheckDuplicateKey,
        "x",
    );
}

#[test]
fn every_operator_propagates_secrets() {
    for expr in [
        "var.sn + 1",
        "1 - var.sn",
        "var.sn * 2",
        "var.sn / 2",
        "var.sn % 5",
        "-var.sn",
        "var.s == \"x\"",
        "var.s != \"x\"",
        "var.sn < 1",
        "var.sn <= 1",
        "var.sn > 1",
        "var.sn >= 1",
        "var.sb && true",
        "true && var.sb",
        "var.sb || false",
        "false || var.sb",
        "!var.sb",
        "var.sb ? 1 : 2",
        "true ? var.s : \"x\"",
        "\"a${var.s}b\"",
        "<<EOT\nkey=${var.s}\nEOT",
        "[for x in var.sl : x]",
        "{for x in var.sl : x => 1}",
        "var.sl[0]",
        "var.sl[*]",
        "var.sm.a",
        "var.sm[\"a\"]",
        "[1, 2, 3][var.sn - 4241]",
        "{a = 1}[var.sb ? \"a\" : \"b\"]",
        "{(var.s) = 1}",
        "[for x in [1, 2] : x if var.sb]",
        "{for x in [1] : var.s => x}",
        "[for i, x in var.sl : i][0]",
    ] {
        is_secret(expr);
    }
    // The short-circuit results are secret when the operand that decided is.
    is_secret("var.sb || var.u");
    // Plain parts of a structure stay plain.
    assert!(!run("var.sm.b").value().contains_secret());
    let list = ok("[var.s, 1]", "[(secret), 1]");
    assert!(!list.is_secret());
}

#[test]
fn display_never_prints_a_secret_anywhere_inside() {
    let deep = Value::map(
        [
            (
                String::from("list"),
                Value::list(vec![Value::list(vec![secret("hunter2".into())])]),
            ),
            (
                String::from("whole"),
                secret(Value::list(vec!["hunter2".into(), 4242.into()])),
            ),
            (
                String::from("map"),
                Value::map(
                    [(String::from("k"), secret(Value::number(4242)))]
                        .into_iter()
                        .collect(),
                ),
            ),
            (String::from("flag"), secret(Value::bool(true))),
        ]
        .into_iter()
        .collect(),
    );
    for shown in [deep.to_string(), format!("{deep:?}"), format!("{deep:#?}")] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("4242"),
            "{shown}"
        );
    }
    assert_eq!(
        deep.to_string(),
        "{ flag = (secret), list = [[(secret)]], map = { k = (secret) }, whole = (secret) }"
    );
    assert!(deep.reveal().to_string().contains("hunter2"));
    // Evaluated structures too.
    ok(
        "{a = [var.s], b = {c = var.sn}}",
        "{ a = [(secret)], b = { c = (secret) } }",
    );
}

#[test]
fn try_and_can_are_secret_when_a_failure_depends_on_a_secret() {
    // The fallback is plain, but that it was taken tells about the secret.
    is_secret("try(var.ms.nope, \"x\")");
    is_secret("try(tonumber(var.s), 0)");
    is_secret("can(tonumber(var.s))");
    // Nothing secret read: plain.
    let plain = ok("try(var.m.nope, \"x\")", "\"x\"");
    assert!(!plain.is_secret());
    assert!(!ok("can(var.m.a)", "true").is_secret());
    // The failure detail of a secret argument is not shown.
    let outcome = run("try(tonumber(var.s))");
    assert_eq!(outcome.error().code, Code::CheckInvalidArgument);
}

#[test]
fn template_directives_keep_marks_per_use() {
    // A plain loop over a map with a secret value: only using the value taints.
    assert!(!ok("\"%{ for k, v in var.sm }${k}%{ endfor }\"", "\"ab\"").is_secret());
    is_secret("\"%{ for k, v in var.sm }${v}%{ endfor }\"");
    is_secret("\"%{ if var.s == \"x\" }a%{ endif }\"");
}
