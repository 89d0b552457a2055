//! Parsing `.infra` text into the syntax tree, with pest over
//! `grammar/infra.pest`, and lowering pest pairs into [`ast`] nodes.
//!
//! The pipeline inside: `scan` (lexical pre-pass: comments, chunks, nesting,
//! unterminated constructs) → pest on each top-level chunk → `lower` (pairs to
//! nodes) → `comments` (attaching comments by position).
//!
//! Invariant: no pest type leaves this module; no names are resolved and
//! nothing is evaluated here; no input makes it panic.

pub mod ast;
mod comments;
mod grammar;
mod lower;
mod scan;
pub mod template;
#[cfg(test)]
mod tests;

use crate::diag::{Diagnostics, FileId, Span};
use grammar::{InfraParser, Rule};
use pest::Parser as _;

/// The deepest nesting of brackets, braces, parentheses and interpolations the
/// parser accepts; deeper input gets `infra::parse::nesting_too_deep`.
pub const MAX_NESTING: usize = 64;

/// Files at least this large are parsed on several threads (chunks are
/// independent); below it the threads would cost more than they save. At
/// 256 KiB a file of 10,000 resources (1 MB) parses on both cores: its
/// validate went from 123 to 96 ms on a quiet 2-core machine.
const PARALLEL_THRESHOLD: usize = 1 << 18;

/// Parses one file. Always returns a tree: blocks that failed to parse are left
/// out and reported in the diagnostics, so one broken block does not hide the
/// problems of the next.
pub fn parse(file: FileId, text: &str) -> (ast::File, Diagnostics) {
    let threads = if text.len() >= PARALLEL_THRESHOLD {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    } else {
        1
    };
    parse_on(file, text, threads)
}

/// [`parse`] on `threads` threads (one parses the whole file in turn).
fn parse_on(file: FileId, text: &str, threads: usize) -> (ast::File, Diagnostics) {
    let scan = scan::scan(file, text);
    let mut diagnostics = scan.diagnostics;
    let (mut items, leftover) = if threads > 1 {
        parse_parallel(
            file,
            text,
            &scan.chunks,
            scan.comments,
            threads,
            &mut diagnostics,
        )
    } else {
        let (items, chunk_diagnostics, leftover) =
            parse_chunks(file, text, &scan.chunks, scan.comments);
        diagnostics.extend(chunk_diagnostics);
        (items, leftover)
    };
    let mut pool = comments::CommentPool::new(leftover);
    let dangling = comments::attach(&mut pool, text, &mut items, 0, text.len());
    let body = ast::Body {
        items,
        dangling,
        span: Span::new(file, 0, text.len()),
    };
    (ast::File { id: file, body }, diagnostics)
}

/// Splits the chunks into `threads` runs of similar size and parses them at once.
fn parse_parallel(
    file: FileId,
    text: &str,
    chunks: &[scan::Chunk],
    comments: Vec<ast::Comment>,
    threads: usize,
    diagnostics: &mut Diagnostics,
) -> (Vec<ast::Item>, Vec<ast::Comment>) {
    let share = text.len() / threads + 1;
    let mut groups: Vec<(&[scan::Chunk], Vec<ast::Comment>)> = Vec::new();
    let mut comments = comments.into_iter().peekable();
    let mut rest = chunks;
    while !rest.is_empty() {
        let first_start = rest.first().map_or(0, |c| c.start);
        let count = rest
            .iter()
            .position(|c| c.end.saturating_sub(first_start) >= share)
            .map_or(rest.len(), |p| p + 1);
        let (group, tail) = rest.split_at(count.min(rest.len()));
        let group_end = group.last().map_or(first_start, |c| c.end);
        let mut own = Vec::new();
        while let Some(comment) = comments.next_if(|c| c.span.start() < group_end) {
            own.push(comment);
        }
        groups.push((group, own));
        rest = tail;
    }
    let mut leftover: Vec<ast::Comment> = comments.collect();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|(group, own)| scope.spawn(move || parse_chunks(file, text, group, own)))
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut items = Vec::with_capacity(chunks.len());
    let mut kept = Vec::new();
    for result in results {
        match result {
            Ok((group_items, group_diagnostics, group_leftover)) => {
                items.extend(group_items);
                diagnostics.extend(group_diagnostics);
                kept.extend(group_leftover);
            }
            Err(_) => diagnostics.push(crate::diag::Diagnostic::error_at_path(
                crate::diag::Code::Internal,
                None,
            )),
        }
    }
    kept.append(&mut leftover);
    kept.sort_by_key(|c| c.span.start);
    (items, kept)
}

