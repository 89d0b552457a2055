// The external scanner of the `.infra` tree-sitter grammar.
//
// It scans what the generated lexer cannot:
//
// - heredocs: `<<EOT` / `<<-EOT` pushes its marker; the body is scanned line by
//   line, stopping before `${` and `$${` (lexed by the grammar), and a line
//   holding only the marker (after optional indentation) closes the heredoc.
//   Markers are kept on a stack, so a heredoc inside an interpolation inside
//   a heredoc closes in the right order.
// - the text of quoted strings, so that `#` and `//` inside a string are text
//   rather than the start of a comment (extras are valid everywhere).
//
// Text stops before `${`, `$${`, `%{` and `%%{`, which the grammar lexes.
//
// The state that survives between tokens is the marker stack, serialized for
// incremental parsing.

#include "tree_sitter/alloc.h"
#include "tree_sitter/array.h"
#include "tree_sitter/parser.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum TokenType {
  HEREDOC_START,
  HEREDOC_OPENING_END,
  HEREDOC_CONTENT,
  HEREDOC_END,
  STRING_CONTENT,
  ERROR_SENTINEL,
};

typedef Array(char) Marker;

typedef struct {
  Array(Marker) markers;
} Scanner;

static inline void advance(TSLexer *lexer) { lexer->advance(lexer, false); }

static inline void skip(TSLexer *lexer) { lexer->advance(lexer, true); }

