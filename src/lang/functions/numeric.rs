//! Number builtins: `abs`, `ceil`, `floor`, `log`, `max`, `min`, `parseint`,
//! `pow`, `signum`, `sum`.
//!
//! Invariant: every result is a finite [`Number`]; an overflow is an error,
//! never an infinity or a NaN.

use super::{Call, invalid};
use crate::diag::Diagnostic;
use crate::lang::number::Number;
use crate::lang::value::{Kind, Value};

/// The names this file answers for (checked against [`super::NAMES`]).
#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    "abs", "ceil", "floor", "log", "max", "min", "parseint", "pow", "signum", "sum",
];

pub(super) fn call(call: &Call<'_>) -> Option<Result<Value, Diagnostic>> {
    Some(match call.name {
        "abs" => call.number(0).and_then(|n| {
            finite(
                call,
                match n {
                    Number::Int(i) => i
                        .checked_abs()
                        .map(Number::Int)
                        .or_else(|| Number::from_f64(n.as_f64().abs())),
                    Number::Float(f) => Number::from_f64(f.abs()),
                },
            )
        }),
        "ceil" => call
            .number(0)
            .and_then(|n| finite(call, Number::from_f64(n.as_f64().ceil()))),
        "floor" => call
            .number(0)
            .and_then(|n| finite(call, Number::from_f64(n.as_f64().floor()))),
        "signum" => call.number(0).map(|n| {
            let f = n.as_f64();
            Value::number(if f > 0.0 {
                1
            } else if f < 0.0 {
                -1
            } else {
                0
            })
        }),
        "log" => log(call),
        "pow" => pow(call),
        "min" | "max" => min_max(call),
        "parseint" => parseint(call),
        "sum" => sum(call),
        _ => return None,
    })
}

fn finite(call: &Call<'_>, number: Option<Number>) -> Result<Value, Diagnostic> {
    number.map(|n| Value::new(Kind::Number(n))).ok_or_else(|| {
        invalid(
            call.span,
            "the result is not a finite number",
            "numbers must stay finite",
        )
    })
}

fn log(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let x = call.number(0)?.as_f64();
    let base = call.number(1)?.as_f64();
    finite(call, Number::from_f64(x.ln() / base.ln()))
}

fn pow(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let base = call.number(0)?;
    let exponent = call.number(1)?;
    // Whole powers of whole numbers stay exact as long as they fit.
    if let (Number::Int(b), Number::Int(e)) = (base, exponent) {
        if let Some(exact) = u32::try_from(e).ok().and_then(|e| b.checked_pow(e)) {
            return Ok(Value::number(exact));
        }
    }
    finite(
        call,
        Number::from_f64(base.as_f64().powf(exponent.as_f64())),
    )
}

fn min_max(call: &Call<'_>) -> Result<Value, Diagnostic> {
    if call.args.is_empty() {
        return Err(invalid(
            call.span,
            "there are no numbers to compare",
            format!("`{}` takes one or more numbers", call.name),
        ));
    }
    let mut best = call.number(0)?;
    for i in 1..call.args.len() {
        let n = call.number(i)?;
        if (call.name == "min" && n < best) || (call.name == "max" && n > best) {
            best = n;
        }
    }
    Ok(Value::new(Kind::Number(best)))
}

fn parseint(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let (value, span) = call.arg(0);
    let Some(text) = value.as_str() else {
        return Err(invalid(
            span,
            format!("this is a {}, not a string", value.type_name()),
            "parseint parses the digits of a string",
        ));
    };
    let base = call.integer(1)?;
    let base = u32::try_from(base)
        .ok()
        .filter(|b| (2..=62).contains(b))
        .ok_or_else(|| {
            invalid(
                call.arg(1).1,
                "this base is not from 2 to 62",
                "parseint takes a base from 2 to 62",
            )
        })?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let not_a_number = || {
        invalid(
            span,
            format!("this is not a whole number in base {base}"),
            "the digits are 0-9, then a-z, then A-Z (for bases above 36)",
        )
    };
    if digits.is_empty() {
        return Err(not_a_number());
    }
    let mut total: i128 = 0;
    for c in digits.chars() {
        let digit = match c {
            '0'..='9' => u32::from(c) - u32::from('0'),
            'a'..='z' => u32::from(c) - u32::from('a') + 10,
            'A'..='Z' if base <= 36 => u32::from(c) - u32::from('A') + 10,
            'A'..='Z' => u32::from(c) - u32::from('A') + 36,
            _ => return Err(not_a_number()),
        };
        if digit >= base {
            return Err(not_a_number());
        }
        total = total
            .checked_mul(i128::from(base))
            .and_then(|t| t.checked_add(i128::from(digit)))
            .filter(|t| *t <= i128::from(i64::MAX) + 1)
            .ok_or_else(|| {
                invalid(
                    span,
                    "this number does not fit in 64 bits",
                    "numbers parsed by parseint are 64-bit integers",
                )
            })?;
    }
    let signed = if negative { -total } else { total };
    i64::try_from(signed).map(Value::number).map_err(|_| {
        invalid(
            span,
            "this number does not fit in 64 bits",
            "numbers parsed by parseint are 64-bit integers",
        )
    })
}

fn sum(call: &Call<'_>) -> Result<Value, Diagnostic> {
    let span = call.arg(0).1;
    let items = call.list(0)?;
    if items.is_empty() {
        return Err(invalid(
            span,
            "this list is empty",
            "sum needs at least one number",
        ));
    }
    let mut total = Number::Int(0);
    for item in items {
        let n = match item.kind() {
            Kind::Number(n) => *n,
            Kind::String(s) => Number::parse(s.trim()).ok_or_else(|| {
                invalid(
                    span,
                    "this list holds a string that is not a number",
                    "sum adds numbers",
                )
            })?,
            _ => {
                return Err(invalid(
                    span,
                    format!("this list holds a {}", item.type_name()),
                    "sum adds numbers",
                ));
            }
        };
        total = total.checked_add(n).ok_or_else(|| {
            invalid(
                span,
                "the sum is not a finite number",
                "numbers must stay finite",
            )
        })?;
    }
    Ok(Value::new(Kind::Number(total)))
}
