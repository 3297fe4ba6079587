/**
 * HTTP's character classes (RFC 9110 §5.1, §5.5), written once for both directions of the
 * HTTP/1.1 fast path: what it reads from clients and what it writes to them.
 */

/** The characters of a token (a method or a field name). */
const tokenChars = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
/** The characters a field value may hold: visible ASCII, space, tab and obs-text; never CR, LF or NUL. */
const fieldValueChars = '[\\t\\x20-\\x7e\\x80-\\xff]';

export const tokenPattern = new RegExp(`^${tokenChars}+$`);
export const fieldValuePattern = new RegExp(`^${fieldValueChars}*$`);
/**
 * A field line: a token name, then the rest as field-value characters. The whitespace around the
 * value is trimmed apart, since a pattern with two overlapping repeats backtracks quadratically
 * on a line it refuses.
 */
export const fieldLinePattern = new RegExp(`^(${tokenChars}+):(${fieldValueChars}*)$`);