static inline bool is_identifier_start(int32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool is_identifier_char(int32_t c) {
  return is_identifier_start(c) || (c >= '0' && c <= '9');
}

static inline bool is_blank(int32_t c) { return c == ' ' || c == '\t'; }

void *tree_sitter_infra_external_scanner_create(void) {
  Scanner *scanner = ts_calloc(1, sizeof(Scanner));
  array_init(&scanner->markers);
  return scanner;
}

void tree_sitter_infra_external_scanner_destroy(void *payload) {
  Scanner *scanner = (Scanner *)payload;
  for (uint32_t i = 0; i < scanner->markers.size; i++) {
    array_delete(&scanner->markers.contents[i]);
  }
  array_delete(&scanner->markers);
  ts_free(scanner);
}

// Layout: the number of markers, then each marker as its length and its
// bytes. Markers that do not fit are dropped (a heredoc nested that
// deep is past anything people write).
unsigned tree_sitter_infra_external_scanner_serialize(void *payload, char *buffer) {
  Scanner *scanner = (Scanner *)payload;
  unsigned size = 0;
  unsigned count_at = size++;
  uint8_t count = 0;
  for (uint32_t i = 0; i < scanner->markers.size && count < UINT8_MAX; i++) {
    Marker *marker = &scanner->markers.contents[i];
    if (marker->size > UINT8_MAX ||
        size + 1 + marker->size > TREE_SITTER_SERIALIZATION_BUFFER_SIZE) {
      break;
    }
    buffer[size++] = (char)marker->size;
    memcpy(&buffer[size], marker->contents, marker->size);
    size += marker->size;
    count++;
  }
  buffer[count_at] = (char)count;
  return size;
}

void tree_sitter_infra_external_scanner_deserialize(void *payload, const char *buffer,
                                                    unsigned length) {
  Scanner *scanner = (Scanner *)payload;
  for (uint32_t i = 0; i < scanner->markers.size; i++) {
    array_delete(&scanner->markers.contents[i]);
  }
  array_clear(&scanner->markers);
  if (length < 1) {
    return;
  }
  unsigned size = 0;
  uint8_t count = (uint8_t)buffer[size++];
  for (uint8_t i = 0; i < count && size < length; i++) {
    uint8_t marker_size = (uint8_t)buffer[size++];
    if (size + marker_size > length) {
      break;
    }
    Marker marker = array_new();
    array_reserve(&marker, marker_size);
    if (marker_size > 0) {
      memcpy(marker.contents, &buffer[size], marker_size);
    }
    marker.size = marker_size;
    size += marker_size;
    array_push(&scanner->markers, marker);
  }
}

// `<<` or `<<-`, then the marker. Whitespace before it is skipped (the
// scanner runs before the lexer skips extras).
static bool scan_heredoc_start(Scanner *scanner, TSLexer *lexer) {
  while (lexer->lookahead == ' ' || lexer->lookahead == '\t' || lexer->lookahead == '\n' ||
         lexer->lookahead == '\r') {
    skip(lexer);
  }
  if (lexer->lookahead != '<') {
    return false;
  }
  advance(lexer);
  if (lexer->lookahead != '<') {
    return false;
  }
  advance(lexer);
  if (lexer->lookahead == '-') {
    advance(lexer);
  }
  if (!is_identifier_start(lexer->lookahead)) {
    return false;
  }
  Marker marker = array_new();
  while (is_identifier_char(lexer->lookahead)) {
    array_push(&marker, (char)lexer->lookahead);
    advance(lexer);
  }
  lexer->mark_end(lexer);
  array_push(&scanner->markers, marker);
  lexer->result_symbol = HEREDOC_START;
  return true;
}

// The blanks and the newline after a heredoc's opening marker: the body
// starts on the next line.
static bool scan_heredoc_opening_end(TSLexer *lexer) {
  while (is_blank(lexer->lookahead) || lexer->lookahead == '\r') {
    advance(lexer);
  }
  if (lexer->lookahead != '\n') {
    return false;
  }
  advance(lexer);
  lexer->result_symbol = HEREDOC_OPENING_END;
  return true;
}

// At a `$` or `%` (`sigil`) in the text of a string or heredoc, its position
// marked as the end of the text so far: true when the text ends here, before
// `${`/`%{` or the escape `$${`/`%%{`; false when the sigil is text (the lexer
// is then past it).
static bool ends_text(TSLexer *lexer, int32_t sigil) {
  advance(lexer);
  if (lexer->lookahead == '{') {
    return true;
  }
  if (lexer->lookahead == sigil) {
    advance(lexer);
    if (lexer->lookahead == '{') {
      return true;
    }
  }
  return false;
}

// Body text up to `${`, `$${`, `%{`, `%%{`, the end of the line (included) or the end of
// input; or the closing marker line.
static bool scan_heredoc_body(Scanner *scanner, TSLexer *lexer, const bool *valid_symbols) {
  bool at_line_start = lexer->get_column(lexer) == 0;
  bool has_content = false;
  if (at_line_start) {
    // Indentation belongs to no token, so that the closing token is the
    // marker alone.
    while (is_blank(lexer->lookahead)) {
      skip(lexer);
    }
    Marker *marker = array_back(&scanner->markers);
    uint32_t matched = 0;
    while (matched < marker->size && lexer->lookahead == marker->contents[matched]) {
      advance(lexer);
      matched++;
    }
    if (matched == marker->size) {
      lexer->mark_end(lexer);
      while (is_blank(lexer->lookahead) || lexer->lookahead == '\r') {
        advance(lexer);
      }
      if ((lexer->lookahead == '\n' || lexer->eof(lexer)) && valid_symbols[HEREDOC_END]) {
        Marker popped = array_pop(&scanner->markers);
        array_delete(&popped);
        lexer->result_symbol = HEREDOC_END;
        return true;
      }
    }
    if (matched > 0) {
      has_content = true;
    }
  }

  for (;;) {
    if (lexer->eof(lexer)) {
      lexer->mark_end(lexer);
      break;
    }
    if (lexer->lookahead == '\n') {
      advance(lexer);
      lexer->mark_end(lexer);
      has_content = true;
      break;
    }
    if (lexer->lookahead == '$' || lexer->lookahead == '%') {
      lexer->mark_end(lexer);
      if (ends_text(lexer, lexer->lookahead)) {
        break;
      }
      has_content = true;
      continue;
    }
    advance(lexer);
    has_content = true;
  }
  if (!has_content || !valid_symbols[HEREDOC_CONTENT]) {
    return false;
  }
  lexer->result_symbol = HEREDOC_CONTENT;
  return true;
}

// Quoted-string text up to `"`, a backslash, `${`, `$${`, `%{`, `%%{` or the
// end of the line (a quoted string cannot span lines).
static bool scan_string_content(TSLexer *lexer) {
  bool has_content = false;
  for (;;) {
    int32_t c = lexer->lookahead;
    if (c == '"' || c == '\\' || c == '\n' || lexer->eof(lexer)) {
      lexer->mark_end(lexer);
      break;
    }
    if (c == '$' || c == '%') {
      lexer->mark_end(lexer);
      if (ends_text(lexer, c)) {
        break;
      }
      has_content = true;
      continue;
    }
    advance(lexer);
    has_content = true;
  }
  if (!has_content) {
    return false;
  }
  lexer->result_symbol = STRING_CONTENT;
  return true;
}

bool tree_sitter_infra_external_scanner_scan(void *payload, TSLexer *lexer,
                                             const bool *valid_symbols) {
  Scanner *scanner = (Scanner *)payload;
  // During error recovery every symbol is valid; the generated lexer copes
  // better than guesses made here.
  if (valid_symbols[ERROR_SENTINEL]) {
    return false;
  }
  if (valid_symbols[HEREDOC_OPENING_END]) {
    return scan_heredoc_opening_end(lexer);
  }
  if ((valid_symbols[HEREDOC_CONTENT] || valid_symbols[HEREDOC_END]) &&
      scanner->markers.size > 0) {
    return scan_heredoc_body(scanner, lexer, valid_symbols);
  }
  if (valid_symbols[STRING_CONTENT]) {
    return scan_string_content(lexer);
  }
  if (valid_symbols[HEREDOC_START]) {
    return scan_heredoc_start(scanner, lexer);
  }
  return false;
}
