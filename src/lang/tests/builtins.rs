//! Every builtin: its result, its argument count, wrong argument types (with
//! the span of the bad argument) and its own error cases.

use super::{fails, invalid, ok, ok_str, run, wrong_count};
use crate::diag::Code;
use crate::lang::functions::NAMES;

#[test]
fn every_builtin_is_tested_here() {
    let source = include_str!("builtins.rs");
    for name in NAMES {
        assert!(
            source.contains(&format!("fn {name}()")) || source.contains(&format!("fn r#{name}()")),
            "no test for `{name}`"
        );
    }
}

#[test]
fn lower() {
    ok_str(r#"lower("HeLLo É")"#, "hello é");
    ok_str("lower(12)", "12");
    wrong_count("lower()");
    wrong_count(r#"lower("a", "b")"#);
    invalid("lower([1])", "[1]");
}

#[test]
fn upper() {
    ok_str(r#"upper("abc é")"#, "ABC É");
    wrong_count("upper()");
    invalid("upper({a = 1})", "{a = 1}");
}

#[test]
fn trimspace() {
    ok_str(r#"trimspace("  a b \n\t")"#, "a b");
    wrong_count(r#"trimspace("a", "b")"#);
    invalid("trimspace(null)", "null");
}

#[test]
fn replace() {
    ok_str(r#"replace("a-b-c", "-", "+")"#, "a+b+c");
    ok_str(r#"replace("abc", "", "+")"#, "+a+b+c+");
    // A search string in slashes is a regular expression, as in Terraform.
    ok_str(r##"replace("a1b22c", "/[0-9]+/", "#")"##, "a#b#c");
    ok_str(r#"replace("k=v", "/(\\w)=(\\w)/", "$2=$1")"#, "v=k");
    ok_str(r#"replace("a/b", "/", "-")"#, "a-b");
    invalid(r#"replace("a", "/(/", "b")"#, r#""/(/""#);
    wrong_count(r#"replace("a", "b")"#);
    invalid(r#"replace("a", ["b"], "c")"#, r#"["b"]"#);
    invalid(r#"replace("a", "b", {})"#, "{}");
}

#[test]
fn split() {
    ok(r#"split(",", "a,b,,c")"#, r#"["a", "b", "", "c"]"#);
    ok(r#"split(",", "")"#, r#"[""]"#);
    wrong_count(r#"split(",")"#);
    invalid(r#"split([","], "a")"#, r#"[","]"#);
    let empty = invalid(r#"split("", "abc")"#, r#""""#);
    assert_eq!(empty.label(), "the separator is empty");
}

#[test]
fn join() {
    ok_str(r#"join("-", ["a", 1, true])"#, "a-1-true");
    ok_str(r#"join("-", [])"#, "");
    wrong_count(r#"join("-")"#);
    invalid(r#"join("-", "a")"#, r#""a""#);
    let nested = invalid(r#"join("-", [["a"]])"#, r#"[["a"]]"#);
    assert!(nested.label().contains("list"), "{}", nested.label());
}

#[test]
fn format() {
    ok_str(r#"format("%s=%d", "port", 8080)"#, "port=8080");
    ok_str(r#"format("%q", "a\"b")"#, r#""a\"b""#);
    ok_str(r#"format("%t/%t", true, false)"#, "true/false");
    ok_str(
        r#"format("%v %v %v", "s", [1, "a"], null)"#,
        r#"s [1,"a"] null"#,
    );
    ok_str(
        r#"format("%05d|%+d|%-4d|%4d", 42, 5, 7, -3)"#,
        "00042|+5|7   |  -3",
    );
    ok_str(r#"format("%b %o %x %X", 5, 8, 255, 255)"#, "101 10 ff FF");
    ok_str(
        r#"format("%.2f|%8.3f|%f", 3.14159, 2.5, 1)"#,
        "3.14|   2.500|1.000000",
    );
    ok_str(
        r#"format("%e|%.2e", 1234.5, 0.00012)"#,
        "1.234500e+03|1.20e-04",
    );
    ok_str(
        r#"format("%5s|%-5s|%.2s", "ab", "cd", "xyz")"#,
        "   ab|cd   |xy",
    );
    ok_str(r#"format("100%%")"#, "100%");
    wrong_count("format()");
    let missing = invalid(r#"format("%s and %s", "a")"#, r#"format("%s and %s", "a")"#);
    assert_eq!(missing.label(), "not enough values for the format");
    let extra = invalid(r#"format("%s", "a", "b")"#, r#"format("%s", "a", "b")"#);
    assert_eq!(extra.label(), "more values than the format uses");
    let verb = invalid(r#"format("%z", 1)"#, r#""%z""#);
    assert!(verb.label().contains("`%z`"), "{}", verb.label());
    invalid(r#"format("50%", 1)"#, r#""50%""#);
    invalid(r#"format("%d", 1.5)"#, "1.5");
    invalid(r#"format("%d", "x")"#, r#""x""#);
    invalid(r#"format("%t", 1)"#, "1");
    invalid(r#"format("%s", [1])"#, "[1]");
    invalid(r#"format("%f", {})"#, "{}");
    invalid("format([1])", "[1]");
}

#[test]
fn substr() {
    ok_str(r#"substr("hello", 1, 3)"#, "ell");
    ok_str(r#"substr("héllo", 1, 2)"#, "él");
    // A negative offset counts from the end; a negative length means "to the end".
    ok_str(r#"substr("hello", -3, -1)"#, "llo");
    ok_str(r#"substr("hello", -3, 2)"#, "ll");
    ok_str(r#"substr("hello", 2, -1)"#, "llo");
    // Out-of-range offsets and lengths clamp to the string.
    ok_str(r#"substr("hello", -10, 2)"#, "he");
    ok_str(r#"substr("hello", 10, 2)"#, "");
    ok_str(r#"substr("hello", 3, 100)"#, "lo");
    wrong_count(r#"substr("hello", 1)"#);
    invalid(r#"substr("hello", 1.5, 1)"#, "1.5");
    invalid(r#"substr("hello", 0, "x")"#, r#""x""#);
    invalid("substr([], 0, 1)", "[]");
}

#[test]
fn length() {
    ok(r#"length("héllo")"#, "5");
    ok("length([1, 2, [3]])", "3");
    ok("length({a = 1})", "1");
    ok("length([])", "0");
    wrong_count("length()");
    wrong_count("length([], [])");
    invalid("length(12)", "12");
    invalid("length(null)", "null");
}

#[test]
fn keys() {
    ok("keys({b = 1, a = 2})", r#"["a", "b"]"#);
    ok("keys({})", "[]");
    wrong_count("keys()");
    invalid("keys([1])", "[1]");
}

#[test]
fn values() {
    ok("values({b = 1, a = 2})", "[2, 1]");
    wrong_count("values({}, {})");
    invalid(r#"values("x")"#, r#""x""#);
}

#[test]
fn merge() {
    ok(
        "merge({a = 1, b = 2}, {a = 3}, null, {c = 4})",
        "{ a = 3, b = 2, c = 4 }",
    );
    ok("merge()", "{}");
    invalid("merge({a = 1}, [1])", "[1]");
}

#[test]
fn concat() {
    ok(r#"concat([1], [], [2, "a"])"#, r#"[1, 2, "a"]"#);
    ok("concat()", "[]");
    invalid(r#"concat([1], "x")"#, r#""x""#);
}

#[test]
fn contains() {
    ok(r#"contains(["a", "b"], "b")"#, "true");
    ok("contains([1, 2], 2.0)", "true");
    ok(r#"contains([1], "2")"#, "false");
    ok("contains([[1]], [1])", "true");
    wrong_count("contains([1])");
    invalid("contains({a = 1}, 1)", "{a = 1}");
}

#[test]
fn lookup() {
    ok(r#"lookup({a = 1}, "a")"#, "1");
    ok(r#"lookup({a = 1}, "b", "dflt")"#, r#""dflt""#);
    wrong_count("lookup({})");
    wrong_count(r#"lookup({}, "a", 1, 2)"#);
    invalid(r#"lookup([1], "a")"#, "[1]");
    invalid("lookup({a = 1}, [1])", "[1]");
    let missing = fails(
        r#"lookup({a = 1, cc = 2}, "b")"#,
        Code::CheckMissingKey,
        r#""b""#,
    );
    assert_eq!(missing.label(), r#"the key "b" is not in the map"#);
    assert!(missing.help().contains("a, cc"), "{}", missing.help());
}

#[test]
fn flatten() {
    ok("flatten([[1, [2]], 3, []])", "[1, 2, 3]");
    ok("flatten([])", "[]");
    wrong_count("flatten()");
    invalid("flatten({a = [1]})", "{a = [1]}");
}

#[test]
fn distinct() {
    ok(r#"distinct([1, 2, 1, "a", "a", 2.0])"#, r#"[1, 2, "a"]"#);
    wrong_count("distinct()");
    invalid(r#"distinct("a")"#, r#""a""#);
}

#[test]
fn sort() {
    ok(r#"sort(["b", "a", "c"])"#, r#"["a", "b", "c"]"#);
    wrong_count("sort()");
    invalid(r#"sort("a")"#, r#""a""#);
    invalid("sort([[1]])", "[[1]]");
}

#[test]
fn zipmap() {
    ok(r#"zipmap(["a", "b"], [1, [2]])"#, "{ a = 1, b = [2] }");
    ok("zipmap([], [])", "{}");
    wrong_count("zipmap([])");
    invalid(r#"zipmap("a", [1])"#, r#""a""#);
    invalid(r#"zipmap(["a"], "b")"#, r#""b""#);
    let mismatch = invalid(r#"zipmap(["a", "b"], [1])"#, r#"zipmap(["a", "b"], [1])"#);
    assert_eq!(mismatch.label(), "2 keys but 1 values");
}

#[test]
fn range() {
    ok("range(3)", "[0, 1, 2]");
    ok("range(1, 4)", "[1, 2, 3]");
    ok("range(0, 10, 3)", "[0, 3, 6, 9]");
    ok("range(5, 0, -2)", "[5, 3, 1]");
    ok("range(0, 1, 0.25)", "[0, 0.25, 0.5, 0.75]");
    ok("range(0)", "[]");
    wrong_count("range()");
    wrong_count("range(1, 2, 3, 4)");
    invalid(r#"range("x")"#, r#""x""#);
    let zero = invalid("range(1, 5, 0)", "0");
    assert_eq!(zero.label(), "the step is zero");
    invalid("range(0, 2000000)", "range(0, 2000000)");
}

#[test]
fn jsonencode() {
    ok_str(
        r#"jsonencode({a = [1, true, null, "x"], b = 1.5})"#,
        r#"{"a":[1,true,null,"x"],"b":1.5}"#,
    );
    ok_str(r#"jsonencode("a")"#, r#""a""#);
    wrong_count("jsonencode()");
}

#[test]
fn jsondecode() {
    ok(
        r#"jsondecode("{\"a\": [1, 2.5, null], \"b\": true}")"#,
        "{ a = [1, 2.5, null], b = true }",
    );
    ok(r#"jsondecode("9007199254740993")"#, "9007199254740993");
    wrong_count("jsondecode()");
    let junk = invalid(r#"jsondecode("{nope")"#, r#""{nope""#);
    assert_eq!(junk.label(), "this is not valid JSON");
    invalid("jsondecode([1])", "[1]");
}

#[test]
fn base64encode() {
    ok_str(r#"base64encode("hello")"#, "aGVsbG8=");
    wrong_count(r#"base64encode("a", "b")"#);
    invalid("base64encode([])", "[]");
}

#[test]
fn base64decode() {
    ok_str(r#"base64decode("aGVsbG8=")"#, "hello");
    wrong_count("base64decode()");
    let junk = invalid(r#"base64decode("!!not base64")"#, r#""!!not base64""#);
    assert_eq!(junk.label(), "this is not valid base64");
    let binary = invalid(r#"base64decode("/w==")"#, r#""/w==""#);
    assert!(binary.label().contains("UTF-8"), "{}", binary.label());
}

#[test]
fn sha256() {
    ok_str(
        r#"sha256("abc")"#,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    wrong_count("sha256()");
    invalid("sha256({})", "{}");
}

#[test]
fn md5() {
    ok_str(r#"md5("abc")"#, "900150983cd24fb0d6963f7d28e17f72");
    wrong_count(r#"md5("a", "b")"#);
    invalid("md5([])", "[]");
}

#[test]
fn env_var() {
    ok_str(r#"env_var("HOME_DIR")"#, "/home/infra");
    ok_str(r#"env_var("EMPTY")"#, "");
    wrong_count("env_var()");
    invalid("env_var([])", "[]");
    let unset = fails(
        r#"env_var("NOT_SET")"#,
        Code::CheckMissingEnvVar,
        r#""NOT_SET""#,
    );
    assert!(unset.help().contains("export NOT_SET="), "{}", unset.help());
}

#[test]
fn file() {
    ok_str(r#"file("hello.txt")"#, "hi\n");
    wrong_count("file()");
    invalid("file([])", "[]");
    let missing = fails(
        r#"file("missing.txt")"#,
        Code::CheckFileNotReadable,
        r#""missing.txt""#,
    );
    assert!(
        missing.help().contains("no such file"),
        "{}",
        missing.help()
    );
}

#[test]
fn templatefile() {
    // The test context stands in for the renderer (tested in `expand`).
    ok_str(
        r#"templatefile("app.tpl", {port = 1})"#,
        "app.tpl: 12 bytes, 1 vars",
    );
    wrong_count(r#"templatefile("app.tpl")"#);
    invalid(r#"templatefile("app.tpl", "x")"#, r#""x""#);
    invalid("templatefile([], {})", "[]");
    fails(
        r#"templatefile("missing.tpl", {})"#,
        Code::CheckFileNotReadable,
        r#""missing.tpl""#,
    );
    // Without a stack folder there are no templates.
    let source = "x = templatefile(\"a\", {})\n";
    let (file, _) = crate::syntax::parse(crate::diag::FileId(0), source);
    let Some(crate::syntax::ast::Item::Attribute(attribute)) = file.body.items.first() else {
        panic!("no attribute");
    };
    let result = crate::lang::eval(
        &attribute.value,
        &super::TestScope,
        &crate::lang::functions::NoContext,
    );
    assert_eq!(result.unwrap_err().code, Code::CheckFileNotReadable);
}

#[test]
fn cidrsubnet() {
    ok_str(r#"cidrsubnet("10.0.0.0/16", 8, 2)"#, "10.0.2.0/24");
    ok_str(r#"cidrsubnet("10.1.2.3/24", 4, 15)"#, "10.1.2.240/28");
    ok_str(r#"cidrsubnet("10.0.0.0/8", 0, 0)"#, "10.0.0.0/8");
    ok_str(r#"cidrsubnet("fd00::/48", 16, 1)"#, "fd00:0:0:1::/64");
    wrong_count(r#"cidrsubnet("10.0.0.0/16", 8)"#);
    let bad = invalid(r#"cidrsubnet("10.0.0.0", 8, 1)"#, r#""10.0.0.0""#);
    assert_eq!(bad.label(), "this is not a CIDR prefix");
    invalid(r#"cidrsubnet("10.0.0.0/33", 1, 0)"#, r#""10.0.0.0/33""#);
    invalid(r#"cidrsubnet("10.0.0.300/16", 1, 0)"#, r#""10.0.0.300/16""#);
    invalid(r#"cidrsubnet("10.0.0.0/16", 17, 0)"#, "17");
    invalid(r#"cidrsubnet("10.0.0.0/16", -1, 0)"#, "-1");
    let range = invalid(r#"cidrsubnet("10.0.0.0/16", 2, 4)"#, "4");
    assert_eq!(range.label(), "2 new bits allow 4 subnets");
    invalid(r#"cidrsubnet("10.0.0.0/16", 2, -1)"#, "-1");
    invalid(r#"cidrsubnet("10.0.0.0/16", "x", 1)"#, r#""x""#);
}

#[test]
fn timestamp_is_refused_as_nondeterministic() {
    for name in ["timestamp", "uuid"] {
        let call = format!("{name}()");
        let refused = fails(&call, Code::CheckNondeterministicFunction, name);
        assert!(
            refused.help().contains("deterministic"),
            "{}",
            refused.help()
        );
    }
}

#[test]
fn a_misspelt_function_suggests_the_right_one() {
    let misspelt = fails("lenght([1])", Code::CheckUnknownFunction, "lenght");
    assert_eq!(misspelt.label(), "no function `lenght`");
    assert!(
        misspelt.help().contains("did you mean `length`"),
        "{}",
        misspelt.help()
    );
    let unrelated = fails("qqqqqqq(1)", Code::CheckUnknownFunction, "qqqqqqq");
    assert!(
        !unrelated.help().contains("did you mean"),
        "{}",
        unrelated.help()
    );
}

#[test]
fn expanding_the_last_argument() {
    ok(r#"concat(["a"], [[1], [2]]...)"#, r#"["a", 1, 2]"#);
    ok("merge([{a = 1}, {b = 2}]...)", "{ a = 1, b = 2 }");
    // Each expanded element is checked, pointing at the expanded argument.
    invalid(r#"concat(["a"]...)"#, r#"["a"]"#);
    fails(r#"concat("x"...)"#, Code::CheckTypeMismatch, r#""x""#);
    assert_eq!(run("length([[1, 2]]...)").value().to_string(), "2");
}

// ---- conversion and error handling -----------------------------------------

#[test]
fn tonumber() {
    ok("tonumber(\"42\")", "42");
    ok("tonumber(1.5)", "1.5");
    ok("tonumber(null)", "null");
    invalid("tonumber(\"x\")", "\"x\"");
    wrong_count("tonumber()");
}

#[test]
fn tostring() {
    ok_str("tostring(5)", "5");
    ok_str("tostring(true)", "true");
    invalid("tostring([1])", "[1]");
}

#[test]
fn tobool() {
    ok("tobool(\"true\")", "true");
    ok("tobool(false)", "false");
    invalid("tobool(1)", "1");
}

#[test]
fn tolist() {
    ok("tolist([\"a\", 1, true])", "[\"a\", \"1\", \"true\"]");
    ok("tolist([1, 2])", "[1, 2]");
    invalid("tolist(\"a\")", "\"a\"");
}

#[test]
fn toset() {
    ok("toset([\"b\", \"a\", \"b\"])", "[\"a\", \"b\"]");
    ok("toset([10, 2, 10])", "[2, 10]");
    invalid("toset({a = 1})", "{a = 1}");
}

#[test]
fn tomap() {
    ok("tomap({a = 1, b = \"x\"})", "{ a = \"1\", b = \"x\" }");
    invalid("tomap([1])", "[1]");
}

#[test]
fn r#try() {
    ok("try(var.m.nope, \"fallback\")", "\"fallback\"");
    ok("try(var.m.a, 0)", "1");
    ok("try(tonumber(\"x\"), tonumber(\"7\"))", "7");
    let none = invalid("try(var.m.nope)", "try(var.m.nope)");
    assert!(none.help().contains("no attribute"), "{}", none.help());
    wrong_count("try()");
}

#[test]
fn can() {
    ok("can(var.m.a)", "true");
    ok("can(var.m.nope)", "false");
    ok("can(regex(\"^[a-z]+$\", \"abc\"))", "true");
    ok("can(tonumber(\"x\"))", "false");
    wrong_count("can(1, 2)");
}

#[test]
fn coalesce() {
    ok("coalesce(null, \"\", \"b\")", "\"b\"");
    ok("coalesce(1, 2)", "1");
    invalid("coalesce(null, \"\")", "coalesce(null, \"\")");
    wrong_count("coalesce()");
}

// ---- regular expressions and strings ---------------------------------------

#[test]
fn regex() {
    ok_str("regex(\"[a-z]+\", \"123abc456\")", "abc");
    ok(
        "regex(\"(\\\\d+)-(\\\\d+)\", \"10-20\")",
        "[\"10\", \"20\"]",
    );
    ok(
        "regex(\"(?P<k>\\\\w+)=(?P<v>\\\\w+)\", \"a=b\")",
        "{ k = \"a\", v = \"b\" }",
    );
    ok("regex(\"(a)?(b)\", \"b\")", "[null, \"b\"]");
    invalid("regex(\"x\", \"abc\")", "regex(\"x\", \"abc\")");
    invalid("regex(\"(\", \"abc\")", "\"(\"");
    invalid("regex(\"(?P<a>x)(y)\", \"xy\")", "\"(?P<a>x)(y)\"");
    wrong_count("regex(\"a\")");
}

#[test]
fn regexall() {
    ok(
        "regexall(\"[0-9]+\", \"a1b22c333\")",
        "[\"1\", \"22\", \"333\"]",
    );
    ok("regexall(\"x\", \"abc\")", "[]");
    ok("length(regexall(\"(a)(b)\", \"abab\"))", "2");
    invalid("regexall(\"[\", \"a\")", "\"[\"");
}

#[test]
fn startswith() {
    ok("startswith(\"hello\", \"he\")", "true");
    ok("startswith(\"hello\", \"lo\")", "false");
    wrong_count("startswith(\"a\")");
}

#[test]
fn endswith() {
    ok("endswith(\"hello\", \"lo\")", "true");
    ok("endswith(\"hello\", \"he\")", "false");
}

#[test]
fn strcontains() {
    ok("strcontains(\"hello\", \"ell\")", "true");
    ok("strcontains(\"hello\", \"x\")", "false");
}

#[test]
fn trimprefix() {
    ok_str("trimprefix(\"helloworld\", \"hello\")", "world");
    ok_str("trimprefix(\"hello\", \"x\")", "hello");
}

#[test]
fn trimsuffix() {
    ok_str("trimsuffix(\"helloworld\", \"world\")", "hello");
    ok_str("trimsuffix(\"hello\", \"x\")", "hello");
}

#[test]
fn trim() {
    ok_str("trim(\"?!hello?!\", \"!?\")", "hello");
}

#[test]
fn title() {
    ok_str(
        "title(\"hello wORLD foo_bar foo-bar élan\")",
        "Hello WORLD Foo_bar Foo-Bar Élan",
    );
}

#[test]
fn strrev() {
    ok_str("strrev(\"abc é\")", "é cba");
}

#[test]
fn indent() {
    ok_str("indent(2, \"a\\n\\nb\\n\")", "a\n  \n  b\n  ");
    invalid("indent(-1, \"a\")", "-1");
}

#[test]
fn chomp() {
    ok_str("chomp(\"a\\r\\n\\n\")", "a");
    ok_str("chomp(\"a\\nb\")", "a\nb");
}

// ---- numbers ---------------------------------------------------------------

#[test]
fn abs() {
    ok("abs(-3)", "3");
    ok("abs(1.5)", "1.5");
}

#[test]
fn ceil() {
    ok("ceil(1.2)", "2");
    ok("ceil(-1.2)", "-1");
}

#[test]
fn floor() {
    ok("floor(1.8)", "1");
    ok("floor(-1.2)", "-2");
}

#[test]
fn signum() {
    ok("signum(-4)", "-1");
    ok("signum(0)", "0");
    ok("signum(2.5)", "1");
}

#[test]
fn log() {
    ok("log(8, 2)", "3");
}

#[test]
fn pow() {
    ok("pow(3, 2)", "9");
    ok("pow(2, 0.5)", "1.4142135623730951");
    ok("pow(2, -1)", "0.5");
}

#[test]
fn min() {
    ok("min(3, 1.5, 2)", "1.5");
    invalid("min(\"a\")", "\"a\"");
    wrong_count("min()");
}

#[test]
fn max() {
    ok("max(3, 1.5, 2)", "3");
    ok("max([1, 5]...)", "5");
}

#[test]
fn parseint() {
    ok("parseint(\"ff\", 16)", "255");
    ok("parseint(\"-101\", 2)", "-5");
    ok("parseint(\"zZ\", 62)", "2231");
    invalid("parseint(\"12\", 1)", "1");
    invalid("parseint(\"19\", 8)", "\"19\"");
    invalid("parseint(12, 10)", "12");
}

#[test]
fn sum() {
    ok("sum([1, 2.5, 3])", "6.5");
    invalid("sum([])", "[]");
    invalid("sum([\"a\"])", "[\"a\"]");
}

// ---- collections -----------------------------------------------------------

#[test]
fn element() {
    ok("element([\"a\", \"b\"], 3)", "\"b\"");
    invalid("element([], 0)", "[]");
    invalid("element([1], -1)", "-1");
}

#[test]
fn index() {
    ok("index([\"a\", \"b\"], \"b\")", "1");
    invalid("index([\"a\"], \"z\")", "\"z\"");
}

#[test]
fn slice() {
    ok("slice([1, 2, 3, 4], 1, 3)", "[2, 3]");
    ok("slice([1], 1, 1)", "[]");
    invalid("slice([1], 0, 2)", "2");
    invalid("slice([1], -1, 1)", "-1");
}

#[test]
fn reverse() {
    ok("reverse([1, 2, 3])", "[3, 2, 1]");
}

#[test]
fn compact() {
    ok("compact([\"a\", \"\", null, \"b\"])", "[\"a\", \"b\"]");
}

#[test]
fn chunklist() {
    ok("chunklist([1, 2, 3], 2)", "[[1, 2], [3]]");
    ok("chunklist([1, 2], 0)", "[[1, 2]]");
    invalid("chunklist([1], -1)", "-1");
}

#[test]
fn setunion() {
    ok(
        "setunion([\"b\", \"a\"], [\"c\", \"a\"])",
        "[\"a\", \"b\", \"c\"]",
    );
    ok("setunion([3, 1], [2, 10])", "[1, 2, 3, 10]");
}

#[test]
fn setintersection() {
    ok("setintersection([\"a\", \"b\"], [\"b\", \"c\"])", "[\"b\"]");
}

#[test]
fn setsubtract() {
    ok(
        "setsubtract([\"a\", \"b\", \"c\"], [\"b\"])",
        "[\"a\", \"c\"]",
    );
}

#[test]
fn setproduct() {
    ok(
        "setproduct([\"a\", \"b\"], [1, 2])",
        "[[\"a\", 1], [\"a\", 2], [\"b\", 1], [\"b\", 2]]",
    );
    wrong_count("setproduct([1])");
}

#[test]
fn alltrue() {
    ok("alltrue([true, \"true\"])", "true");
    ok("alltrue([])", "true");
    ok("alltrue([true, false])", "false");
    invalid("alltrue([1])", "[1]");
}

#[test]
fn anytrue() {
    ok("anytrue([false, true])", "true");
    ok("anytrue([])", "false");
}

#[test]
fn one() {
    ok("one([])", "null");
    ok("one([\"a\"])", "\"a\"");
    invalid("one([1, 2])", "[1, 2]");
}

#[test]
fn transpose() {
    ok(
        "transpose({a = [\"1\", \"2\"], b = [\"2\", \"3\"]})",
        "{ \"1\" = [\"a\"], \"2\" = [\"a\", \"b\"], \"3\" = [\"b\"] }",
    );
    invalid("transpose({a = 1})", "{a = 1}");
}

#[test]
fn coalescelist() {
    ok("coalescelist([], [\"a\"], [\"b\"])", "[\"a\"]");
    invalid("coalescelist([], [])", "coalescelist([], [])");
}

#[test]
fn matchkeys() {
    ok(
        "matchkeys([\"i-1\", \"i-2\", \"i-3\"], [\"a\", \"b\", \"a\"], [\"a\"])",
        "[\"i-1\", \"i-3\"]",
    );
    invalid("matchkeys([1], [], [])", "matchkeys([1], [], [])");
}

// ---- CIDR ------------------------------------------------------------------

#[test]
fn cidrhost() {
    ok_str("cidrhost(\"10.12.112.0/20\", 16)", "10.12.112.16");
    ok_str("cidrhost(\"10.12.112.0/20\", -1)", "10.12.127.255");
    ok_str(
        "cidrhost(\"fd00:fd12:3456:7890::/56\", 16)",
        "fd00:fd12:3456:7800::10",
    );
    invalid("cidrhost(\"10.0.0.0/30\", 4)", "4");
    invalid("cidrhost(\"nope\", 1)", "\"nope\"");
}

#[test]
fn cidrnetmask() {
    ok_str("cidrnetmask(\"172.16.0.0/12\")", "255.240.0.0");
    invalid("cidrnetmask(\"fd00::/8\")", "\"fd00::/8\"");
}

#[test]
fn cidrsubnets() {
    ok(
        "cidrsubnets(\"10.1.0.0/16\", 4, 4, 8, 4)",
        "[\"10.1.0.0/20\", \"10.1.16.0/20\", \"10.1.32.0/24\", \"10.1.48.0/20\"]",
    );
    ok(
        "cidrsubnets(\"fd00:fd12:3456:7890::/56\", 16, 16)",
        "[\"fd00:fd12:3456:7800::/72\", \"fd00:fd12:3456:7800:100::/72\"]",
    );
    invalid("cidrsubnets(\"10.0.0.0/30\", 1, 1, 1)", "1");
    invalid("cidrsubnets(\"10.0.0.0/30\", 3)", "3");
}

// ---- files -----------------------------------------------------------------

#[test]
fn fileexists() {
    ok("fileexists(\"hello.txt\")", "true");
    ok("fileexists(\"nope.txt\")", "false");
}

#[test]
fn fileset() {
    ok("fileset(\".\", \"*.txt\")", "[\"hello.txt\"]");
    ok(
        "fileset(\".\", \"**/*.{txt,tpl}\")",
        "[\"app.tpl\", \"conf/d/e.tpl\", \"hello.txt\"]",
    );
    invalid("fileset(\".\", \"[a\")", "\"[a\"");
    fails(
        "fileset(\"nope\", \"*\")",
        Code::CheckFileNotReadable,
        "\"nope\"",
    );
}

#[test]
fn filebase64() {
    ok_str("filebase64(\"hello.txt\")", "aGkK");
    fails(
        "filebase64(\"nope\")",
        Code::CheckFileNotReadable,
        "\"nope\"",
    );
}

#[test]
fn filebase64sha256() {
    ok_str(
        "filebase64sha256(\"hello.txt\")",
        "mOpuTyFvL7S2n/+bOkSELDhobKaF8/VdxIxdP7EQe+Q=",
    );
}

#[test]
fn filebase64sha512() {
    ok("length(filebase64sha512(\"hello.txt\"))", "88");
}

#[test]
fn filemd5() {
    ok_str("filemd5(\"hello.txt\")", "764efa883dda1e11db47671c4a3bbd9e");
}

#[test]
fn filesha1() {
    ok_str(
        "filesha1(\"hello.txt\")",
        "55ca6286e3e4f4fba5d0448333fa99fc5a404a73",
    );
}

#[test]
fn filesha256() {
    ok_str(
        "filesha256(\"hello.txt\")",
        "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4",
    );
}

#[test]
fn filesha512() {
    ok("length(filesha512(\"hello.txt\"))", "128");
}

#[test]
fn dirname() {
    ok_str("dirname(\"foo/bar/baz.txt\")", "foo/bar");
    ok_str("dirname(\"baz.txt\")", ".");
}

#[test]
fn basename() {
    ok_str("basename(\"foo/bar/baz.txt\")", "baz.txt");
    ok_str("basename(\"foo/bar/\")", "bar");
}

// ---- encodings and hashes --------------------------------------------------

#[test]
fn urlencode() {
    ok_str("urlencode(\"a b&c/é~-_.\")", "a+b%26c%2F%C3%A9~-_.");
}

#[test]
fn yamlencode() {
    ok_str(
        "yamlencode({a = 1, c = [1, \"two\", true, null], d = {e = \"multi\\nline\"}, f = [], l = [[1, 2], {m = 1}]})",
        "\"a\": 1\n\"c\":\n- 1\n- \"two\"\n- true\n- null\n\"d\":\n  \"e\": |-\n    multi\n    line\n\"f\": []\n\"l\":\n- - 1\n  - 2\n- \"m\": 1\n",
    );
    ok_str("yamlencode(\"str\")", "\"str\"\n");
}

#[test]
fn yamldecode() {
    ok(
        "yamldecode(\"a: 1\\nb: [x, 2.5, true, null]\\n\")",
        "{ a = 1, b = [\"x\", 2.5, true, null] }",
    );
    invalid("yamldecode(\"a: [\")", "\"a: [\"");
}

#[test]
fn csvdecode() {
    ok(
        "csvdecode(\"a,b\\n1,2\\n\\\"x,y\\\",z\\n\")",
        "[{ a = \"1\", b = \"2\" }, { a = \"x,y\", b = \"z\" }]",
    );
    invalid("csvdecode(\"a,b\\n1\\n\")", "\"a,b\\n1\\n\"");
}

#[test]
fn sha1() {
    ok_str(
        "sha1(\"hello\")",
        "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
    );
}

#[test]
fn sha512() {
    ok("length(sha512(\"hello\"))", "128");
    ok_str("substr(sha512(\"hello\"), 0, 16)", "9b71d224bd62f378");
}

#[test]
fn base64sha256() {
    ok_str(
        "base64sha256(\"hello\")",
        "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
    );
}

#[test]
fn base64sha512() {
    ok("length(base64sha512(\"hello\"))", "88");
}

#[test]
fn uuidv5() {
    ok_str(
        "uuidv5(\"dns\", \"www.terraform.io\")",
        "a5008fae-b28c-5ba5-96cd-82b4c53552d6",
    );
    ok_str(
        "uuidv5(\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\", \"x\")",
        "05b16a01-46c6-56dd-bd6e-c6dfb4a1427a",
    );
    invalid("uuidv5(\"nope\", \"x\")", "\"nope\"");
}
