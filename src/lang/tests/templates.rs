//! Template directives (`%{ if }`, `%{ for }`) and `~` strip markers, in
//! quoted strings and heredocs: their text, their marks, their errors.

use super::{fails, is_secret, is_unknown, ok_str, run};
use crate::diag::Code;

#[test]
fn if_directives_choose_a_branch() {
    ok_str(r#""%{ if true }yes%{ else }no%{ endif }""#, "yes");
    ok_str(r#""%{ if 1 > 2 }yes%{ else }no%{ endif }""#, "no");
    ok_str(r#""[%{ if false }hidden%{ endif }]""#, "[]");
    ok_str(r#""%{ if var.m.a == 1 }${var.m.b}%{ endif }""#, "two");
}

#[test]
fn for_directives_repeat_their_body() {
    ok_str(r#""%{ for x in var.l }${x},%{ endfor }""#, "x,y,z,");
    ok_str(
        r#""%{ for i, x in var.l }${i}=${x} %{ endfor }""#,
        "0=x 1=y 2=z ",
    );
    ok_str(
        r#""%{ for k, v in var.m }${k}:${v};%{ endfor }""#,
        "a:1;b:two;",
    );
    ok_str(
        r#""%{ for x in [1, 2] }%{ for y in ["a", "b"] }${x}${y} %{ endfor }%{ endfor }""#,
        "1a 1b 2a 2b ",
    );
    ok_str(
        r#""%{ for x in [1, 2, 3] }%{ if x != 2 }${x}%{ endif }%{ endfor }""#,
        "13",
    );
}

#[test]
fn strip_markers_remove_the_whitespace_beside_them() {
    ok_str(r#""a   %{~ if true ~}   b   %{~ endif ~}   c""#, "abc");
    ok_str(r#""a ${~ "x" ~} b""#, "axb");
    ok_str(r#""a ${~ "x"} b""#, "ax b");
    ok_str(
        "<<EOT\n%{ for x in [1, 2] ~}\nline ${x}\n%{ endfor ~}\nEOT",
        "line 1\nline 2\n",
    );
    // In a heredoc a marker trims only the literal beside it, on its line.
    ok_str(
        "<<-EOT\n    %{~ if true ~}\n    kept\n    %{~ endif ~}\n    EOT",
        "    kept\n",
    );
}

#[test]
fn escapes_make_percent_braces_literal() {
    ok_str(r#""100%% %%{ if }""#, "100%% %{ if }");
    ok_str(r#""50% off""#, "50% off");
    ok_str("<<EOT\n%%{ for }\nEOT", "%{ for }\n");
}

#[test]
fn heredoc_directives_keep_lines_without_markers() {
    ok_str("<<EOT\n%{ if true }\nyes\n%{ endif }\nEOT", "\nyes\n\n");
}

#[test]
fn a_secret_condition_or_collection_makes_the_text_secret() {
    is_secret(r#""%{ if var.sb }a%{ else }b%{ endif }""#);
    is_secret(r#""%{ for x in var.sl }.%{ endfor }""#);
    is_secret(r#""%{ for k, v in var.sm }${v}%{ endfor }""#);
}

#[test]
fn an_unknown_condition_or_collection_makes_the_text_unknown() {
    is_unknown(r#""%{ if var.u }a%{ endif }""#);
    is_unknown(r#""%{ for x in var.u }${x}%{ endfor }""#);
}

#[test]
fn errors_inside_directives_point_at_their_expression() {
    fails(
        r#""%{ if "maybe" }a%{ endif }""#,
        Code::CheckTypeMismatch,
        r#""maybe""#,
    );
    fails(
        r#""%{ for x in 3 }a%{ endfor }""#,
        Code::CheckTypeMismatch,
        "3",
    );
    fails(
        r#""%{ for x in [[1]] }${x}%{ endfor }""#,
        Code::CheckTypeMismatch,
        "x",
    );
    // The bound name is gone after the loop.
    let outcome = run(r#""%{ for x in [1] }%{ endfor }${try(x, "unbound")}""#);
    assert_eq!(outcome.value().as_str(), Some("unbound"));
}

#[test]
fn indented_heredocs_with_strip_markers_follow_terraform() {
    // Terraform 1.15.5's values for these (HCL strips only the one literal
    // beside a marker, and a line a marker emptied counts as not indented).
    ok_str(
        "<<-EOT\n    %{ for x in [\"a\", \"b\"] ~}\n    ${x}\n    %{ endfor ~}\n    done\n  EOT",
        "    a\n    b\n    done\n",
    );
    ok_str(
        "<<-EOT\n    start\n      %{~ for x in [1, 2] ~}\n      item ${x}\n      %{~ endfor ~}\n    end\n  EOT",
        "    start\n      item 1\n      item 2\n    end\n",
    );
    ok_str(
        "<<-EOT\n    %{ for x in [1, 2] }\n      - ${x}\n    %{ endfor }\n  EOT",
        "\n  - 1\n\n  - 2\n\n",
    );
}
