//! The little XML the S3 calls need: the text of simple elements and the
//! children of repeated ones in a response, and escaping for request bodies.
//! S3's answers are flat and machine-written (no CDATA, no comments inside
//! the elements read here), so a search for tags is enough.
//!
//! Invariant: never fails; a malformed body reads as elements not found.

/// The inner text of every `<name>` element, outermost first, in order
/// (not unescaped: use [`text`] on a leaf).
pub fn elements<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut found = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find(&open) {
        let after_name = &rest[start + open.len()..];
        // `<Tag>` or `<Tag attr="…">`, not `<TagSet>`; `<Tag/>` is empty.
        let Some(next) = after_name.chars().next() else {
            break;
        };
        if next != '>' && next != ' ' && next != '/' {
            rest = after_name;
            continue;
        }
        let Some(end_of_open) = after_name.find('>') else {
            break;
        };
        if after_name[..end_of_open].ends_with('/') {
            found.push("");
            rest = &after_name[end_of_open + 1..];
            continue;
        }
        let inner = &after_name[end_of_open + 1..];
        let Some(end) = inner.find(&close) else {
            break;
        };
        found.push(&inner[..end]);
        rest = &inner[end + close.len()..];
    }
    found
}

/// The unescaped text of the first `<name>` element, if there is one.
pub fn text(body: &str, name: &str) -> Option<String> {
    elements(body, name).first().map(|inner| unescape(inner))
}

/// `text` with the five predefined entities and numeric references resolved.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` escaped for an element's content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
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
    fn repeated_elements_are_read_in_order_and_a_longer_name_is_not_taken_for_one() {
        let body = "<Tagging><TagSet><Tag><Key>a&amp;b</Key><Value>1</Value></Tag>\
                    <Tag><Key>c</Key><Value/></Tag></TagSet></Tagging>";
        let tags: Vec<(Option<String>, Option<String>)> = elements(body, "Tag")
            .into_iter()
            .map(|tag| (text(tag, "Key"), text(tag, "Value")))
            .collect();
        assert_eq!(
            tags,
            [
                (Some("a&b".into()), Some("1".into())),
                (Some("c".into()), Some(String::new())),
            ]
        );
        assert_eq!(text("<A x=\"1\">&#65;&#x42;&bogus;</A>", "A").as_deref(), Some("AB&bogus;"));
        assert_eq!(text("<Tagging></Tagging>", "Tag"), None);
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
    }
}
