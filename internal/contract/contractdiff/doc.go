// Package contractdiff compares two versions of an ODCS data contract and
// classifies every change as breaking, non-breaking or informational. It is what
// `meshflow diff <old> <new>` prints, and what the govern stage uses to decide
// whether a new version of a product needs sign-off against the last published
// contract.
//
// # When a change breaks
//
// The rules follow those of datacontract-cli's changelog command, adapted to ODCS
// v3.1.0 and to how meshflow evaluates quality rules. A change is breaking when
// either of two things may happen:
//
//   - a consumer written against the old contract fails: a table or column it reads
//     is gone, renamed (a physicalName changed) or retyped;
//   - data that met the old contract fails the new one: a column becomes required,
//     unique or part of the primary key, a required column is added, a value stops
//     being allowed, a bound or quality threshold is tightened, a quality rule that
//     blocks publication (severity error) is added or a warning becomes an error.
//
// The opposite changes — an optional column added, a constraint dropped or
// loosened, a rule removed or turned into a warning — are non-breaking: old data
// still conforms and nothing a consumer reads disappears. Descriptions, business
// names, tags, examples, glossary links, SLAs, the contract's version and status are
// informational.
//
// Allowed values (the validValues of an invalidValues quality rule, or an enum-like
// list in logicalTypeOptions) follow the same logic: a removed value breaks, because
// rows that hold it met the old contract and fail the new one, and consumers that
// filter or join on it silently lose rows; an added value is non-breaking, though a
// consumer that handles every value should look at it, which the message says.
//
// When meshflow cannot tell whether a change tightens or loosens — a CEL or SQL
// implementation rewritten, a pattern or format changed, an operator replaced by
// one whose range is not comparable, an unknown option changed — the change is
// reported as breaking with a message that asks for review: a person signs it off
// rather than letting it through unseen.
//
// Classification is a promise to the people the data is about, so it is judged the
// other way round: a classification lowered (confidential to internal, say) or
// removed is breaking and needs sign-off, while one raised is non-breaking (readers
// may need new access, which the mesh's access policies decide). The known levels,
// from least to most restrictive, are public, internal, restricted, confidential
// (also sensitive and pii) and secret; a change between labels outside this scale
// is breaking with a request for review.
//
// # Matching
//
// Objects and properties are matched by name, so a rename shows as a removal and
// an addition. Quality rules are matched by id, or, when a rule has none, by the id
// the rules engine derives for it: <column>_<n> for the n-th rule of a column and
// <object>_<n> for the n-th rule of an object, counting from 1. Inserting a rule
// without an id before others shifts the derived ids of those that follow, so give
// rules ids in contracts that change.
//
// Compare returns the changes sorted by path, then kind, then message, so that the
// same two contracts always give the same result.
package contractdiff