/// Good chunks that touch are given to pest together, up to about this many
/// bytes: one parser state per batch instead of per block saves allocation.
/// Concatenating is safe because the scanner cuts only after a top-level `}`
/// before a name, where nothing can continue the previous item; a batch that
/// fails is parsed again chunk by chunk, so diagnostics are the same.
const BATCH_BYTES: usize = 32 * 1024;

/// Parses and lowers a run of chunks with the comments that fall in them;
/// returns the items, the diagnostics and the comments left for the file body.
fn parse_chunks(
    file: FileId,
    text: &str,
    chunks: &[scan::Chunk],
    comments: Vec<ast::Comment>,
) -> (Vec<ast::Item>, Diagnostics, Vec<ast::Comment>) {
    let mut diagnostics = Diagnostics::new();
    let mut pool = comments::CommentPool::new(comments);
    let mut items = Vec::with_capacity(chunks.len());
    let mut rest = chunks;
    while let Some(first) = rest.first() {
        // The longest run of good, adjacent chunks within the batch size.
        let mut count = 1;
        if !first.bad {
            while let (Some(previous), Some(next)) = (rest.get(count - 1), rest.get(count)) {
                if next.bad || next.start != previous.end || next.end - first.start > BATCH_BYTES {
                    break;
                }
                count += 1;
            }
        }
        let (batch, tail) = rest.split_at(count.min(rest.len()));
        rest = tail;
        if batch.len() > 1 {
            let start = first.start;
            let end = batch.last().map_or(start, |c| c.end);
            let parsed = text
                .get(start..end)
                .map(|source| InfraParser::parse(Rule::chunk, source));
            if let Some(Ok(pairs)) = parsed {
                let starts: Vec<usize> = batch.iter().map(|c| c.start).collect();
                let mut lowerer = lowerer(file, text, start, &mut pool, &mut diagnostics);
                items.extend(lowerer.chunk(pairs, &starts));
                continue;
            }
        }
        for chunk in batch {
            parse_chunk(file, text, chunk, &mut pool, &mut diagnostics, &mut items);
        }
    }
    (items, diagnostics, pool.into_remaining())
}

/// Parses and lowers one chunk on its own.
fn parse_chunk(
    file: FileId,
    text: &str,
    chunk: &scan::Chunk,
    pool: &mut comments::CommentPool,
    diagnostics: &mut Diagnostics,
    items: &mut Vec<ast::Item>,
) {
    let source = match text.get(chunk.start..chunk.end) {
        Some(source) if !chunk.bad => source,
        _ => {
            // Comments of a block that is left out go with it.
            pool.take(chunk.start, chunk.end);
            return;
        }
    };
    match InfraParser::parse(Rule::chunk, source) {
        Ok(pairs) => {
            let mut lowerer = lowerer(file, text, chunk.start, pool, diagnostics);
            items.extend(lowerer.chunk(pairs, &[chunk.start]));
        }
        Err(error) => {
            diagnostics.push(grammar::diagnostic(file, text, chunk.start, &error));
            pool.take(chunk.start, chunk.end);
        }
    }
}

/// A lowerer for the text that starts at `offset`.
fn lowerer<'a>(
    file: FileId,
    text: &'a str,
    offset: usize,
    pool: &'a mut comments::CommentPool,
    diagnostics: &'a mut Diagnostics,
) -> lower::Lowerer<'a> {
    lower::Lowerer {
        file,
        text,
        offset,
        comments: pool,
        diagnostics,
        too_deep_reported: false,
        depth: 0,
    }
}
