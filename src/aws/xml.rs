//! Just enough XML for the AWS REST-XML and query protocols: the text of
//! an element, the bodies of repeated elements, and escaping.
//!
//! AWS response documents are flat, generated and namespace-free in the
//! element names we read, so a scanner suffices: it finds `<Name>` or
//! `<Name attr="…">`, takes everything up to the matching `</Name>`, and
//! unescapes the five predefined entities and numeric references.
//!
//! Invariant: never panics on any input; malformed text yields `None` or
//! fewer elements, never an error.

/// The inner text of the first `<tag>` element, unescaped.
pub fn text(document: &str, tag: &str) -> Option<String> {
    elements(document, tag).into_iter().next().map(unescape)
}

/// The raw inner contents of every `<tag>` element, in document order (an
/// element of the same name nested inside another is not split out).
pub fn elements<'d>(document: &'d str, tag: &str) -> Vec<&'d str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = document;
    while let Some(at) = rest.find(&open) {
        let after_name = &rest[at + open.len()..];
        // `<tag>`, `<tag attr…>` or `<tag/>`; `<tagOther>` is another element.
        let Some(next) = after_name.chars().next() else {
            break;
        };
        if !(next == '>' || next == '/' || next.is_whitespace()) {
            rest = after_name;
            continue;
        }
        let Some(end_of_open) = after_name.find('>') else {
            break;
        };
        let head = &after_name[..end_of_open];
        let body_start = &after_name[end_of_open + 1..];
        if head.ends_with('/') {
            found.push("");
            rest = body_start;
            continue;
        }
        let Some(end) = body_start.find(&close) else {
            break;
        };
        found.push(&body_start[..end]);
        rest = &body_start[end + close.len()..];
    }
    found
}

/// `text` with `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` and `&#N;` / `&#xH;`
/// replaced; CDATA sections are taken as they are.
pub fn unescape(text: &str) -> String {
    let text = text.trim();
    if let Some(inner) = text
        .strip_prefix("<![CDATA[")
        .and_then(|t| t.strip_suffix("]]>"))
    {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(semi) = after.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..semi];
        let replaced = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match replaced {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` escaped for an element body or an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_text_and_repeated_elements() {
        let doc = r#"<?xml version="1.0"?><ListBucketResult xmlns="http://s3"><Name>b</Name>
            <Contents><Key>a&amp;b</Key><Size>3</Size></Contents>
            <Contents><Key>c</Key></Contents><KeyCount>2</KeyCount><Empty/></ListBucketResult>"#;
        assert_eq!(text(doc, "Name").as_deref(), Some("b"));
        let contents = elements(doc, "Contents");
        assert_eq!(contents.len(), 2);
        assert_eq!(text(contents[0], "Key").as_deref(), Some("a&b"));
        // `<Key>` is not `<KeyCount>`.
        assert_eq!(text(doc, "KeyCount").as_deref(), Some("2"));
        assert_eq!(text(doc, "Empty").as_deref(), Some(""));
        assert_eq!(text(doc, "Missing"), None);
        // An element whose name starts with another's is not that element.
        assert_eq!(
            text("<KeyCount>2</KeyCount><Key>k</Key>", "Key").as_deref(),
            Some("k")
        );
    }

    #[test]
    fn malformed_input_gives_nothing_and_no_panic() {
        for doc in [
            "<",
            "<Code",
            "<Code>x",
            "&",
            "&#xZZ;",
            "<Code>&#99999999;</Code>",
            "<Code>é&",
        ] {
            let _ = text(doc, "Code");
            let _ = unescape(doc);
        }
        assert_eq!(unescape("a &#65;&#x42; &bogus; &"), "a AB &bogus; &");
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
