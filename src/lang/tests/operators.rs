//! Every operator and expression form: results, unknown propagation, and the
//! errors with the span of the offending sub-expression.

use super::{element, entry, fails, is_unknown, ok, ok_str, run};
use crate::diag::Code;

#[test]
fn numbers_are_exact_and_print_without_fraction() {
    ok("1 + 2", "3");
    ok("7 / 2", "3.5");
    ok("6 / 3", "2");
    ok("2 * 3.5", "7");
    ok("1 - 3", "-2");
    ok("7 % 3", "1");
    ok("-7 % 3", "-1");
    ok("7.5 % 2", "1.5");
    ok("0.1 + 0.2", "0.30000000000000004");
    ok("9007199254740992 + 1", "9007199254740993");
    ok("9007199254740993", "9007199254740993");
    ok("1e3", "1000");
    ok("2.50", "2.5");
    ok(r#""2" + 1"#, "3");
    ok("-(3)", "-3");
    ok("1 + 2 * 3 - 4 / 2", "5");
}

#[test]
fn arithmetic_errors_point_at_the_bad_operand() {
    let mismatch = fails(r#"1 + "x""#, Code::CheckTypeMismatch, r#""x""#);
    assert!(mismatch.help().contains("`+`"), "{}", mismatch.help());
    fails(r#"[1] - 1"#, Code::CheckTypeMismatch, "[1]");
    fails("2 * null", Code::CheckTypeMismatch, "null");
    fails("true / 1", Code::CheckTypeMismatch, "true");
    let zero = fails("1 / 0", Code::CheckDivisionByZero, "0");
    assert!(zero.help().contains("b == 0"), "{}", zero.help());
    fails("10 % (2 - 2)", Code::CheckDivisionByZero, "(2 - 2)");
    fails("1 / 0.0", Code::CheckDivisionByZero, "0.0");
    fails(r#"-"x""#, Code::CheckTypeMismatch, r#""x""#);
}

#[test]
fn comparisons() {
    ok("1 < 2", "true");
    ok("2 <= 2", "true");
    ok("3 > 4", "false");
    ok("3 >= 3", "true");
    ok("2 < 2.5", "true");
    ok(r#""a" == "a""#, "true");
    ok("1 == 1.0", "true");
    ok(r#"1 == "1""#, "false");
    ok("[1, {a = 2}] == [1, {a = 2}]", "true");
    ok("{a = 1} != {a = 2}", "true");
    ok("null == null", "true");
    fails(r#""a" < 1"#, Code::CheckTypeMismatch, r#""a""#);
    fails("1 >= [2]", Code::CheckTypeMismatch, "[2]");
}

#[test]
fn logic() {
    ok("true && false", "false");
    ok("true && true", "true");
    ok("false || true", "true");
    ok("false || false", "false");
    ok("!true", "false");
    ok("!(1 > 2)", "true");
    fails("1 && true", Code::CheckTypeMismatch, "1");
    fails("false || [1]", Code::CheckTypeMismatch, "[1]");
    // A deciding left side short-circuits.
    ok("true || [1]", "true");
    ok("false && [1]", "false");
    fails("!1", Code::CheckTypeMismatch, "1");
}

#[test]
fn conditional() {
    ok("true ? 1 : 2", "1");
    ok("1 > 2 ? 1 : 2", "2");
    let bad = fails(r#""maybe" ? 1 : 2"#, Code::CheckTypeMismatch, r#""maybe""#);
    assert!(bad.help().contains("condition"), "{}", bad.help());
    // Only the chosen branch is evaluated.
    ok("true ? 1 : 1 / 0", "1");
}

#[test]
fn templates_and_heredocs() {
    ok_str(r#""a${1 + 1}b""#, "a2b");
    ok_str(r#""${true}-${1.5}-${"x"}""#, "true-1.5-x");
    ok_str(r#""$${not} ${var.m.b}""#, "${not} two");
    fails(r#""v=${var.l}""#, Code::CheckTypeMismatch, "var.l");
    fails(r#""v=${null}""#, Code::CheckTypeMismatch, "null");
    ok_str("<<EOT\nport=${var.m.a}\n  $${x}\nEOT", "port=1\n  ${x}\n");
    ok_str("<<-EOT\n    a=${1}\n      b\n    EOT", "a=1\n  b\n");
    fails(
        "<<EOT\nv=${{a = 1}}\nEOT",
        Code::CheckTypeMismatch,
        "{a = 1}",
    );
}

#[test]
fn for_lists() {
    ok("[for x in [1, 2, 3] : x * 2]", "[2, 4, 6]");
    ok("[for x in [1, 2, 3] : x if x != 2]", "[1, 3]");
    ok(
        r#"[for i, x in ["a", "b"] : "${i}${x}"]"#,
        r#"["0a", "1b"]"#,
    );
    ok("[for k, v in {b = 2, a = 1} : k]", r#"["a", "b"]"#);
    ok("[for v in {b = 2, a = 1} : v]", "[1, 2]");
    ok("[for x in [] : x]", "[]");
    fails("[for x in 1 : x]", Code::CheckTypeMismatch, "1");
    fails("[for x in [1] : x if x]", Code::CheckTypeMismatch, "x");
    fails("[for x in [0] : 1 / x]", Code::CheckDivisionByZero, "x");
}

#[test]
fn for_objects() {
    ok(
        "{for k, v in {a = 1, b = 2} : v => k}",
        r#"{ "1" = "a", "2" = "b" }"#,
    );
    ok(
        r#"{for s in ["a", "bb"] : s => length(s) if s != "a"}"#,
        "{ bb = 2 }",
    );
    ok(
        r#"{for s in ["a", "bb", "c"] : length(s) => s...}"#,
        r#"{ "1" = ["a", "c"], "2" = ["bb"] }"#,
    );
    let duplicate = fails(
        r#"{for s in ["a", "a"] : s => 1}"#,
        Code::CheckDuplicateKey,
        "s",
    );
    assert!(duplicate.help().contains("..."), "{}", duplicate.help());
    fails("{for s in [[1]] : s => 1}", Code::CheckTypeMismatch, "s");
    fails(
        r#"{for s in "x" : s => 1}"#,
        Code::CheckTypeMismatch,
        r#""x""#,
    );
}

#[test]
fn index_and_attributes() {
    ok("[1, 2][1]", "2");
    ok(r#"[1, 2]["1"]"#, "2");
    ok(r#"{a = 1}["a"]"#, "1");
    ok("{a = 1}.a", "1");
    ok("var.lm[1].name", r#""b""#);
    ok("var.l.0", r#""x""#);
    ok(r#"var.m["b"]"#, r#""two""#);
    let range = fails("[1, 2][5]", Code::CheckIndexOutOfRange, "5");
    assert_eq!(range.label(), "index 5 is out of range");
    assert!(range.help().contains("0 to 1"), "{}", range.help());
    fails("[][0]", Code::CheckIndexOutOfRange, "0");
    fails("[1][-1]", Code::CheckIndexOutOfRange, "-1");
    fails("[1][0.5]", Code::CheckIndexOutOfRange, "0.5");
    fails(r#"[1]["x"]"#, Code::CheckTypeMismatch, r#""x""#);
    fails("[1][[0]]", Code::CheckTypeMismatch, "[0]");
    fails(r#""abc"[0]"#, Code::CheckTypeMismatch, r#""abc""#);
    fails("null[0]", Code::CheckTypeMismatch, "null");
    let attribute = fails("{a = 1, bb = 2}.b", Code::CheckMissingKey, "b");
    assert!(
        attribute.help().contains("`a`, `bb`"),
        "{}",
        attribute.help()
    );
    assert!(
        attribute.help().contains("did you mean"),
        "{}",
        attribute.help()
    );
    let key = fails(r#"{a = 1}["b"]"#, Code::CheckMissingKey, r#""b""#);
    assert!(key.help().contains("`a`"), "{}", key.help());
    fails("var.l.5", Code::CheckIndexOutOfRange, "5");
    fails("var.l.name", Code::CheckTypeMismatch, "name");
    fails("(1).a", Code::CheckTypeMismatch, "(1)");
    fails("var.nope", Code::CheckMissingKey, "nope");
    fails("nothing.x", Code::CheckUnknownReference, "nothing");
}

#[test]
fn splat() {
    ok("var.lm[*].name", r#"["a", "b"]"#);
    ok("var.lm[*].port", "[1, 2]");
    ok("[][*].a", "[]");
    ok("null[*]", "[]");
    ok("{a = 1}[*].a", "[1]");
    fails("var.lm[*].nope", Code::CheckMissingKey, "nope");
}

#[test]
fn object_keys() {
    ok(r#"{"a b" = 1, (var.m.b) = 2}"#, r#"{ "a b" = 1, two = 2 }"#);
    fails("{a = 1, a = 2}", Code::CheckDuplicateKey, "a");
    fails("{([1]) = 1}", Code::CheckTypeMismatch, "([1])");
}

#[test]
fn unknowns_propagate() {
    for expr in [
        "var.u + 1",
        "1 - var.u",
        "var.u * 2",
        "var.u / 2",
        "var.u % 2",
        "var.u == 1",
        "var.u != 1",
        "var.u < 1",
        "var.u <= 1",
        "var.u > 1",
        "var.u >= 1",
        "true && var.u",
        "var.u || false",
        "!var.u",
        "-var.u",
        "var.u ? 1 : 2",
        r#""a${var.u}b""#,
        "<<EOT\n${var.u}\nEOT",
        "[for x in var.u : x]",
        "{for k, v in var.u : k => v}",
        "[for x in [1, 2] : x if var.u]",
        "{for x in [1] : var.u => x}",
        "var.u[0]",
        "var.u.a",
        "var.u[*].a",
        "[1, 2][var.u]",
        "{a = 1}[var.u]",
        "{(var.u) = 1}",
    ] {
        is_unknown(expr);
    }
}

#[test]
fn known_results_stay_known_beside_unknowns() {
    ok("false && var.u", "false");
    ok("var.u && false", "false");
    ok("true || var.u", "true");
    ok("var.u || true", "true");
    let list = ok("[for x in var.ul : x]", r#"["a", (known after apply)]"#);
    assert!(!list.is_unknown());
    assert!(element(&list, 1).is_unknown());
    let object = run("{a = var.u, b = 1}").value();
    assert!(entry(&object, "a").is_unknown());
    assert!(!object.is_unknown());
    // An unknown condition still checks both branches for errors.
    fails("var.u ? 1 : 1 / 0", Code::CheckDivisionByZero, "0");
}
